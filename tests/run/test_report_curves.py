"""Run plots and leaderboard helpers (report/curves.py)."""

from __future__ import annotations

import csv
import json

from hf_quicktune.report.curves import (
    incumbent_trace,
    leaderboard_markdown,
    plot_incumbent_over_time,
    plot_learning_curves,
    sort_leaderboard,
    write_leaderboard,
)


def test_incumbent_trace_is_running_max_of_ok_steps():
    steps = [{"score": 0.3, "elapsed_s": 1}, {"score": 0.2, "elapsed_s": 2}, {"score": None, "status": "diverged",
             "elapsed_s": 3}, {"score": 0.6, "elapsed_s": 4}]
    assert incumbent_trace(steps) == [(1.0, 0.3), (2.0, 0.3), (4.0, 0.6)]


def test_sort_leaderboard_by_best_epoch_accuracy_failed_last():
    """The best epoch's weights are what is kept and exported, so they rank the trials."""
    rows = [{"trial_id": 0, "last_val_top1": 0.5, "best_val_top1": 0.7},
            {"trial_id": 1, "last_val_top1": None, "best_val_top1": None, "status": "failed"},
            {"trial_id": 2, "last_val_top1": 0.6, "best_val_top1": 0.6},
            {"trial_id": 3, "last_val_top1": 0.65, "best_val_top1": 0.7}]
    out = sort_leaderboard(rows)
    assert [r["trial_id"] for r in out] == [3, 0, 2, 1] and [r["rank"] for r in out] == [1, 2, 3, 4]


def test_plots_and_tables_are_written(tmp_path):
    p1 = plot_learning_curves({0: [0.1, 0.4], 1: [0.2, 0.5, 0.7]}, tmp_path / "lc.png", incumbent=1,
                              labels={1: "lite0"})
    p2 = plot_incumbent_over_time([{"score": 0.2, "elapsed_s": 3.0}], tmp_path / "inc.png", budget_s=10)
    for p in (p1, p2):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = sort_leaderboard([{"trial_id": 3, "model": "m", "status": "ok", "epochs": 2, "last_val_top1": 0.5,
                              "best_val_top1": 0.6, "config": {"lr": 0.01, "opt": "sgd"}}])
    c, j = write_leaderboard(rows, tmp_path)
    assert json.loads(j.read_text())[0]["config"]["lr"] == 0.01
    table = list(csv.DictReader(c.open()))
    assert table[0]["model"] == "m" and table[0]["lr"] == "0.01" and table[0]["rank"] == "1"
    assert "| 1 | 3 | `m` | 2 | 50.00 | 60.00 |" in leaderboard_markdown(rows)


def test_trial_rows_rank_by_the_run_metric_and_name_it_on_every_row(tmp_path):
    """A trial best by balanced accuracy outranks one best by top-1 when the run selects on balanced accuracy;
    its best epoch is the balanced one; a trial that failed before any epoch is named with the run's metric too."""
    from hf_quicktune.run.finalize import pick_incumbent, trial_rows
    from hf_quicktune.run.state import RunState
    from hf_quicktune.run.trials import record_failure
    from hf_quicktune.train.records import EpochRecord, append_records

    state = RunState(tmp_path / "run")

    def epochs(tid, values):
        d = state.trial_dir(tid)
        d.mkdir(parents=True, exist_ok=True)
        append_records(d, [EpochRecord(epoch=e, val_top1=top1, val_top5=None, val_loss=1.0, train_loss=1.0,
                                       train_seconds=1.0, eval_seconds=0.1, images_per_second=None,
                                       peak_memory_mb=None, lr=0.1, val_balanced_accuracy=balanced,
                                       val_macro_f1=balanced, metric="balanced_accuracy")
                           for e, (top1, balanced) in enumerate(values, start=1)])

    epochs(0, [(0.90, 0.40), (0.92, 0.45)])  # the majority-class learner: high top-1
    epochs(1, [(0.80, 0.70), (0.85, 0.60)])  # best balanced accuracy at epoch 1
    record_failure(state, 2, 1, "boom")
    pool = [{"model": "a"}, {"model": "b"}, {"model": "c"}]
    rows, _ = trial_rows(state, pool, "balanced_accuracy")
    by_id = {r["trial_id"]: r for r in sort_leaderboard(rows)}
    inc = pick_incumbent(sort_leaderboard(rows))
    assert inc["trial_id"] == 1 and inc["best_epoch"] == 1 and inc["best_val_score"] == 0.70
    assert inc["best_val_top1"] == 0.80 and inc["last_val_score"] == 0.60  # top-1 of that epoch; the last epoch's
    assert by_id[0]["best_val_score"] == 0.45 and by_id[0]["best_epoch"] == 2
    assert {r["metric"] for r in rows} == {"balanced_accuracy"} and by_id[2]["best_val_score"] is None
    assert [r["trial_id"] for r in sort_leaderboard(rows)] == [1, 0, 2]


