"""How long a trial's schedule is (``--max-epochs``) when the user leaves it to the run.

``--max-epochs`` is the length of every trial's learning-rate schedule and the most epochs a trial may
train. Its default is the search space's 50 (Quick-Tune's meta-dataset), but a practitioner with a
90-second budget does not start a 50-epoch cosine schedule they cannot finish: they shorten it to
what the budget buys. The run does the same when ``--max-epochs`` is not given and ``--budget`` is:

    max_epochs = floor(BUDGET_SHARE x budget left / seconds per epoch), clipped to [1, 50]

with the seconds per epoch of the configuration a practitioner would run (the search's by-hand
pool member: the best-ranked pretrained candidate, batch 32, every layer trained), from its timed
training steps (:mod:`hf_quicktune.run.cost_prior`, random inputs at the run's image size) x the
steps of an epoch x ``OVERHEAD`` (data loading, augmentation and the
evaluation pass, which the timed step leaves out). ``BUDGET_SHARE`` = 1/2: the winning trial can
finish its schedule on half of the budget; the other half goes to the trials that find it. A budget
that buys fewer than ``SEARCH_MIN_EPOCHS`` epochs is not searched: the run trains the configuration a
practitioner would run (the search's by-hand pool member, first) on ``FINE_TUNE_SHARE`` of it. The
estimate is rough (OVERHEAD 1.25: on 2 CPU cores the timed steps x 1.25 came within ~20 % of real
epochs; x1.5 either way changes the schedule, not the search's correctness) and is made
once: the chosen value is stored in ``settings.json``, so a resumed run keeps the trials' schedules.
"""

from __future__ import annotations

import logging
import math
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_MAX_EPOCHS = 50
BUDGET_SHARE = 0.5
#: below this many epochs of the reference configuration in the budget left, the run does not search: a
#: search spends a third or more of such a budget on ranking, its first trials and one-epoch probes,
#: and ends below the one fine-tune a practitioner would run (issue 13's 90 s and 3-minute cases)
SEARCH_MIN_EPOCHS = 20
#: the share of the budget left a no-search run's one schedule takes (the rest: evaluation, export)
FINE_TUNE_SHARE = 0.85
OVERHEAD = 1.25
REFERENCE_BATCH = 32


def epochs_within(budget_left_s: float, epoch_s: float, *, share: float = BUDGET_SHARE,
                  most: int = DEFAULT_MAX_EPOCHS, least: int = 1) -> int:
    """Epochs of one schedule that fit in ``share`` of ``budget_left_s`` at ``epoch_s`` seconds each,
    clipped to ``[least, most]``."""
    if epoch_s <= 0 or not math.isfinite(epoch_s):
        return most
    fit = math.floor(max(0.0, budget_left_s) * share / epoch_s)
    return int(max(least, min(most, fit)))


def reference_epoch_seconds(candidate: Any, num_classes: int, train_size: int, val_size: int,
                            image_size: int | None, batch_size: int = REFERENCE_BATCH, seed: int = 0,
                            timing: dict[str, Any] | None = None) -> float:
    """Predicted seconds of one epoch (training + evaluation) of ``candidate`` fine-tuned whole at
    ``batch_size``: a timed step (``timing``, the run's :mod:`~hf_quicktune.run.cost_prior` timings of
    this model, else timed now) x the epoch's steps x :data:`OVERHEAD` (evaluation priced as a third of a
    training step per image: a forward pass without the backward)."""
    from hf_quicktune.run import cost_prior

    if timing is None:
        timing = cost_prior.step_seconds_by_model({candidate.name: candidate}, {candidate.name: {0.0}}, num_classes,
                                                  image_size, seed=seed)[candidate.name]
    step = cost_prior.step_seconds(timing, batch_size)
    train = math.ceil(train_size / batch_size) * step
    evaluation = math.ceil(max(0, val_size) / batch_size) * step / 3
    return OVERHEAD * (train + evaluation)


def fit_max_epochs(budget_left_s: float | None, candidate: Any, num_classes: int, train_size: int, val_size: int,
                   image_size: int | None, *, least: int = 1, seed: int = 0,
                   timing: dict[str, Any] | None = None) -> dict[str, Any]:
    """The schedule of a run whose ``--max-epochs`` was not given: ``{"max_epochs", "budget_left_s",
    "epoch_seconds", "model", "why"}`` (``why``: one line for the log; the run keeps the dict in
    ``schedule.json``)."""
    out: dict[str, Any] = {"budget_left_s": budget_left_s, "epoch_seconds": None,
                           "model": getattr(candidate, "name", None), "search": True}
    if budget_left_s is None or candidate is None:
        n = max(least, DEFAULT_MAX_EPOCHS)
        return {**out, "max_epochs": n, "why": f"{n} epochs per trial (no wall-clock budget to fit)"}
    epoch_s = reference_epoch_seconds(candidate, num_classes, train_size, val_size, image_size, seed=seed,
                                      timing=timing)
    affordable = max(0.0, budget_left_s) / epoch_s
    if affordable < SEARCH_MIN_EPOCHS:
        n = epochs_within(budget_left_s, epoch_s, share=FINE_TUNE_SHARE, least=least)
        out.update(max_epochs=n, epoch_seconds=round(epoch_s, 4), search=False)
        return {**out, "why": (f"the {budget_left_s:.0f}s left buy ~{affordable:.1f} epochs of {candidate.name} at "
                               f"batch {REFERENCE_BATCH} (~{epoch_s:.1f}s each), fewer than {SEARCH_MIN_EPOCHS}: too "
                               f"few to search; the run fine-tunes the configuration a practitioner would run "
                               f"(AdamW, lr 1e-3, cosine) for {n} epoch{'s' if n != 1 else ''} (a larger --budget "
                               "searches; pass --max-epochs to choose)")}
    n = epochs_within(budget_left_s, epoch_s, least=least)
    out.update(max_epochs=n, epoch_seconds=round(epoch_s, 4), search=True)
    if n >= DEFAULT_MAX_EPOCHS:
        return {**out, "why": f"{n} epochs per trial (the {budget_left_s:.0f}s left buy ~{affordable:.0f} epochs of "
                              f"{candidate.name})"}
    return {**out, "why": (f"{n} epoch{'s' if n != 1 else ''} per trial, fitted to the budget: the {budget_left_s:.0f}s "
                           f"left buy ~{affordable:.1f} epochs of {candidate.name} at batch {REFERENCE_BATCH} "
                           f"(~{epoch_s:.1f}s each); a schedule of half of them lets the best trial finish (pass "
                           "--max-epochs to choose)")}
