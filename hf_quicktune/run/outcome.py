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
    """Accuracy of always predicting the training split's most frequent class, on the validation
    (and test) examples the trials are evaluated on."""
    from hf_quicktune.data.columns import column_values
    from hf_quicktune.train.loaders import limit_split

    label = getattr(dataset, "label_column", "label")
    counts = Counter(column_values(dataset.splits["train"], label))
    majority, _ = max(counts.items(), key=lambda kv: (kv[1], -kv[0]))
    out: dict[str, Any] = {"kind": "majority_class", "class": dataset.class_names[majority], "val_top1": None,
                           "test_top1": None}
    for split, key in (("validation", "val_top1"), ("test", "test_top1")):
        if split in dataset.splits:
            labels = column_values(limit_split(dataset.splits[split], eval_limit, seed), label)
            out[key] = sum(1 for y in labels if y == majority) / len(labels) if len(labels) else None
    return out


def quality(val_top1: float | None, num_classes: int, baseline: dict[str, Any],
            min_accuracy: float | None) -> dict[str, Any]:
    """The winner against chance, the majority-class baseline and ``--min-accuracy`` (all on validation)."""
    chance = 1.0 / num_classes
    base = baseline.get("val_top1")
    out = {"chance_top1": chance, "baseline": baseline, "min_accuracy": min_accuracy, "val_top1": val_top1,
           "beats_chance": val_top1 is not None and val_top1 > chance,
           "beats_baseline": val_top1 is not None and base is not None and val_top1 > base,
           "passed": val_top1 is not None and (min_accuracy is None or val_top1 >= min_accuracy)}
    return out


def quality_text(q: dict[str, Any]) -> str:
    """One sentence for the terminal and the card."""
    val, chance, base = q["val_top1"], q["chance_top1"], q["baseline"].get("val_top1")
    text = (f"validation top-1 {_pct(val)} vs chance {_pct(chance)} and majority-class baseline {_pct(base)} "
            f"(always '{q['baseline'].get('class')}')")
    if not q["beats_chance"] or (base is not None and not q["beats_baseline"]):
        text += ": WARNING, the model does not beat " + ("chance" if not q["beats_chance"] else "the baseline")
    if q["min_accuracy"] is not None:
        text += f"; --min-accuracy {_pct(q['min_accuracy'])}: {'passed' if q['passed'] else 'FAILED'}"
    return text


def gate_error(q: dict[str, Any], export_dir: Any, pushing: bool) -> QualityGateError:
    pushed = " It was not pushed." if pushing else ""
    return QualityGateError(
        f"the best model reaches {_pct(q['val_top1'])} validation top-1, below --min-accuracy "
        f"{q['min_accuracy']:g} ({_pct(q['min_accuracy'])}).{pushed} Its export is kept in {export_dir}. "
        "Give the search a larger --budget or other candidates (--zoo), or lower --min-accuracy.")


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f} %"
