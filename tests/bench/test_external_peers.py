"""DEHB and Syne Tune (ASHA, BOHB) driven through the replay harness on the synthetic curve simulator."""

from __future__ import annotations

import numpy as np
import pytest
from search.simulator import CurveSimulator  # tests/ is on sys.path (pytest prepend import mode)

from hf_quicktune.bench.dehb_peer import DEHBPeer
from hf_quicktune.bench.methods import METHODS, PEERS
from hf_quicktune.bench.replay import replay
from hf_quicktune.bench.synetune_peer import SyneTunePeer
from hf_quicktune.bench.task import Task


def _replay(opt, sim, fraction=0.3):
    return replay(opt, sim.curves, sim.costs, time_budget=fraction * float(sim.costs.sum()), count_overhead=False)


def _check_trace_matches_the_table(opt, sim, tr):
    for tid, st in opt.trials.items():  # every observation is the table's value, epochs from 1 without gaps
        np.testing.assert_allclose(st.scores, sim.curves[tid, : st.epochs])
    assert tr.incumbent[-1] == pytest.approx(max(max(st.scores) for st in opt.trials.values() if st.scores))
    assert len(tr.time) == tr.steps and np.all(np.diff(tr.time) >= 0)


def test_dehb_runs_hyperband_brackets_on_the_pool():
    sim = CurveSimulator(n=60, max_epochs=9, seed=0)
    opt = DEHBPeer(sim.pool, 9, seed=0)
    tr = _replay(opt, sim, 0.5)
    _check_trace_matches_the_table(opt, sim, tr)
    assert sorted({round(f) for f in opt.dehb.fidelities}) == [1, 3, 9]  # eta = 3 over 1..9 epochs
    reached = sorted({st.epochs for st in opt.trials.values()})
    assert reached[0] == 1 and reached[-1] == 9 and set(reached) <= {1, 3, 9}  # runs stop at rung fidelities
    assert len(set(opt._member.values())) == len(opt._member)  # one pool member per DEHB configuration
    # DEHB was told minus the table's accuracy at each job's fidelity
    for cid, fitness, fidelity in ((h[0], h[2], h[4]) for h in opt.dehb.history):
        tid = opt._member[int(cid)]
        assert fitness == pytest.approx(-sim.curves[tid, round(fidelity) - 1])
    again = _replay(DEHBPeer(sim.pool, 9, seed=0), sim, 0.5)
    other = _replay(DEHBPeer(sim.pool, 9, seed=1), sim, 0.5)
    assert again.visits == tr.visits and other.visits != tr.visits


def test_dehb_tells_failed_runs_as_worst_fitness_and_exhausts_the_pool():
    sim = CurveSimulator(n=12, max_epochs=4, seed=2)
    sim.curves[:6, 1:] = np.nan  # half the runs end after one epoch in the table
    opt = DEHBPeer(sim.pool, 4, seed=0)
    tr = _replay(opt, sim, 10.0)
    assert tr.stop == "optimizer exhausted" and len(opt.trials) == 12
    failed = {opt._member[int(h[0])] for h in opt.dehb.history if h[2] == 0.0}
    assert failed and failed <= set(range(6))
    assert all(opt.trials[t].status == "failed" for t in failed)


@pytest.mark.parametrize("variant", ["asha", "bohb"])
def test_syne_tune_scheduler_stops_trials_at_rungs(variant):
    sim = CurveSimulator(n=80, max_epochs=9, seed=0)  # enough trials (> 15 % x 6 hyperparameters) for BOHB's KDE
    opt = SyneTunePeer(sim.pool, 9, seed=0, variant=variant)
    tr = _replay(opt, sim)
    _check_trace_matches_the_table(opt, sim, tr)
    epochs = [st.epochs for st in opt.trials.values()]
    running = opt._current[1] if opt._current else None  # the trial in flight when the budget ran out
    ended = [st.epochs for t, st in opt.trials.items() if t != running]
    assert opt.stopped_early == sum(e < 9 for e in ended) > 0 and 9 in ended
    assert {e for e in ended if e < 9} <= {1, 3}  # ASHA's rungs with grace period 1, reduction factor 3
    # the scheduler's searcher saw each trial's replayed curve
    seen = opt.scheduler.searcher.trial_results
    assert sorted(len(v) for v in seen.values()) == sorted(epochs)
    model = type(opt.scheduler.searcher.searcher).__name__
    assert model == ("RandomSearcher" if variant == "asha" else "KernelDensityEstimator")
    if variant == "bohb":
        assert opt.scheduler.searcher.searcher.good_kde is not None  # the KDE model was fitted and used
    again = _replay(SyneTunePeer(sim.pool, 9, seed=0, variant=variant), sim)
    other = _replay(SyneTunePeer(sim.pool, 9, seed=1, variant=variant), sim)
    assert again.visits == tr.visits and other.visits != tr.visits


def test_syne_tune_peer_keeps_the_global_numpy_generator_untouched():
    sim = CurveSimulator(n=30, max_epochs=3, seed=1)
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    _replay(SyneTunePeer(sim.pool, 3, seed=0, variant="asha"), sim, 0.5)
    assert np.random.rand() == expected


def test_peer_methods_are_registered():
    sim = CurveSimulator(n=10, max_epochs=3, seed=4)
    task = Task("d", sim.pool, 3, {})
    for name in ("dehb", "syne-tune-asha", "syne-tune-bohb"):
        assert name in PEERS
        s = METHODS[name](task, 0).ask()
        assert s is not None and s.config == sim.pool[s.trial_id]


def test_syne_tune_space_takes_mixed_type_choices():
    # canonical values mix ints and floats (0 and 1e-4) and bools with text: Syne Tune domains need one type
    pool = [{"reg": [0, 1e-4, 1e-3][i % 3], "aug": [True, "auto"][i % 2], "lr": 10.0 ** -(i / 4)} for i in range(16)]
    curves = np.linspace(0.1, 0.9, 16)[:, None] + np.zeros((1, 3))
    opt = SyneTunePeer(pool, 3, seed=0, variant="asha")
    assert opt.config_space["reg"].categories == [0.0, 1e-4, 1e-3]
    assert opt.config_space["aug"].categories == ["True", "auto"]
    tr = replay(opt, curves, np.ones_like(curves), time_budget=1e9, count_overhead=False)
    assert tr.stop == "optimizer exhausted" and len(opt.trials) == 16  # every member reached through the mapping
