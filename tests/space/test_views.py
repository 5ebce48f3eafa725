"""What the page shows, from a run's records: accuracy against the yardsticks, the card, live tables."""

from __future__ import annotations

import sys

import pytest

from .conftest import SPACE_DIR

sys.path.insert(0, str(SPACE_DIR))
from qt_space import views  # noqa: E402


def test_accuracy_uses_the_runs_chance_and_majority_baseline():
    summary = {"val_top1": 0.5, "test_top1": 0.45, "chance_top1": 0.1,
               "baseline": {"kind": "majority_class", "class": "3", "val_top1": 0.12}}
    frame, text = views.accuracy_frame(summary, num_classes=10)
    assert dict(zip(frame["what"], frame[views.SCORE_COLUMN])) == pytest.approx(
        {"winner (validation)": 50.0, "winner (test)": 45.0, "majority-class baseline": 12.0, "chance": 10.0})
    assert "chance is 10.00 %" in text and "('3') gets 12.00 %" in text and "beats both" in text


def test_accuracy_without_the_runs_fields_computes_chance_and_warns_when_not_beaten():
    frame, text = views.accuracy_frame({"val_top1": 0.2, "test_top1": None}, num_classes=4)
    assert list(frame["what"]) == ["winner (validation)", "chance"]
    assert "chance is 25.00 %" in text and "does not beat" in text and "larger budget" in text


def test_accuracy_follows_the_metric_the_run_selected_on():
    """A run on macro F1 (skewed classes): its winner beats the majority class on top-1 (which the majority class
    nearly reaches) but not on macro F1, the metric its quality check judged; the bars and the sentence were
    top-1's and said it beat both."""
    summary = {"metric": "macro_f1", "val_top1": 0.91, "test_top1": None, "val_score": 0.30, "test_score": None,
               "chance_top1": 0.5, "chance": 0.33,
               "baseline": {"class": "normal", "val_top1": 0.90, "val_macro_f1": 0.32}}
    frame, text = views.accuracy_frame(summary, num_classes=2)
    assert dict(zip(frame["what"], frame[views.SCORE_COLUMN])) == pytest.approx(
        {"winner (validation)": 30.0, "majority-class baseline": 32.0, "chance": 33.0})
    assert text.startswith("Validation macro F1 **30.00 %** — chance is 33.00 %") and "does not beat" in text


def test_card_markdown_drops_front_matter_and_relative_images_only():
    card = "---\nlicense: mit\n---\n# name\n![curves](plots/learning_curves.png)\n![x](https://a.b/c.png)\ntext\n"
    body = views.card_markdown(card)
    assert body.startswith("# name") and "plots/learning_curves.png" not in body
    assert "https://a.b/c.png" in body and "license" not in body


def test_live_leaderboard_orders_trials_as_the_runs_leaderboard_and_marks_failures():
    """Best score at any epoch first (the kept weights), as the run's leaderboard.json and the status line's
    incumbent: trial 3 is ahead by its latest epoch, trial 0 by its best (the table ranked by the latest)."""
    pool = [{"lr": 0.1, "batch_size": 8, "opt": "sgd"}, {"lr": 0.01, "batch_size": 16, "opt": "adam"},
            {"lr": 1.0, "batch_size": 8, "opt": "sgd"}, {"lr": 0.5, "batch_size": 8, "opt": "sgd"}]
    steps = [
        {"step": 1, "trial_id": 0, "model": "a", "epoch": 1, "score": 0.7, "status": "ok"},
        {"step": 2, "trial_id": 1, "model": "b", "epoch": 1, "score": 0.2, "status": "ok"},
        {"step": 3, "trial_id": 1, "model": "b", "epoch": 2, "score": 0.6, "status": "ok"},
        {"step": 4, "trial_id": 2, "model": "a", "epoch": 1, "score": None, "status": "diverged"},
        {"step": 5, "trial_id": 0, "model": "a", "epoch": 2, "score": 0.5, "status": "ok"},
        {"step": 6, "trial_id": 3, "model": "a", "epoch": 1, "score": 0.65, "status": "ok"},
    ]
    board = views.live_leaderboard(steps, pool)
    assert board["trial"].tolist() == [0, 3, 1, 2]
    assert board.iloc[0].tolist() == [1, 0, "a", 2, "50.00 %", "70.00 %", "0.1", "8", "sgd", "ok"]
    assert board.iloc[2].tolist() == [3, 1, "b", 2, "60.00 %", "60.00 %", "0.01", "16", "adam", "ok"]
    assert board.iloc[3]["status"] == "diverged" and board.iloc[3]["val top-1 %"] == "n/a"
    curves = views.curves_frame(steps)
    assert len(curves) == 5 and set(curves["trial"]) == {"0 a", "1 b", "3 a"}
    trace = views.incumbent_frame([{**s, "elapsed_s": 10.0 * s["step"]} for s in steps])
    assert trace["best validation %"].tolist() == pytest.approx([70.0] * 5)


