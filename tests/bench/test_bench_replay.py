"""Replay harness, normalised regret, Optuna peers and the bench runner on synthetic meta-datasets."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hf_quicktune.bench.optuna_peer import OptunaPeer
from hf_quicktune.bench.regret import (
    is_degenerate,
    mean_ci,
    normalised_regret,
    paired_differences,
    paired_text,
    rank_table,
    reference_values,
    regret_on_grid,
    seed_means,
)
from hf_quicktune.bench.replay import Trace, replay
from hf_quicktune.bench.runner import BenchConfig, dataset_folds, run_bench
from hf_quicktune.meta.synthetic import make_synthetic
from hf_quicktune.search.base import Optimizer, Suggestion
from hf_quicktune.search.baselines import RandomSearch


class Scripted(Optimizer):
    """Asks a fixed list of (trial, epoch) and burns ``sleep`` seconds of overhead per ask."""

    def __init__(self, pool, max_epochs, script, sleep=0.0):
        super().__init__(pool, max_epochs)
        self.script, self.sleep = list(script), sleep

    def _ask(self):
        if not self.script:
            return None
        import time

        end = time.perf_counter() + self.sleep
        while time.perf_counter() < end:
            pass
        tid, ep = self.script.pop(0)
        return Suggestion(tid, self.pool[tid], ep)


def test_replay_charges_recorded_costs_and_tracks_incumbent():
    curves = np.array([[0.1, 0.5, 0.4], [0.3, 0.35, np.nan]])
    costs = np.array([[1.0, 2.0, 4.0], [10.0, 10.0, np.nan]])
    opt = Scripted([{"a": 0}, {"a": 1}], 3, [(0, 1), (1, 1), (0, 2), (0, 3), (1, 2), (1, 3)])
    tr = replay(opt, curves, costs, time_budget=1e9, count_overhead=False)
    assert tr.time == [1.0, 11.0, 13.0, 17.0, 27.0, 27.0]
    assert tr.epochs == [1, 2, 3, 4, 5, 5]
    assert tr.incumbent == [0.1, 0.3, 0.5, 0.5, 0.5, 0.5]
    assert tr.visits == [[0, 1], [1, 1], [0, 2], [0, 3], [1, 2], [1, 2]]
    assert opt.trials[1].status == "failed"  # the run ended after 2 epochs in the meta-dataset
    assert tr.stop == "optimizer exhausted"


def test_replay_adds_measured_overhead_and_stops_at_budget():
    curves = np.full((1, 5), 0.5)
    costs = np.full((1, 5), 1.0)
    opt = Scripted([{"a": 0}], 5, [(0, e) for e in range(1, 6)], sleep=0.02)
    tr = replay(opt, curves, costs, time_budget=2.5, clock="wall")
    assert tr.steps == 3 and tr.stop == "budget"  # 1.02, 2.04, 3.06 s
    assert tr.overhead >= 0.06 and tr.time[-1] == pytest.approx(3.0 + tr.overhead)


def test_replay_multi_epoch_suggestion_is_told_epoch_by_epoch():
    curves = np.array([[0.1, 0.2, 0.3]])
    costs = np.array([[1.0, 1.0, 1.0]])
    opt = Scripted([{"a": 0}], 3, [(0, 3)])
    tr = replay(opt, curves, costs, time_budget=100, count_overhead=False)
    assert opt.trials[0].scores == [0.1, 0.2, 0.3] and tr.epochs == [3] and tr.time == [3.0]


def test_normalised_regret_definition():
    curves = np.array([[0.2, 0.6, 0.8], [0.1, 0.9, 0.7], [0.3, 0.4, np.nan]])
    best, worst = reference_values(curves)
    assert (best, worst) == (0.9, 0.1)  # both over every epoch of every run (0.9 is a mid-curve peak)
    tr = Trace(time=[1.0, 3.0], epochs=[1, 2], incumbent=[0.5, 0.9])
    r = regret_on_grid(tr, np.array([0.0, 1.0, 2.0, 3.0, 10.0]), "time", best, worst)
    np.testing.assert_allclose(r, [1.0, 0.5, 0.5, 0.0, 0.0])


def test_regret_is_never_negative_when_runs_peak_mid_curve():
    # every run peaks before its last epoch; a search that saw the peak has regret 0, not below 0
    curves = np.array([[0.3, 0.95, 0.5], [0.2, 0.6, 0.4]])
    best, worst = reference_values(curves)
    tr = Trace(time=[1.0, 2.0], epochs=[1, 2], incumbent=[0.3, 0.95])
    r = regret_on_grid(tr, np.array([1.0, 2.0]), "time", best, worst)
    assert r.min() == 0.0 and (r >= 0).all()


def test_degenerate_dataset_has_no_regret():
    best, worst = reference_values(np.zeros((3, 4)))
    assert is_degenerate(best, worst) and is_degenerate(*reference_values(np.full((2, 2), np.nan)))
    assert np.isnan(normalised_regret(np.array([0.0, -np.inf]), best, worst)).all()


def test_mean_ci_and_rank_table():
    mean, lo, hi = mean_ci(np.array([[1.0], [3.0]]))
    assert mean[0] == 2.0 and lo[0] == pytest.approx(2 - 1.96) and hi[0] == pytest.approx(2 + 1.96)
    per_run = pd.DataFrame(
        {"method": ["a", "b", "a", "b"], "dataset": ["d1", "d1", "d2", "d2"], "seed": 0,
         "regret@1": [0.1, 0.2, 0.3, 0.3]}
    )
    ranks = rank_table(per_run, ["a", "b"], checkpoints=[1.0])
    assert ranks.loc["a", "rank@1"] == pytest.approx(1.25) and ranks.loc["b", "rank@1"] == pytest.approx(1.75)


def test_dataset_folds_partition():
    folds = dataset_folds([f"d{i}" for i in range(7)], 3)
    assert sorted(sum(folds, [])) == sorted(f"d{i}" for i in range(7)) and len(folds) == 3


@pytest.mark.parametrize("variant", ["tpe-hyperband", "random-median"])
def test_optuna_peer_prunes_and_maps_to_unused_pool_members(variant):
    md = make_synthetic(n_datasets=1, n_configs=30, max_epochs=9, seed=1)
    pool = md.configs
    opt = OptunaPeer(pool, max_epochs=9, seed=0, variant=variant)
    tr = replay(opt, md.curves, md.costs, time_budget=float(np.sum(md.costs)))
    finished = [t for t in opt.study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert any(t.state.name == "PRUNED" for t in finished)  # the pruner stops weak curves early
    ids = [t.user_attrs["pool_id"] for t in opt.study.trials]
    assert len(ids) == len(set(ids)) == len(opt.trials)  # one pool member per Optuna trial
    for t in finished:  # Optuna saw the replayed curve of its pool member
        tid = t.user_attrs["pool_id"]
        assert list(t.intermediate_values.values()) == pytest.approx(opt.trials[tid].scores)
    assert tr.incumbent[-1] == pytest.approx(max(max(s.scores) for s in opt.trials.values()))


def test_run_bench_outputs_and_resume(tmp_path):
    md = make_synthetic(n_datasets=3, n_configs=20, max_epochs=6, seed=0)
    cfg = BenchConfig(methods=["random", "asha", "hyperband", "optuna-random-median", "rank-then-tune"], seeds=2,
                      budget_runs=3, folds=3)
    res = run_bench(md, cfg, tmp_path / "out")
    out = tmp_path / "out"
    for name in ("regret_time.csv", "regret_epochs.csv", "checkpoints.csv", "ranks.csv", "per_run.csv",
                 "regret.png", "summary.md"):
        assert (out / name).stat().st_size > 0, name
    assert any("rank-then-tune skipped" in n for n in res.notes)
    cp = res.checkpoints.set_index("method")
    assert list(cp.index) == ["random", "asha", "hyperband", "optuna-random-median"]
    assert (cp["regret@1"] <= cp["regret@0.1"] + 1e-12).all()  # regret never increases with time
    per_run = pd.read_csv(out / "per_run.csv")
    assert len(per_run) == 4 * 3 * 2
    # a rerun reuses the saved traces instead of replaying again
    trace_file = out / "traces" / "random" / "synth_0__seed0.json"
    data = json.loads(trace_file.read_text())
    data["incumbent"] = [md.curves.max()] * len(data["incumbent"])  # a marker only a reload can produce
    trace_file.write_text(json.dumps(data))
    res2 = run_bench(md, cfg, out)
    assert res2.checkpoints.set_index("method").loc["random", "regret@0.1"] < cp.loc["random", "regret@0.1"]


def test_intervals_are_over_datasets_so_repeated_seeds_do_not_narrow_them(tmp_path):
    """A deterministic method replays one trace per dataset whatever the seed: its interval must be the one
    over datasets, as if it had run one seed, not sqrt(seeds) narrower."""
    assert seed_means(np.array([[0.2, np.nan], [0.4, np.nan]])) == pytest.approx([0.3, np.nan], nan_ok=True)
    md = make_synthetic(n_datasets=3, n_configs=20, max_epochs=6, seed=0)
    out = tmp_path / "out"
    one = run_bench(md, BenchConfig(methods=["random"], seeds=1, budget_runs=3, folds=3), out)
    for d in md.dataset_names:  # seed 1 = seed 0's trace, as a deterministic method would replay it
        src = out / "traces" / "random" / f"{d}__seed0.json"
        (src.parent / f"{d}__seed1.json").write_text(src.read_text())
    two = run_bench(md, BenchConfig(methods=["random"], seeds=2, budget_runs=3, folds=3), out)
    a, b = one.checkpoints.iloc[0], two.checkpoints.iloc[0]
    per_dataset = pd.read_csv(out / "per_run.csv").query("seed == 0")["regret@0.25"].to_numpy()
    assert per_dataset.std() > 0  # the datasets differ, so the interval is not trivially 0
    assert b["n@0.25"] == a["n@0.25"] == 3
    assert b["ci95@0.25"] == pytest.approx(a["ci95@0.25"])
    assert b["ci95@0.25"] == pytest.approx(1.96 * per_dataset.std(ddof=1) / np.sqrt(3))
    assert b["regret@0.25"] == pytest.approx(per_dataset.mean())
    curves = pd.read_csv(out / "regret_time.csv")
    assert (curves["n"] == 3).all()


def test_paired_differences_pair_by_dataset_and_count_wins():
    # b's regret is a's + 0.1 on every dataset: the spread between datasets is large, the paired one is 0
    per_run = pd.DataFrame({"method": ["a", "b"] * 6, "dataset": [d for d in ("x", "y", "z") for _ in (0, 1)] * 2,
                            "seed": [0] * 6 + [1] * 6,
                            "regret@1": [0.0, 0.1, 0.5, 0.6, 0.8, 0.9, 0.0, 0.1, 0.5, 0.6, 0.8, 0.9]})
    t = paired_differences(per_run, "a", ["a", "b"], checkpoints=[1.0]).iloc[0]
    assert t["method"] == "b" and t["diff"] == pytest.approx(-0.1) and t["ci95"] == pytest.approx(0.0, abs=1e-12)
    assert (t["won"], t["lost"], t["n"]) == (3, 0, 3)
    text = paired_text(per_run, ["a", "b"], checkpoints=[1.0])
    assert "-0.100 [-0.100, -0.100] 3/0" in text and paired_text(per_run, ["a"]) == ""


def test_random_search_replay_is_seeded():
    md = make_synthetic(n_datasets=1, n_configs=15, max_epochs=5, seed=2)
    runs = [replay(RandomSearch(md.configs, 5, seed=s), md.curves, md.costs, 40.0, count_overhead=False)
            for s in (0, 0, 1)]
    assert runs[0].incumbent == runs[1].incumbent and runs[0].time == runs[1].time
    assert runs[0].time != runs[2].time


def test_rank_then_tune_only_tunes_the_top_zero_cost_model():
    import torch

    from hf_quicktune.bench.gray_box import make_rank_then_tune
    from hf_quicktune.bench.runner import make_task

    torch.set_num_threads(1)
    md = make_synthetic(n_datasets=2, n_configs=12, max_epochs=3, seed=7, models=True, zero_cost=True)
    task, curves, costs = make_task(md, "synth_1")
    task.extra = {"full_refit_steps": 5, "refit_steps": 2, "cost_steps": 2}
    scores = md.zero_cost.xs("synth_1", level="dataset")["logme"]
    top = scores.idxmax()
    opt = make_rank_then_tune(task, seed=0)
    tr = replay(opt, curves, costs, time_budget=float(np.nansum(costs)), max_steps=5, count_overhead=False)
    assert tr.steps == 5
    assert {task.pool[t]["model"] for t in opt.trials} == {top}
    assert set(opt.trials) <= {i for i, c in enumerate(task.pool) if c["model"] == top}


def test_load_space_by_shipped_name_or_error():
    from hf_quicktune.bench.runner import load_space
    from hf_quicktune.errors import ConfigError

    space = load_space("lcbench")
    assert space.hps["learning_rate"].log and space.hps["batch_size"].log and not space.hps["momentum"].log
    with pytest.raises(ConfigError, match="lcbench"):
        load_space("no-such-space")


def test_init5_variants_start_new_trials_at_five_epochs():
    from hf_quicktune.bench.methods import GRAY_BOX, META_LEARNED, METHODS, Task
    from hf_quicktune.search import FeatureEncoder, Prior
    from hf_quicktune.search.space import Space

    pool = [{"lr": 10.0 ** -k, "wd": 0.1 * k} for k in range(1, 7)]
    prior = Prior.create(FeatureEncoder.fit(Space.from_pool(pool), 8), seed=0)
    task = Task("d", pool, 8, None, prior, extra={"full_refit_steps": 2})
    for name, meta in (("quicktune-init5", True), ("dyhpo-init5", False)):
        assert name in GRAY_BOX and (name in META_LEARNED) == meta
        opt = METHODS[name](task, 0)
        assert opt.has_prior == meta
        assert opt.ask().epoch == 5


def test_run_bench_skips_a_dataset_whose_best_equals_its_worst(tmp_path):
    md = make_synthetic(n_datasets=3, n_configs=10, max_epochs=4, seed=3)
    rows = md.indices("synth_1")
    md.curves[rows] = np.where(np.isnan(md.curves[rows]), np.nan, 0.0)  # every run of synth_1 at 0 %
    cfg = BenchConfig(methods=["random", "hyperband"], seeds=2, budget_runs=2, folds=3)
    res = run_bench(md, cfg, tmp_path / "out")
    assert any(n.startswith("synth_1 skipped") for n in res.notes)
    per_run = pd.read_csv(tmp_path / "out" / "per_run.csv")
    assert set(per_run.dataset) == {"synth_0", "synth_2"}
    assert not (tmp_path / "out" / "traces" / "random" / "synth_1__seed0.json").exists()
    regrets = per_run[[c for c in per_run if c.startswith("regret@")]].to_numpy()
    assert ((regrets >= 0) & (regrets <= 1)).all()


def test_summary_counts_replays_that_exhausted_the_pool(tmp_path):
    md = make_synthetic(n_datasets=2, n_configs=4, max_epochs=3, seed=1)
    cfg = BenchConfig(methods=["random"], seeds=2, budget_runs=100, folds=2)  # 4 runs cannot fill 100 runs' time
    res = run_bench(md, cfg, tmp_path / "out")
    per_run = pd.read_csv(tmp_path / "out" / "per_run.csv")
    assert (per_run.stop == "optimizer exhausted").all()
    assert res.checkpoints.set_index("method").loc["random", "exhausted"] == 4
    assert any(n.startswith("4 of 4 replays ended with the optimizer exhausted") for n in res.notes)
    assert "| 4/4 |" in (tmp_path / "out" / "summary.md").read_text()


def test_fixed_time_budget_per_dataset(tmp_path):
    md = make_synthetic(n_datasets=2, n_configs=12, max_epochs=5, seed=2)
    budget = 3.5 * float(np.nanmax(md.costs))  # a few epochs of any run, far below the pool's total
    cfg = BenchConfig(methods=["random"], seeds=1, budget_seconds=budget, folds=2)
    run_bench(md, cfg, tmp_path / "out")
    per_run = pd.read_csv(tmp_path / "out" / "per_run.csv")
    assert np.allclose(per_run.budget_s, budget)
    for d in md.dataset_names:  # the replay stopped at the first step that reached the budget
        tr = json.loads((tmp_path / "out" / "traces" / "random" / f"{d}__seed0.json").read_text())
        assert tr["stop"] == "budget" and len(tr["time"]) >= 3 and tr["time"][-1] >= budget > tr["time"][-2]
    assert f"{budget / 3600:g} h of recorded time per dataset" in (tmp_path / "out" / "summary.md").read_text()


def test_recipe_starts_zero_shot_with_the_priors_initial_epochs():
    from hf_quicktune.bench.methods import GRAY_BOX, META_LEARNED, METHODS, Task
    from hf_quicktune.search import FeatureEncoder, Prior
    from hf_quicktune.search.space import Space

    pool = [{"lr": 10.0 ** -k, "wd": 0.1 * k} for k in range(1, 7)]
    prior = Prior.create(FeatureEncoder.fit(Space.from_pool(pool), 8), seed=0)
    prior.provenance["initial_epochs"] = 3
    task = Task("d", pool, 8, None, prior, extra={"full_refit_steps": 2})
    assert "quicktune-recipe" in GRAY_BOX and "quicktune-recipe" in META_LEARNED
    opts = [METHODS["quicktune-recipe"](task, seed) for seed in (0, 1)]
    firsts = [o.ask() for o in opts]
    assert {s.epoch for s in firsts} == {3}
    best = int(np.argmax(opts[0].zero_shot(range(len(pool)))))
    assert {s.trial_id for s in firsts} == {best}  # the prior's choice, not a seeded draw


def test_gray_box_methods_see_the_meta_datasets_model_features():
    import torch

    from hf_quicktune.bench.methods import METHODS
    from hf_quicktune.bench.runner import make_task

    torch.set_num_threads(1)
    md = make_synthetic(n_datasets=2, n_configs=9, max_epochs=3, seed=3, models=True)
    md.model_features = pd.DataFrame({"params": [1e6, 5e6, 2e7], "px": [224.0, 224.0, 384.0]},
                                     index=["tiny_a", "tiny_b", "tiny_c"])
    task, _, _ = make_task(md, "synth_0")
    in_pool = {c["model"] for c in task.pool}
    assert set(task.model_features) == in_pool and task.model_features["tiny_c"] == {"params": 2e7, "px": 384.0}
    task.extra = {"full_refit_steps": 2}
    opt = METHODS["dyhpo"](task, 0)  # the run's optimizer describes models by these features, with or without prior
    assert opt.model_features == task.model_features
    md.model_features = None
    assert make_task(md, "synth_0")[0].model_features is None


def test_a_saved_trace_records_the_machine_it_was_replayed_on_and_old_traces_still_load(tmp_path):
    """Gray-box replays are reproducible on one machine, not across CPUs and library builds: each saved trace
    says where it ran."""
    import platform

    import torch

    from hf_quicktune.bench.replay import MACHINE_PACKAGES, machine_info

    md = make_synthetic(n_datasets=3, n_configs=20, max_epochs=6, seed=0)
    out = tmp_path / "out"
    run_bench(md, BenchConfig(methods=["random"], seeds=1, budget_runs=3, folds=3), out)
    saved = json.loads((out / "traces" / "random" / "synth_0__seed0.json").read_text())
    assert saved["machine"] == machine_info()
    assert saved["machine"]["arch"] == platform.machine() and saved["machine"]["cpu"]
    assert saved["machine"]["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert set(saved["machine"]) <= {"cpu", "arch", *MACHINE_PACKAGES}
    assert Trace.from_dict(saved).machine == saved["machine"]
    old = {k: v for k, v in saved.items() if k != "machine"}  # a trace saved before the record existed
    assert Trace.from_dict(old).machine == {} and Trace.from_dict(old).time == saved["time"]