def test_a_trial_that_diverged_after_its_best_epoch_is_still_the_one_exported(tmp_path):
    """Trial 0 reached 0.90 at epoch 2, then diverged at epoch 3; trial 1 reached 0.60. Trial 0's epoch 2 is kept (its
    checkpoint is written before the diverged epoch, which writes none), as transformers' load_best_model_at_end
    keeps the best epoch: it is exported, with its failure said. The export was trial 1's 0.60."""
    from hf_quicktune.run.finalize import failure_after_best, pick_incumbent, trial_rows
    from hf_quicktune.run.state import RunState
    from hf_quicktune.train.records import EpochRecord, TrialStatus, append_records

    state = RunState(tmp_path / "run")

    def epochs(tid, values, ended=None):
        d = state.trial_dir(tid)
        d.mkdir(parents=True, exist_ok=True)
        records = [EpochRecord(epoch=e, val_top1=v, val_top5=None, val_loss=1.0, train_loss=1.0, train_seconds=1.0,
                               eval_seconds=0.1, images_per_second=None, peak_memory_mb=None, lr=0.1)
                   for e, v in enumerate(values, start=1)]
        if ended:
            records.append(EpochRecord(epoch=len(values) + 1, val_top1=None, val_top5=None, val_loss=None,
                                       train_loss=None, train_seconds=1.0, eval_seconds=0.0, images_per_second=None,
                                       peak_memory_mb=None, lr=None, status=ended, message="loss is nan"))
        append_records(d, records)

    epochs(0, [0.50, 0.90], ended=TrialStatus.DIVERGED)
    epochs(1, [0.40, 0.60])
    epochs(2, [], ended=TrialStatus.OOM)  # failed before any score: never the incumbent
    rows, _ = trial_rows(state, [{"model": "a"}, {"model": "b"}, {"model": "c"}])
    inc = pick_incumbent(sort_leaderboard(rows))
    assert inc["trial_id"] == 0 and inc["best_epoch"] == 2 and inc["status"] == "diverged"
    assert failure_after_best(inc) == "diverged (a non-finite loss) at epoch 3"
    assert failure_after_best(next(r for r in rows if r["trial_id"] == 1)) is None


def test_the_runs_last_line_says_when_the_exported_trial_failed_after_its_best_epoch(tmp_path, capsys):
    from hf_quicktune.commands.run import _finish

    summary = {"output_dir": str(tmp_path), "best_model": "m", "best_trial": 0, "val_top1": 0.9, "best_epoch": 2,
               "epoch_steps": 3, "trials": 1, "stop_reason": "budget used",
               "best_trial_failed": "diverged (a non-finite loss) at epoch 3"}
    _finish(summary, as_json=False)
    assert ("best: m (trial 0), val top-1 90.00% at epoch 2 (training then diverged (a non-finite loss) at epoch 3); "
            in capsys.readouterr().out)
    _finish({**summary, "best_trial_failed": None}, as_json=False)
    assert "training then" not in capsys.readouterr().out


def test_the_incumbent_is_the_trial_the_leaderboard_exports():
    """On random curves with many ties and failures, the search's incumbent (what the run finishes and names when it
    stops) is run.finalize.pick_incumbent's first row of report.curves.sort_leaderboard (what it exports)."""
    import random

    from hf_quicktune.run.finalize import pick_incumbent
    from hf_quicktune.search.base import DIVERGED, OK, TrialState
    from hf_quicktune.search.leader import incumbent

    rng = random.Random(0)
    for _ in range(300):
        trials = {}
        for tid in rng.sample(range(12), rng.randint(1, 8)):  # told in any order
            scores = [rng.choice([0.1, 0.2, 0.3]) for _ in range(rng.randint(0, 4))]
            trials[tid] = TrialState(scores=scores, costs=[1.0] * len(scores),
                                     status=DIVERGED if rng.random() < 0.2 else OK)
        rows = [{"trial_id": tid, "status": st.status, "metric": "top1",
                 "best_val_score": max(st.scores, default=None), "last_val_score": (st.scores or [None])[-1]}
                for tid, st in trials.items()]
        kept, picked = incumbent(trials), pick_incumbent(sort_leaderboard(rows))
        assert (kept and kept[0]) == (picked and picked["trial_id"])