def test_empty_plots_are_none():
    assert views.plot_value(views.ranking_bars(None)) is None
    assert views.plot_value(views.curves_frame([])) is None


def test_summary_says_where_the_budget_went_by_stage_and_omits_it_for_older_runs():
    summary = {"best_model": "tf_efficientnet_lite0", "best_trial": 0, "trials": 1, "epoch_steps": 3,
               "budget": "90s", "budget_s": 90.0, "budget_used_s": 88.4, "stop_reason": "budget", "workers": 1,
               "worker_seconds": 70.31, "budget_by_stage_s": {"start": 0.04, "dataset": 1.31, "search": 76.39,
                                                              "end": 1.12}}
    text = views.summary_markdown(summary)
    line = next(x for x in text.split("\n\n") if x.startswith("Where the budget went"))
    assert line == ("Where the budget went, in seconds: 88s of 90s: start-up 0.0, dataset 1.3, "
                    "search 76.4 (trials 70.3), end 1.1.")
    summary["workers"] = 4  # several workers: their busy seconds are not a share of the wall-clock search
    assert "(trials" not in views.summary_markdown(summary)
    del summary["budget_by_stage_s"]  # a run from before the stage clock
    assert "Where the budget went" not in views.summary_markdown(summary)


def test_a_run_searching_another_metric_is_shown_in_it():
    """The views showed top-1 whatever the run's --metric: its leaderboard and curves now show the metric searched."""
    rows = [{"rank": 1, "trial_id": 0, "model": "a", "epochs": 2, "status": "ok", "metric": "balanced_accuracy",
             "last_val_top1": 0.9, "best_val_top1": 0.9, "last_val_score": 0.5, "best_val_score": 0.6, "config": {}}]
    board = views.final_leaderboard(rows)
    assert list(board.columns)[4:6] == ["val balanced accuracy %", "best val %"]
    assert board.iloc[0].tolist()[4:6] == ["50.00 %", "60.00 %"]
    records = {0: [{"epoch": 1, "val_top1": 0.9, "val_macro_f1": 0.4, "metric": "macro_f1", "status": "ok"}]}
    assert views.curves_from_records(records, {0: "a"})[views.CURVE_COLUMN].tolist() == [40.0]
    steps = [{"step": 1, "trial_id": 0, "model": "a", "epoch": 1, "score": 0.4, "status": "ok"}]
    assert list(views.live_leaderboard(steps, [{}], "macro_f1").columns)[4] == "val macro F1 %"
    assert views.final_leaderboard([]).columns[4] == "val top-1 %"  # before any run: top-1


def test_summary_says_when_the_winner_failed_after_its_best_epoch():
    summary = {"best_model": "m", "best_trial": 4, "trials": 5, "epoch_steps": 9, "budget": "90s",
               "budget_used_s": 88.0, "stop_reason": "budget used", "best_epoch": 2,
               "best_trial_failed": "diverged (a non-finite loss) at epoch 3"}
    assert ("The winner's training then diverged (a non-finite loss) at epoch 3: the weights are those of its best "
            "epoch, 2.") in views.summary_markdown(summary)
    assert "training then" not in views.summary_markdown({**summary, "best_trial_failed": None})
