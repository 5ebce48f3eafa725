"""Is the run's result any good? Failures that fail, chance level, a trivial baseline and ``--min-accuracy``.

- A run in which no trial finished an epoch raises :class:`RunFailedError` (exit code 2) with one
  paragraph: how many trials failed, how, and the first error (not one traceback per trial).
- The winner is compared with **chance** (``1 / num_classes``) and a **majority-class baseline**:
  always predicting the most frequent class of the training split, scored on the same validation
  (and test) examples the trials are scored on (``eval_limit`` subset included). It costs nothing,
  needs no model, and is the accuracy a model that learnt nothing but the class balance reaches; a
  winner below it learnt nothing useful. (A linear probe would be a stronger yardstick but costs a
  feature pass per candidate; the zero-cost ranking already does that work.)
- A validation split of fewer than :data:`FEW_VALIDATION` scored images is said at the start
  (:func:`validation_note`): one image is then more than a point of top-1, and trials closer than that tie.
- ``--min-accuracy X`` (a fraction): a winner whose validation top-1 is below X is not pushed and
  the run ends with :class:`QualityGateError` (exit code 2) after writing its export and summary.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from hf_quicktune.errors import QuickTuneError
from hf_quicktune.train.metrics import metric_label

logger = logging.getLogger(__name__)
OK = "ok"
#: fewer scored validation images than this: one image is more than a point of top-1
FEW_VALIDATION = 100


def validation_note(num_validation: int, eval_limit: int | None = None) -> str | None:
    """What the user should know when the trials are scored on few validation images, else None."""
    scored = min(num_validation, eval_limit or num_validation)
    if scored <= 0 or scored >= FEW_VALIDATION:
        return None
    limited = f" (--eval-limit {eval_limit} of {num_validation})" if scored < num_validation else ""
    return (f"the trials are scored on {scored} validation images{limited}: one image is {100 / scored:.1f} points of "
            "top-1, so trials closer than that tie and the winner may be chosen by chance. A larger validation split "
            "(--val-fraction, or --split validation=NAME) makes the choice more reliable.")


class RunFailedError(QuickTuneError):
    """No trial of the run produced a model (every trial failed, or none finished an epoch)."""

    default_code = "no_successful_trial"


class QualityGateError(QuickTuneError):
    """The winner is below ``--min-accuracy``: nothing was pushed."""

    default_code = "below_min_accuracy"


# ------------------------------------------------------------------------------------------ failures

_reported: set[str] = set()


def imbalance_note(counts: Counter[int] | dict[int, int], class_names: list[str], metric: str) -> str | None:
    """What to know when top-1 selects the model on skewed classes (``counts``: training images per class id):
    the largest class holds three times its even share or more (at least half the images; 80 % of two classes),
    so always predicting it scores that much and the search can favour it over the rare classes (SIIM-ISIC's 1.8 %
    of melanomas, HAM10000's 67 % of nevi). None when the classes are near even or ``metric`` is not top-1."""
    total = sum(counts.values())
    if metric != "top1" or not total or len(class_names) < 2:
        return None
    majority, largest = max(counts.items(), key=lambda kv: (kv[1], -kv[0]))
    share = largest / total
    if share < max(0.5, min(0.8, 3 / len(class_names))):
        return None
    return (f"class '{class_names[majority]}' holds {100 * share:.1f} % of the training images: always predicting it "
            f"scores {100 * share:.1f} % top-1, so the search may favour it over the rare classes; --metric "
            "balanced_accuracy (or macro_f1) weighs every class equally")


def log_trial_failure(log: logging.Logger, tid: int, model: Any, status: str, epoch: Any, message: Any) -> None:
    """A failed trial, logged once per distinct message at WARNING (the terminal), repeats at INFO
    (``run.log`` only): a zoo whose every candidate fails the same way prints one line, not 128."""
    key = f"{status}:{message}"
    level = logging.INFO if key in _reported else logging.WARNING
    _reported.add(key)
    suffix = "" if level == logging.WARNING else " (same failure as an earlier trial)"
    log.log(level, "trial %d (%s) %s at epoch %s: %s%s", tid, model, status, epoch, message, suffix)


def failure_report(rows: list[dict[str, Any]], steps: list[dict[str, Any]], stop: str | None,
                   log_path: Any = None) -> str:
    """One paragraph saying why the run has no model: counts by status and the first error (the
    earliest failed step), with how many trials share its message."""
    failed = [r for r in rows if r["status"] != OK]
    where = f" Full messages and tracebacks: {log_path}." if log_path else ""
    if not failed:
        return (f"no trial finished an epoch (search stopped: {stop}), so there is no model to export. "
                f"Give a larger --budget (ranking and the first epoch must fit in it), or a smaller "
                f"--train-limit / --image-size.{where}")
    bad = [s for s in steps if s.get("status", OK) != OK]
    first = bad[0] if bad else {"trial_id": failed[0]["trial_id"], "model": failed[0]["model"],
                                "status": failed[0]["status"], "message": None}
    message = first.get("message") or "no message"
    same = sum(1 for s in bad if s.get("message") == first.get("message")) if bad else 1
    counts = ", ".join(f"{n} {s}" for s, n in Counter(r["status"] for r in failed).most_common())
    hint = {
        "oom": "Lower --image-size or use a zoo of smaller models.",
        "diverged": "The learning rates may be too high for this data; try another --space or --seed.",
    }.get(first["status"], "Fix the cause above (e.g. a candidate that cannot load: pick another --zoo; "
                           "pickled checkpoints need --allow-pickle).")
    return (f"no trial succeeded: {len(failed)} trial{'s' if len(failed) != 1 else ''} failed ({counts}); first "
            f"error (trial {first['trial_id']}, {first.get('model')}), shared by {same} of them: {message} "
            f"{hint}{where}")


# ------------------------------------------------------------------------------------------ quality


def majority_baseline(dataset: Any, eval_limit: int | None, seed: int) -> dict[str, Any]:
    """Every metric (train/metrics.py) of always predicting the training split's most frequent class, on the
    validation (and test) examples the trials are evaluated on (``val_top1``, ``val_balanced_accuracy``,
    ``val_macro_f1``, ``test_*``), and what uniform random guessing expects on validation (``chance``: ``1 / C`` in
    top-1 and balanced accuracy; in macro F1 the mean over classes of ``2 p / (1 + C p)``, ``p`` a class's share)."""
    import torch

    from hf_quicktune.data.columns import column_values
    from hf_quicktune.train.loaders import limit_split
    from hf_quicktune.train.metrics import METRICS, class_balanced_scores

    label = getattr(dataset, "label_column", "label")
    counts = Counter(column_values(dataset.splits["train"], label))
    majority, _ = max(counts.items(), key=lambda kv: (kv[1], -kv[0]))
    num_classes = len(dataset.class_names)
    out: dict[str, Any] = {"kind": "majority_class", "class": dataset.class_names[majority],
                           **{f"{split}_{m}": None for split in ("val", "test") for m in METRICS}}
    chance = 1.0 / num_classes
    out["chance"] = {"top1": chance, "balanced_accuracy": chance, "macro_f1": chance}
    for split, prefix in (("validation", "val"), ("test", "test")):
        if split not in dataset.splits:
            continue
        labels = torch.tensor(column_values(limit_split(dataset.splits[split], eval_limit, seed), label))
        if not len(labels):
            continue
        out[f"{prefix}_top1"] = float((labels == majority).double().mean())
        balanced = class_balanced_scores(torch.full_like(labels, majority), labels, num_classes)
        out.update({f"{prefix}_{m}": v for m, v in balanced.items()})
        if prefix == "val":  # expected F1 of class c under uniform guessing: 2 p_c (1/C) / (p_c + 1/C)
            shares = torch.bincount(labels, minlength=num_classes).double() / len(labels)
            out["chance"]["macro_f1"] = float((2 * shares / (1 + num_classes * shares)).mean())
    return out


def quality(val_score: float | None, num_classes: int, baseline: dict[str, Any],
            min_accuracy: float | None, metric: str = "top1") -> dict[str, Any]:
    """The winner's validation ``metric`` against chance, the majority-class baseline and ``--min-accuracy``."""
    chance = float((baseline.get("chance") or {}).get(metric, 1.0 / num_classes))
    base = baseline.get(f"val_{metric}")
    out = {"chance_top1": 1.0 / num_classes, "chance": chance, "metric": metric, "baseline": baseline,
           "min_accuracy": min_accuracy, "val_score": val_score,
           "beats_chance": val_score is not None and val_score > chance,
           "beats_baseline": val_score is not None and base is not None and val_score > base,
           "passed": val_score is not None and (min_accuracy is None or val_score >= min_accuracy)}
    return out


def quality_text(q: dict[str, Any]) -> str:
    """One sentence for the terminal and the card."""
    val, chance, base = q["val_score"], q["chance"], q["baseline"].get(f"val_{q.get('metric') or 'top1'}")
    text = (f"validation {metric_label(q.get('metric'))} {_pct(val)} vs chance {_pct(chance)} and majority-class "
            f"baseline {_pct(base)} (always '{q['baseline'].get('class')}')")
    if not q["beats_chance"] or (base is not None and not q["beats_baseline"]):
        text += ": WARNING, the model does not beat " + ("chance" if not q["beats_chance"] else "the baseline")
    if q["min_accuracy"] is not None:
        text += f"; --min-accuracy {_pct(q['min_accuracy'])}: {'passed' if q['passed'] else 'FAILED'}"
    return text


def gate_error(q: dict[str, Any], export_dir: Any, pushing: bool) -> QualityGateError:
    pushed = " It was not pushed." if pushing else ""
    return QualityGateError(
        f"the best model reaches {_pct(q['val_score'])} validation {metric_label(q.get('metric'))}, below "
        f"--min-accuracy {q['min_accuracy']:g} ({_pct(q['min_accuracy'])}).{pushed} Its export is kept in {export_dir}. "
        "Give the search a larger --budget or other candidates (--zoo), or lower --min-accuracy.")


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f} %"
