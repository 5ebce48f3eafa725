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
