"""Run outcome: the failure paragraph, chance and the majority-class baseline, --min-accuracy, scratch pools."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from hf_quicktune.errors import ConfigError, QuickTuneError
from hf_quicktune.run import outcome
from hf_quicktune.run.pool import repair_scratch_configs
from hf_quicktune.run.settings import RunSettings


def _rows(statuses):
    return [{"trial_id": i, "model": f"m{i % 2}", "status": s} for i, s in enumerate(statuses)]


def test_failure_report_counts_and_names_the_first_error_once():
    rows = _rows(["failed"] * 127 + ["oom"])
    steps = [{"trial_id": 5, "model": "m1", "status": "failed", "message": "UnpicklingError: pickled weights"}]
    steps += [{"trial_id": i, "model": "m0", "status": "failed", "message": "UnpicklingError: pickled weights"}
              for i in range(127) if i != 5]
    steps.append({"trial_id": 127, "model": "m1", "status": "oom", "message": "out of memory"})
    text = outcome.failure_report(rows, steps, "search space exhausted", "/x/run.log")
    assert text.startswith("no trial succeeded: 128 trials failed (127 failed, 1 oom)")
    assert "first error (trial 5, m1), shared by 127 of them: UnpicklingError: pickled weights" in text
    assert text.count("UnpicklingError") == 1 and "\n" not in text and "/x/run.log" in text
    assert "--allow-pickle" in text  # the fix


def test_failure_report_when_nothing_ran():
    text = outcome.failure_report([], [], "budget used", None)
    assert "no trial finished an epoch (search stopped: budget used)" in text and "--budget" in text


def test_repeated_failures_reach_the_terminal_once(caplog):
    log = logging.getLogger("hf_quicktune.test_outcome")
    with caplog.at_level(logging.INFO, logger="hf_quicktune.test_outcome"):
        for tid in range(5):
            outcome.log_trial_failure(log, tid, "m", "failed", 1, "same message xyz")
        outcome.log_trial_failure(log, 9, "m", "failed", 1, "another message xyz")
    levels = [(r.levelno, "another" in r.getMessage()) for r in caplog.records]
    assert levels == [(logging.WARNING, False)] + [(logging.INFO, False)] * 4 + [(logging.WARNING, True)]


def _dataset(train, val, test=None, names=("a", "b", "c")):
    import datasets

    splits = {"train": train, "validation": val}
    if test is not None:
        splits["test"] = test
    features = datasets.Features({"label": datasets.ClassLabel(names=list(names))})
    return SimpleNamespace(
        splits={k: datasets.Dataset.from_dict({"label": v}, features=features) for k, v in splits.items()},
        class_names=list(names), label_column="label")


def test_majority_baseline_on_the_evaluated_examples():
    ds = _dataset(train=[0, 1, 1, 1, 2], val=[1, 1, 0, 2], test=[0, 0, 0, 1])
    base = outcome.majority_baseline(ds, eval_limit=None, seed=0)
    # always 'b': validation 2 of 4 right; recalls a 0, b 1, c 0; F1 of b 2*2 / (2 + 4), the others 0
    chance = base.pop("chance")
    assert base == pytest.approx({
        "kind": "majority_class", "class": "b", "val_top1": 0.5, "test_top1": 0.25,
        "val_balanced_accuracy": 1 / 3, "val_macro_f1": (2 / 3) / 3,
        "test_balanced_accuracy": 1 / 2, "test_macro_f1": (2 / 5) / 2})  # classes a and b in test only
    # uniform guessing: 1 / C; expected F1 per class 2p / (1 + C p) for shares 1/4, 1/2, 1/4
    assert chance == pytest.approx({"top1": 1 / 3, "balanced_accuracy": 1 / 3,
                                    "macro_f1": (2 * (0.5 / 1.75) + 1 / 2.5) / 3})
    from hf_quicktune.train.loaders import limit_split

    ds = _dataset(train=[0, 1, 1, 1, 2], val=[0, 1, 1, 1, 2, 2])
    evaluated = limit_split(ds.splits["validation"], 2, 0)["label"][:]  # the subset the trials are evaluated on
    assert evaluated == [1, 1]  # 1.0 of the majority class, where the whole split has 0.5
    assert outcome.majority_baseline(ds, eval_limit=2, seed=0)["val_top1"] == 1.0


def test_quality_against_chance_baseline_and_gate():
    base = {"kind": "majority_class", "class": "b", "val_top1": 0.5, "test_top1": None}
    good = outcome.quality(0.8, 3, base, 0.75)
    assert good["beats_chance"] and good["beats_baseline"] and good["passed"]
    assert good["chance_top1"] == pytest.approx(1 / 3)
    weak = outcome.quality(0.4, 3, base, None)
    assert weak["beats_chance"] and not weak["beats_baseline"] and weak["passed"]
    assert "WARNING, the model does not beat the baseline" in outcome.quality_text(weak)
    bad = outcome.quality(0.2, 3, base, 0.5)
    assert not bad["beats_chance"] and not bad["passed"]
    assert "does not beat chance" in outcome.quality_text(bad) and "FAILED" in outcome.quality_text(bad)
    err = outcome.gate_error(bad, "/r/export", pushing=True)
    assert isinstance(err, QuickTuneError)
    assert "20.00 %" in str(err) and "below --min-accuracy 0.5" in str(err) and "not pushed" in str(err)
    assert "/r/export" in str(err)


def test_quality_of_another_metric_uses_its_chance_and_baseline():
    """On a 90 / 10 split the majority class is 90 % top-1 but 50 % balanced accuracy: a model at 70 % balanced
    accuracy beats the baseline there, and the gate and sentences speak of that metric."""
    base = {"kind": "majority_class", "class": "a", "val_top1": 0.9, "val_balanced_accuracy": 0.5,
            "val_macro_f1": 0.947 / 2, "chance": {"top1": 0.5, "balanced_accuracy": 0.5, "macro_f1": 0.405}}
    q = outcome.quality(0.7, 2, base, 0.8, metric="balanced_accuracy")
    assert q["beats_baseline"] and q["beats_chance"] and not q["passed"] and q["chance"] == 0.5
    text = outcome.quality_text(q)
    assert text.startswith("validation balanced accuracy 70.00 % vs chance 50.00 % and majority-class baseline "
                           "50.00 %")
    assert "balanced accuracy, below --min-accuracy 0.8" in str(outcome.gate_error(q, "/r/export", pushing=False))
    f1 = outcome.quality(0.42, 2, base, None, metric="macro_f1")
    assert f1["chance"] == 0.405 and f1["beats_chance"] and not f1["beats_baseline"]
    assert outcome.quality(0.85, 2, base, None)["beats_baseline"] is False  # top-1 against 90 %


@pytest.mark.parametrize("value,expected", [(0.9, 0.9), ("0.9", 0.9), ("85%", 0.85), (0, 0.0), (1, 1.0)])
def test_min_accuracy_accepts_fractions_and_percentages(value, expected):
    s = RunSettings(dataset="builtin:digits", budget="1m", min_accuracy=value).validate()
    assert s.min_accuracy == pytest.approx(expected)


@pytest.mark.parametrize("value,match", [(90, "did you mean 0.9"), ("high", "fraction such as 0.9"), (-0.1, r"\[0, 1\]")])
def test_min_accuracy_rejects_what_is_not_a_fraction(value, match):
    with pytest.raises(ConfigError, match=match):
        RunSettings(dataset="builtin:digits", budget="1m", min_accuracy=value).validate()


def test_scratch_configs_have_no_freezing_or_linear_probing():
    pool = [{"model": "scratch:a", "pct_to_freeze": 0.6, "linear_probing": True, "lr": 0.1},
            {"model": "scratch:a", "pct_to_freeze": 0.0, "linear_probing": False, "lr": 0.1},
            {"model": "pre", "pct_to_freeze": 0.6, "linear_probing": True, "lr": 0.1},
            {"model": "scratch:a", "pct_to_freeze": 0.2, "linear_probing": False, "lr": 0.01}]
    out = repair_scratch_configs(pool, {"scratch:a"})
    assert out == [{"model": "scratch:a", "pct_to_freeze": 0.0, "linear_probing": False, "lr": 0.1},
                   pool[2],  # pretrained candidates keep freezing and linear probing
                   {"model": "scratch:a", "pct_to_freeze": 0.0, "linear_probing": False, "lr": 0.01}]
    assert pool[0]["linear_probing"] is True  # the input is not modified


def test_a_small_validation_split_is_said():
    """Fewer than 100 scored validation images: one image is more than a point of top-1, the user is told and how
    to get more; with 100 or more (or none to score), nothing is said."""
    from hf_quicktune.run.outcome import FEW_VALIDATION, validation_note

    note = validation_note(4)
    assert note is not None and "4 validation images" in note and "25.0 points" in note and "--val-fraction" in note
    assert "--eval-limit" not in note
    limited = validation_note(359, eval_limit=50)
    assert limited is not None and "50 validation images (--eval-limit 50 of 359)" in limited and "2.0 points" in limited
    assert validation_note(FEW_VALIDATION) is None and validation_note(359) is None and validation_note(0) is None
    assert validation_note(359, eval_limit=400) is None


def test_skewed_classes_under_top1_are_said():
    """The largest class at three times its even share or more (at least half; 80 % of two classes): always
    predicting it scores that top-1, said with the metrics that weigh classes equally; not under those metrics."""
    from collections import Counter

    from hf_quicktune.run.outcome import imbalance_note

    names = ["benign", "malignant"]
    note = imbalance_note(Counter({0: 982, 1: 18}), names, "top1")
    assert note is not None and "class 'benign' holds 98.2 % of the training images" in note
    assert "--metric balanced_accuracy" in note
    assert imbalance_note(Counter({0: 982, 1: 18}), names, "balanced_accuracy") is None
    assert imbalance_note(Counter({0: 79, 1: 21}), names, "top1") is None  # under 80 % of two classes
    seven = [f"c{i}" for i in range(7)]  # HAM10000: 67 % nevi of 7 classes
    assert imbalance_note(Counter({5: 67, **{i: 5 for i in range(5)}, 6: 8}), seven, "top1") is not None
    assert imbalance_note(Counter({i: 10 + i for i in range(7)}), seven, "top1") is None
