"""The ask/tell contract every optimizer must satisfy (DEVELOPING.md, search/base.py).

Subclass :class:`OptimizerContract` in a ``test_*.py`` module and implement ``make_optimizer``::

    from .contract import OptimizerContract

    class TestRandomSearchContract(OptimizerContract):
        def make_optimizer(self, pool, max_epochs, seed):
            return RandomSearch(pool, max_epochs=max_epochs, seed=seed)

Every test drives the optimizer on :class:`~.simulator.CurveSimulator` (a few dozen steps).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from hf_quicktune.search.base import Optimizer, Suggestion
from hf_quicktune.search.serialization import load_state, save_state

from .simulator import CurveSimulator


class OptimizerContract:
    """Base class (not collected itself: no ``Test`` prefix)."""

    n_pool = 12
    max_epochs = 4
    steps = 16  # ask/tell rounds in the longer tests
    covers_pool = True  # set False for methods that stop trials for good (successive halving, Hyperband)

    def make_optimizer(self, pool: list[dict[str, Any]], max_epochs: int, seed: int) -> Optimizer:
        raise NotImplementedError

    # helpers ----------------------------------------------------------------------------
    def sim(self, n: int | None = None, max_epochs: int | None = None, fail: tuple[int, ...] = ()) -> CurveSimulator:
        return CurveSimulator(n=n or self.n_pool, max_epochs=max_epochs or self.max_epochs, seed=3, fail=fail)

    def opt_for(self, sim: CurveSimulator, seed: int = 0) -> Optimizer:
        return self.make_optimizer(sim.pool, sim.max_epochs, seed)

    # tests ------------------------------------------------------------------------------
    def test_first_suggestion_is_a_pool_member_at_epoch_1(self):
        sim = self.sim()
        s = self.opt_for(sim).ask()
        assert isinstance(s, Suggestion)
        assert 0 <= s.trial_id < len(sim.pool)
        assert s.config == sim.pool[s.trial_id]
        assert s.epoch == 1

    def test_suggestions_continue_each_trial_one_epoch_at_a_time(self):
        sim = self.sim()
        opt = self.opt_for(sim)
        epochs: dict[int, int] = {}
        for _ in range(self.steps):
            s = opt.ask()
            assert s is not None
            assert s.epoch == epochs.get(s.trial_id, 0) + 1, "epoch must be the trial's last epoch + 1"
            assert 1 <= s.epoch <= sim.max_epochs
            score, cost, status = sim.observe(s.trial_id, s.epoch)
            opt.tell(s.trial_id, s.epoch, score, cost, status)
            epochs[s.trial_id] = s.epoch

    def test_exhausts_a_small_pool_then_returns_none(self):
        sim = self.sim(n=3, max_epochs=2)
        opt = self.opt_for(sim)
        seen = sim.run(opt, 3 * 2 + 1)
        assert len(seen) == len(set(seen)), "a (trial, epoch) was suggested twice"
        assert opt.ask() is None
        if self.covers_pool:
            assert sorted(seen) == [(t, e) for t in range(3) for e in (1, 2)]

    def test_failed_and_diverged_trials_are_never_suggested_again(self):
        sim = self.sim()
        opt = self.opt_for(sim)
        dead: set[int] = set()
        statuses = ["failed", "diverged", "oom"]
        for step in range(self.steps):
            s = opt.ask()
            if s is None:
                break
            assert s.trial_id not in dead
            if step in (0, 3, 6):  # kill the trial suggested at these steps
                opt.tell(s.trial_id, s.epoch, None, 1.0, statuses[step // 3])
                dead.add(s.trial_id)
            else:
                opt.tell(s.trial_id, s.epoch, *sim.observe(s.trial_id, s.epoch))
        assert len(dead) == 3
        assert all(opt.trials[t].status != "ok" for t in dead)

    def test_best_is_the_best_observation(self):
        sim = self.sim()
        opt = self.opt_for(sim)
        seen = sim.run(opt, self.steps)
        top = max(seen, key=lambda te: sim.curves[te[0], te[1] - 1])
        tid, epoch, score = opt.best()
        assert score == pytest.approx(sim.curves[top[0], top[1] - 1])
        assert sim.curves[tid, epoch - 1] == pytest.approx(score)

    def test_same_seed_same_suggestions(self):
        sim = self.sim()
        a = sim.run(self.opt_for(sim, seed=5), self.steps // 2)
        b = sim.run(self.opt_for(sim, seed=5), self.steps // 2)
        assert a == b

    def test_rejects_an_out_of_order_epoch(self):
        sim = self.sim()
        opt = self.opt_for(sim)
        s = opt.ask()
        with pytest.raises(ValueError):
            opt.tell(s.trial_id, s.epoch + 1, 0.5, 1.0)

    def test_state_is_json_and_resume_gives_identical_suggestions(self, tmp_path):
        sim = self.sim()
        opt = self.opt_for(sim, seed=1)
        sim.run(opt, self.steps // 2)
        state = opt.state_dict()
        body = {k: v for k, v in state.items() if k != "tensors"}
        json.dumps(body)  # the non-tensor part must be plain JSON
        save_state(state, tmp_path / "state")
        resumed = self.opt_for(sim, seed=1)
        resumed.load_state_dict(load_state(tmp_path / "state"))
        assert resumed.best() == opt.best()
        assert sim.run(resumed, 4) == sim.run(opt, 4)

    def test_makes_progress_beyond_the_first_epoch(self):
        sim = self.sim()
        opt = self.opt_for(sim)
        sim.run(opt, self.steps)
        assert any(st.epochs >= 2 for st in opt.trials.values())
        assert math.isfinite(opt.best()[2])
