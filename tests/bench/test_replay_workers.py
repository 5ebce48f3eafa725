"""The bench replay with N simulated asynchronous workers (replay.replay_workers, bench --workers)."""

from __future__ import annotations

import numpy as np
import pytest
from search.simulator import CurveSimulator  # tests/ is on sys.path (pytest prepend import mode)

from hf_quicktune.bench.replay import EXHAUSTED, replay
from hf_quicktune.search.baselines import ASHA, RandomSearch


def test_two_workers_process_epochs_in_finish_order_on_the_simulated_clock():
    pool = [{"x": i} for i in range(3)]
    a, b, c = RandomSearch(pool, 2, seed=0).order  # the order RandomSearch starts them in
    curves = np.full((3, 2), 0.5)
    curves[:, 1] = [0.6, 0.7, 0.8]
    costs = np.ones((3, 2))
    costs[a] = [5.0, 5.0]  # the first job is slow: the second worker finishes two trials meanwhile
    opt = RandomSearch(pool, 2, seed=0)
    tr = replay(opt, curves, costs, time_budget=100.0, count_overhead=False, workers=2)
    assert tr.visits == [[b, 1], [b, 2], [c, 1], [c, 2], [a, 1], [a, 2]]
    assert tr.time == [1.0, 2.0, 3.0, 4.0, 5.0, 10.0]
    assert tr.epochs == [1, 2, 3, 4, 5, 6] and tr.incumbent[-1] == pytest.approx(curves[:, 1].max())
    assert tr.stop == EXHAUSTED and tr.steps == 6 and tr.trials == 3  # one suggestion per epoch


def test_the_budget_ends_the_replay_and_epochs_running_past_it_are_lost():
    pool = [{"x": i} for i in range(2)]
    curves, costs = np.full((2, 3), 0.5), np.full((2, 3), 4.0)
    tr = replay(RandomSearch(pool, 3, seed=0), curves, costs, time_budget=10.0, count_overhead=False, workers=2)
    assert tr.time == [4.0, 4.0, 8.0, 8.0] and tr.stop == "budget"


def test_one_worker_matches_the_sequential_replay():
    sim = CurveSimulator(n=20, max_epochs=6, seed=1)
    budget = 0.3 * float(sim.costs.sum())
    seq = replay(ASHA(sim.pool, 6, seed=2), sim.curves, sim.costs, budget, count_overhead=False)
    one = replay(ASHA(sim.pool, 6, seed=2), sim.curves, sim.costs, budget, count_overhead=False, workers=1)
    from hf_quicktune.bench.replay import replay_workers

    ev = replay_workers(ASHA(sim.pool, 6, seed=2), sim.curves, sim.costs, budget, 1, count_overhead=False)
    drop = lambda t: {k: v for k, v in t.to_dict().items() if k != "overhead"}  # noqa: E731 (measured seconds)
    assert drop(seq) == drop(one)
    n = len(ev.visits)  # the sequential replay keeps the step that ends past the budget, the event replay not
    assert n >= len(seq.visits) - 1 and seq.time[n - 1] <= budget
    assert ev.visits == seq.visits[:n] and ev.time == pytest.approx(seq.time[:n]) and ev.incumbent == seq.incumbent[:n]


@pytest.mark.parametrize("workers", [4])
def test_n_workers_train_about_n_times_the_epochs_without_repeating_one(workers):
    sim = CurveSimulator(n=40, max_epochs=4, seed=0)
    budget = 0.2 * float(sim.costs.sum())
    one = replay(ASHA(sim.pool, 4, seed=0), sim.curves, sim.costs, budget, count_overhead=False)
    opt = ASHA(sim.pool, 4, seed=0)
    many = replay(opt, sim.curves, sim.costs, budget, count_overhead=False, workers=workers)
    assert many.epochs[-1] >= 3 * one.epochs[-1]
    assert len(many.visits) == len({tuple(v) for v in many.visits})  # no (trial, epoch) twice
    assert np.all(np.diff(many.time) >= 0) and many.time[-1] <= budget
    assert len(opt.in_flight) <= workers
    for tid, st in opt.trials.items():  # every told score is the table's
        np.testing.assert_allclose(st.scores, sim.curves[tid, : st.epochs])


def test_bench_cli_workers_keeps_its_traces_apart(tmp_path, capsys):
    from hf_quicktune.cli import main
    from hf_quicktune.meta.synthetic import make_synthetic

    md_path = make_synthetic(n_datasets=2, n_configs=12, max_epochs=5, seed=4).save(tmp_path / "md.parquet")
    out = tmp_path / "out"
    args = ["bench", "--meta-dataset", str(md_path), "--methods", "random", "--seeds", "1", "--budget-runs", "3",
            "--folds", "2", "--out", str(out)]
    assert main([*args, "--workers", "3"]) == 0
    assert "3 simulated asynchronous workers" in capsys.readouterr().out
    assert main(args) == 0
    three = sorted((out / "traces" / "random@w3").glob("*.json"))
    one = sorted((out / "traces" / "random").glob("*.json"))
    assert len(three) == len(one) == 2
    import json

    e3 = [json.loads(p.read_text())["epochs"][-1] for p in three]
    e1 = [json.loads(p.read_text())["epochs"][-1] for p in one]
    assert all(a >= 1.8 * b for a, b in zip(e3, e1))  # three workers train more epochs in the same budget


@pytest.mark.parametrize("workers", [1, 2])
def test_a_cost_aware_optimizer_stops_when_no_step_fits_in_the_budget_left(workers):
    """The replay passes the budget left as ``ask(max_cost=)``: a cost-aware optimizer stops before the
    budget with ``NOTHING_FITS`` instead of starting a step that would end past it; an optimizer without a
    cost model ignores the cap and its last steps run past the budget."""
    from hf_quicktune.bench.replay import NOTHING_FITS
    from hf_quicktune.search import DyHPOOptimizer

    pool = [{"x": 0.1 * i} for i in range(4)]
    curves = np.tile(np.linspace(0.3, 0.6, 4), (4, 1))
    costs = np.full((4, 4), 10.0)
    budget = 55.0
    opt = DyHPOOptimizer(pool, max_epochs=4, seed=0, full_refit_steps=30, refit_steps=5)
    tr = replay(opt, curves, costs, budget, count_overhead=False, workers=workers)
    assert tr.stop == NOTHING_FITS
    assert tr.time[-1] == 50.0 and len(tr.time) == 5 * workers  # 5 epochs of 10 s on each worker, none past 55
    blind = replay(RandomSearch(pool, 4, seed=0), curves, costs, budget, count_overhead=False, workers=workers)
    assert blind.stop == "budget"
    if workers == 1:
        assert blind.time[-1] == 60.0  # its sixth epoch started at 50 s and ended past the budget
