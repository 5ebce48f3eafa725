"""``initial_epochs``: new trials are trained several epochs before the acquisition sees them again."""

from __future__ import annotations

import numpy as np
import pytest

from hf_quicktune.errors import MetaError
from hf_quicktune.search import DyHPOOptimizer
from hf_quicktune.search.serialization import load_state, save_state

from .simulator import CurveSimulator

FAST = dict(full_refit_steps=4, refit_steps=2, cost_steps=2, full_refit_until=3)


def drive(opt, sim: CurveSimulator, steps: int) -> list[tuple[int, int, int]]:
    """(trial, epochs before, epoch asked) per suggestion; every epoch in between is told."""
    seen = []
    for _ in range(steps):
        s = opt.ask()
        if s is None:
            break
        before = opt.trials[s.trial_id].epochs if s.trial_id in opt.trials else 0
        seen.append((s.trial_id, before, s.epoch))
        for e in range(before + 1, s.epoch + 1):
            opt.tell(s.trial_id, e, *sim.observe(s.trial_id, e))
    return seen


def test_new_trials_are_asked_to_initial_epochs_and_paused_ones_one_further():
    sim = CurveSimulator(n=10, max_epochs=6)
    opt = DyHPOOptimizer(sim.pool, max_epochs=6, initial_epochs=3, **FAST)
    seen = drive(opt, sim, 12)
    assert any(before > 0 for _, before, _ in seen), "no trial was continued: the test says nothing"
    for _, before, epoch in seen:
        assert epoch == (3 if before == 0 else before + 1)


def test_first_epochs_are_learnt_from_the_configuration_alone():
    sim = CurveSimulator(n=10, max_epochs=6)
    opt = DyHPOOptimizer(sim.pool, max_epochs=6, initial_epochs=3, **FAST)
    drive(opt, sim, 12)
    for (tid, epoch), inp in zip(opt._obs, opt._obs_inputs):
        observed = float(inp.curve.abs().sum())
        if epoch <= 3:
            assert observed == 0.0, f"trial {tid} epoch {epoch} was conditioned on its own first epochs"
        else:
            assert observed > 0.0


def test_cost_of_a_new_trial_covers_all_its_initial_epochs():
    sim = CurveSimulator(n=10, max_epochs=6)
    opt = DyHPOOptimizer(sim.pool, max_epochs=6, initial_epochs=3, **FAST)
    drive(opt, sim, 2)
    new = [i for i in range(len(sim.pool)) if i not in opt.trials]
    cost = opt.predict(new)[2]  # first: the cost model is updated with the last epochs when a decision needs it
    per_epoch = opt.cost_model.predict(opt.encoder.encode(
        [sim.pool[i] for i in new], [3] * len(new), [[] for _ in new], encoded_configs=opt._encoded[new]))
    assert np.allclose(cost, 3 * per_epoch, rtol=1e-5)


def test_resume_keeps_initial_epochs_and_refuses_a_different_one(tmp_path):
    sim = CurveSimulator(n=10, max_epochs=6)
    opt = DyHPOOptimizer(sim.pool, max_epochs=6, initial_epochs=2, **FAST)
    drive(opt, sim, 6)
    save_state(opt.state_dict(), tmp_path / "s")
    same = DyHPOOptimizer(sim.pool, max_epochs=6, initial_epochs=2, **FAST)
    same.load_state_dict(load_state(tmp_path / "s"))
    assert same.ask() == opt.ask()
    other = DyHPOOptimizer(sim.pool, max_epochs=6, **FAST)
    with pytest.raises(MetaError, match="initial_epochs=2"):
        other.load_state_dict(load_state(tmp_path / "s"))


@pytest.mark.parametrize("bad", [0, 7])
def test_initial_epochs_out_of_range_is_rejected(bad):
    with pytest.raises(ValueError, match="initial_epochs"):
        DyHPOOptimizer(CurveSimulator(n=5, max_epochs=6).pool, max_epochs=6, initial_epochs=bad)
