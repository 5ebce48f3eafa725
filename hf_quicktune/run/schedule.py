"""How long a trial's schedule is (``--max-epochs``) when the user leaves it to the run.

``--max-epochs`` is the length of every trial's learning-rate schedule and the most epochs a trial may
train. Its default is the search space's 50 (Quick-Tune's meta-dataset), but a practitioner with a
90-second budget does not start a 50-epoch cosine schedule they cannot finish: they shorten it to
what the budget buys. The run does the same when ``--max-epochs`` is not given and ``--budget`` is:

    max_epochs = floor(BUDGET_SHARE x (budget left - end reserve) / seconds per epoch), clipped to [1, most]

``most`` is 50, or more on a training set so small that 50 epochs show the model fewer than ``MIN_SCHEDULE_IMAGES``
images (the smallest set of the meta-dataset the prior learnt from): the epochs that show it that many.

with the seconds per epoch of the configuration a practitioner would run (the search's by-hand
pool member: the best-ranked pretrained candidate, batch 32 or the nearest the space keeps for a small
training set, every layer trained), measured on this device (:mod:`~hf_quicktune.run.timing`): real training
steps at that batch (random inputs at the run's image size, their median) x the steps of an epoch, the evaluation
pass priced by a timed forward pass without gradients per batch (``benchmarks/eval_pricing.py`` compares it
with a real pass), each batch's loading measured on the run's own images (training and validation), x ``OVERHEAD``
(the Python loop around them), plus the measured write of one epoch's
checkpoint (weights and AdamW's two moments). ``BUDGET_SHARE`` = 1/2: the winning
trial can finish its schedule on half of the budget; the other half goes to the trials that find it. A
budget that buys fewer than ``SEARCH_MIN_EPOCHS`` epochs is not searched: the run trains the
configuration a practitioner would run (the search's by-hand pool member, first) on ``FINE_TUNE_SHARE``
of it (when that buys whole epochs and a part, one epoch more, each on a share of the training images:
:func:`fractional_epochs`), with the fastest of the kept pretrained candidates (:func:`fit_schedule`: the
ranking's timed forward passes order them, only the fastest is measured), and times no other candidate for the cost model. The
estimate is made once and stored in ``settings.json``, so a resumed run keeps the trials' schedules; only
that one fine-tune is re-fitted after each epoch, to the time its epochs really take
(:mod:`~hf_quicktune.run.refit`). How close it comes is printed by ``benchmarks/product_vs_finetune.py`` (the fitted epoch seconds next to the run's real ones).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hf_quicktune.report import share_percent
from hf_quicktune.run.budget import Budget
from hf_quicktune.run.timing import REFERENCE_BATCH, measure_reference

logger = logging.getLogger(__name__)

DEFAULT_MAX_EPOCHS = 50
BUDGET_SHARE = 0.5
#: the fewest training images a searched trial's schedule aims to show its model (:func:`schedule_ceiling`). The
#: Quick-Tune extended meta-dataset the prior learnt from trains 50-epoch schedules on 958 to 283,964 images: its
#: smallest set's runs see ~48,000 images, the median set's ~450,000. 50 epochs of 100 images are 5,000, a regime the
#: meta-dataset never saw, and one a practitioner trains for hundreds of epochs: on variant:digits-fewshot (100
#: images) with a 5-minute budget, 276 epochs of the by-hand configuration reached 84.7 % where the search's
#: 50-epoch schedule reached 78.0 / 78.6 % (benchmarks/product_vs_finetune.py --cases fewshot, session 35). A
#: budget that buys more epochs than 50 spends them on a longer schedule, up to this many images
MIN_SCHEDULE_IMAGES = 48_000
#: below this many epochs of the reference configuration in the budget left, the run does not search. A search
#: gives its winner a schedule of half of them (``BUDGET_SHARE``) and the other half to the trials that find it,
#: which also pay ranking and one-epoch probes. At 20 (the value until 2026-12-01) a 90 s digits run searched
#: 10-11 trials of a 10-epoch schedule and reached 91.7 % where one fine-tune reached 99.2-100 %
#: (benchmarks/product_vs_finetune.py). 40 gives the winner a 20-epoch schedule and 20 epochs to explore,
#: and keeps a factor 2 between the budgets that search and the ones that do not against the ±20 % noise
#: of the step timing the decision rests on (the 90 s run flipped between searching and not on it)
SEARCH_MIN_EPOCHS = 40
#: the share of the budget left (after the end's reserve) a no-search run's one schedule takes. All of it: the
#: estimate's margin is ``OVERHEAD``, and an estimate short by one epoch costs that epoch (the budget ends it,
#: the cosine schedule is nearly annealed there) where a 10 % margin cost a tenth of every run's epochs
FINE_TUNE_SHARE = 1.0
#: the Python loop around the timed steps and loaded batches (the checkpoint is measured apart). 1.1 until the
#: surrogate stopped refitting after every epoch (fb7da5f); since then the timed step alone over-predicts the
#: real epoch: predicted / real 1.08-1.13 on digits600 and 0.86-1.36 (median 1.11) on mnist5k with 1.1
#: (benchmarks/product_vs_finetune.py, 2026-11-30), so the loop adds nothing measurable on top of it
OVERHEAD = 1.0
#: the share of the time a fraction is fitted to: a margin against an epoch's timing noise (a re-fit
#: re-plans epochs that would overrun the budget, :func:`~hf_quicktune.run.refit.refit_fraction`)
FRACTION_FILL = 0.98
#: the share of the budget left the timed steps of one candidate may take before they stop early (at least
#: one after the warm-up): at native resolution on 2 CPU cores a step of EfficientNet-Lite0 at batch 32 takes
#: 3.3 s, and five of them were 17 s of a 2-minute budget
TIMING_SHARE = 0.05
#: candidates whose costs are within this share of the lowest are a tie, which the better-ranked takes: at most
#: a tenth more epochs is not worth leaving the ranking's choice for. Short timings on a shared 2-core machine
#: move by that much and more from one command to the next: the ranking's forward passes of one candidate on a
#: 70-image folder spread by 1.07-1.77x over three commands, where the offline zoo's real steps are 1.5x (Lite1
#: over Lite0) and 2.1x (Lite2) (benchmarks/rank_timing_noise.py, 2026-12-02); a band this narrow keeps those
#: apart and absorbs only the near-ties. The run prices candidates by their models' forward passes alone
#: (:func:`~hf_quicktune.run.plan.ranking_costs`): with the images' loading counted, Lite1 read as tied with
#: Lite0 at 32 px (1.11x) where its steps cost 1.32x
COST_TIE = 0.1


def schedule_ceiling(train_size: int) -> int:
    """The longest schedule a budget may fit: 50 epochs (the search space's), or the epochs that show the model
    :data:`MIN_SCHEDULE_IMAGES` training images when 50 epochs show it fewer."""
    return max(DEFAULT_MAX_EPOCHS, math.ceil(MIN_SCHEDULE_IMAGES / max(1, int(train_size))))


def epochs_within(budget_left_s: float, epoch_s: float, *, share: float = BUDGET_SHARE,
                  most: int = DEFAULT_MAX_EPOCHS, least: int = 1) -> int:
    """Epochs of one schedule that fit in ``share`` of ``budget_left_s`` at ``epoch_s`` seconds each,
    clipped to ``[least, most]``."""
    if epoch_s <= 0 or not math.isfinite(epoch_s):
        return most
    fit = math.floor(max(0.0, budget_left_s) * share / epoch_s)
    return int(max(least, min(most, fit)))


def reference_eval_seconds(measured: dict[str, float], val_size: int, batch_size: int = REFERENCE_BATCH) -> float:
    """Predicted seconds of one evaluation pass (a timed evaluation batch and a loaded batch per batch)."""
    return OVERHEAD * math.ceil(max(0, val_size) / batch_size) * _eval_batch_s(measured)


def _eval_batch_s(measured: Mapping[str, float]) -> float:
    """One evaluation batch: its timed forward pass (:func:`~hf_quicktune.run.timing.measure_eval_batch`) and a validation batch loaded
    (``eval_load_s``, else a training batch's ``load_s``); a third of a training step for the forward pass
    of timings saved before it was timed (a resumed run's ``schedule.json``)."""
    timed = measured.get("eval_step_s")
    forward = float(timed) if timed is not None else float(measured["step_s"]) / 3
    load = measured.get("eval_load_s", measured.get("load_s", 0.0))
    return forward + float(load)


def reference_epoch_parts(measured: dict[str, float], train_size: int, val_size: int,
                          batch_size: int = REFERENCE_BATCH) -> tuple[float, float]:
    """Predicted seconds of one epoch from :func:`measure_reference`, as (training, the rest): ``OVERHEAD`` x
    the training steps (each batch loaded at ``load_s``), and ``OVERHEAD`` x the evaluation batches (a timed
    forward pass without gradients, :func:`_eval_batch_s`, plus the loading) + the checkpoint write."""
    step = float(measured["step_s"])
    load = float(measured.get("load_s", 0.0))
    train = math.ceil(train_size / batch_size) * (step + load)
    evaluation = math.ceil(max(0, val_size) / batch_size) * _eval_batch_s(measured)
    return OVERHEAD * train, OVERHEAD * evaluation + float(measured.get("checkpoint_s", 0.0))


def reference_epoch_seconds(measured: dict[str, float], train_size: int, val_size: int,
                            batch_size: int = REFERENCE_BATCH) -> float:
    """Predicted seconds of one epoch (training + evaluation + checkpoint): :func:`reference_epoch_parts`."""
    return sum(reference_epoch_parts(measured, train_size, val_size, batch_size))


def fractional_epochs(seconds: float, train_s: float, rest_s: float, *, least: int = 1,
                      most: int = DEFAULT_MAX_EPOCHS, images: int | None = None,
                      batch_size: int | None = None) -> tuple[int, float]:
    """``(epochs, fraction)`` of one schedule filling :data:`FRACTION_FILL` of ``seconds``, an epoch costing
    ``train_s`` of training and ``rest_s`` of evaluation and checkpoint: one epoch more than the whole ones
    that fit, each training ``fraction`` of the images, when that trains more images than the whole epochs
    (the extra epoch's evaluation is paid from the part); else the whole epochs (fraction 1). Whole epochs alone leave the part
    unused: a fifth of builtin:mnist5k's 3 minutes on a slow machine (3 epochs of 45 s, 33-37 s of 180 unused,
    benchmarks/product_vs_finetune.py, 2026-12-01). Fewer than ``least`` whole epochs fit: ``least`` epochs of
    the fraction that fits (a part of an epoch where the budget would cut a whole one), or of whole ones when
    not even their evaluations fit. At most ``most`` epochs. ``images`` and ``batch_size`` given (an epoch's
    training images, the batch they train at): the fraction is whole batches
    (:func:`~hf_quicktune.train.step.grid_fraction`), the share the trainer really trains."""
    epoch_s = train_s + rest_s
    if not (train_s > 0 and math.isfinite(epoch_s) and math.isfinite(seconds)):
        return epochs_within(seconds, epoch_s, share=1.0, most=most, least=least), 1.0
    whole = math.floor(FRACTION_FILL * max(0.0, seconds) / epoch_s)
    if whole >= most:
        return most, 1.0
    n = max(least, whole + 1)
    fraction = math.floor((FRACTION_FILL * seconds / n - rest_s) / train_s * 1e4) / 1e4
    if images and batch_size and fraction > 0:
        from hf_quicktune.train.step import grid_fraction

        on_grid = grid_fraction(fraction, images, batch_size)
        if on_grid > fraction and whole >= least:  # not even one batch of the extra epoch's share fits
            return whole, 1.0
        fraction = on_grid
    if whole < least:
        return (n, min(1.0, fraction)) if fraction > 0 else (n, 1.0)
    return (n, fraction) if n * fraction > whole else (whole, 1.0)


def _epochs_phrase(fitted: Mapping[str, Any]) -> str:
    """"4 epochs" or "4 epochs of 92 % of the training images each (...)" for a fitted no-search schedule."""
    n = int(fitted["max_epochs"])
    text = f"{n} epoch{'s' if n != 1 else ''}"
    fraction = fitted.get("epoch_fraction")
    if fraction is not None and fraction < 1:
        text += (f" of {share_percent(fraction)} of the training images each (a fresh random subset per epoch: the "
                 "budget buys a part of an epoch more than the whole ones)")
    return text


def fit_max_epochs(budget_left_s: float | None, candidate: Any, num_classes: int, train_size: int, val_size: int,
                   image_size: int | None, *, least: int = 1, seed: int = 0,
                   measured: dict[str, float] | None = None, scratch_dir: str | Path | None = None,
                   search: bool | None = None, test_share: float = 1.0,
                   batch_size: int = REFERENCE_BATCH, workers: int = 1) -> dict[str, Any]:
    """The schedule of a run whose ``--max-epochs`` was not given: ``{"max_epochs", "budget_left_s",
    "epoch_seconds", "model", "search", "why", ...}`` (``why``: one line for the log; the run keeps the dict
    in ``schedule.json``). ``measured``: :func:`measure_reference` already made, else measured now.
    ``search``: None decides by ``SEARCH_MIN_EPOCHS``; False fits the one fine-tune whatever the budget.
    ``test_share``: test images per validation image (:attr:`Budget.test_share`, the end's reserve).
    ``batch_size``: the by-hand configuration's (:func:`reference_batch`), which ``measured`` was timed at.
    ``workers``: trials trained at once (``--workers``): the search decision counts the epochs all of them buy
    (``SEARCH_MIN_EPOCHS`` of them); a trial's schedule stays what one worker buys."""
    out: dict[str, Any] = {"budget_left_s": budget_left_s, "epoch_seconds": None,
                           "model": getattr(candidate, "name", None), "search": True, "batch_size": batch_size}
    if budget_left_s is None or candidate is None:
        n = max(least, DEFAULT_MAX_EPOCHS)
        return {**out, "max_epochs": n, "why": f"{n} epochs per trial (no wall-clock budget to fit)"}
    measured = measured or measure_reference(candidate, num_classes, image_size, seed=seed, scratch_dir=scratch_dir,
                                             batch_size=batch_size)
    out.update({k: round(float(v), 4) for k, v in measured.items()})
    epoch_s = reference_epoch_seconds(measured, train_size, val_size, batch_size)
    # what the run keeps for its end (test evaluation, export: Budget.reserve) is not the schedule's to spend
    out["eval_s"] = round(reference_eval_seconds(measured, val_size, batch_size), 4)
    out["reserve_s"] = round(Budget.reserve_for(out["eval_s"], test_share), 4)
    budget_left_s = budget_left_s - out["reserve_s"]
    affordable = max(0.0, budget_left_s) / epoch_s
    searchable = affordable * max(1, int(workers))
    if searchable < SEARCH_MIN_EPOCHS or search is False:
        train_s, rest_s = reference_epoch_parts(measured, train_size, val_size, batch_size)
        n, fraction = fractional_epochs(max(0.0, budget_left_s) * FINE_TUNE_SHARE, train_s, rest_s, least=least,
                                        images=train_size, batch_size=batch_size)
        out.update(max_epochs=n, epoch_seconds=round(rest_s + fraction * train_s, 4), search=False)
        if fraction < 1:  # epoch_seconds: of the epochs the run trains; whole_epoch_seconds: of a whole one
            out.update(epoch_fraction=fraction, whole_epoch_seconds=round(epoch_s, 4))
        on_all = f" (x {workers} workers)" if workers > 1 else ""
        too_few = (f"{on_all}, fewer than {SEARCH_MIN_EPOCHS}: too few to search" if searchable < SEARCH_MIN_EPOCHS
                   else "")
        if budget_left_s <= 0:  # loading, ranking and this timing took the whole budget (its end's reserve too)
            return {**out, "why": (f"nothing of the budget is left for training: loading, ranking and timing used it "
                                   f"(an epoch of {candidate.name} at batch {batch_size} takes ~{epoch_s:.1f}s); the run "
                                   f"tries {_epochs_phrase(out)} of the configuration a practitioner would run. Give a "
                                   "larger --budget, or a smaller --image-size / --train-limit")}
        return {**out, "why": (f"the {budget_left_s:.0f}s left buy ~{affordable:.1f} epochs of {candidate.name} at "
                               f"batch {batch_size} (~{epoch_s:.1f}s each){too_few}; the run fine-tunes the configuration a practitioner would run "
                               f"(AdamW, lr 1e-3, cosine) for {_epochs_phrase(out)} (a larger --budget "
                               "searches; pass --max-epochs to choose)")}
    n = epochs_within(budget_left_s, epoch_s, least=least, most=schedule_ceiling(train_size))
    out.update(max_epochs=n, epoch_seconds=round(epoch_s, 4), search=True)
    if n > DEFAULT_MAX_EPOCHS:
        return {**out, "why": (f"{n} epochs per trial: {DEFAULT_MAX_EPOCHS} epochs of {train_size} training images show a "
                               f"model only {DEFAULT_MAX_EPOCHS * train_size:,} images, and the {budget_left_s:.0f}s left buy "
                               f"~{affordable:.0f} epochs of {candidate.name} (~{epoch_s:.1f}s each): a schedule of half "
                               f"of them, up to {MIN_SCHEDULE_IMAGES:,} images (pass --max-epochs to choose)")}
    if n >= DEFAULT_MAX_EPOCHS:
        return {**out, "why": f"{n} epochs per trial (the {budget_left_s:.0f}s left buy ~{affordable:.0f} epochs of "
                              f"{candidate.name})"}
    return {**out, "why": (f"{n} epoch{'s' if n != 1 else ''} per trial, fitted to the budget: the {budget_left_s:.0f}s "
                           f"left buy ~{affordable:.1f} epochs of {candidate.name} at batch {batch_size} "
                           f"(~{epoch_s:.1f}s each); a schedule of half of them lets the best trial finish (pass "
                           "--max-epochs to choose)")}


#: an evaluation of the validation split taking at least this share of an epoch is said at the start, with an
#: ``--eval-limit`` that would bring it to ``EVAL_TARGET_SHARE`` (never below ``EVAL_LIMIT_FLOOR`` images: the
#: standard error of a top-1 near 50 % is then at most ~1.6 points)
EVAL_NOTE_SHARE = 0.25
EVAL_TARGET_SHARE = 0.1
EVAL_LIMIT_FLOOR = 1000


def evaluation_cost_note(schedule: Mapping[str, Any], val_size: int, eval_limit: int | None = None) -> str | None:
    """What the user should know when scoring every epoch on the validation split is a large part of the
    training the budget buys (a validation split large next to the training images, or a budget that buys a
    part of an epoch: every epoch still evaluates all of it), with the ``--eval-limit`` that would bring it to
    :data:`EVAL_TARGET_SHARE` of an epoch; None when it is small, when ``--eval-limit`` was given, or when the
    limit would keep most of the split anyway."""
    eval_s, epoch_s = schedule.get("eval_s"), schedule.get("epoch_seconds")
    if eval_limit or not eval_s or not epoch_s or val_size <= EVAL_LIMIT_FLOOR:
        return None
    eval_s, epoch_s = float(eval_s), float(epoch_s)
    share = eval_s / epoch_s
    if share < EVAL_NOTE_SHARE:
        return None
    train_s = max(0.0, epoch_s - eval_s)
    wanted = val_size * EVAL_TARGET_SHARE * train_s / (eval_s * (1 - EVAL_TARGET_SHARE))
    magnitude = 10 ** math.floor(math.log10(wanted)) if wanted >= 1 else 1  # rounded down to one significant digit
    limit = max(EVAL_LIMIT_FLOOR, int(wanted // magnitude * magnitude))
    if limit >= 0.8 * val_size:
        return None
    return (f"scoring an epoch on the {val_size:,} validation images takes ~{eval_s:.1f}s, {share_percent(share)} of "
            f"the epoch (~{epoch_s:.1f}s): `--eval-limit {limit}` would score every trial on the same random "
            f"{limit:,} of them (one image is {100 / limit:.2f} points of top-1) and leave that time to training")


def fit_schedule(ranked: list[Any], num_classes: int, train_size: int, val_size: int, image_size: int | None, *,
                 budget_left: Callable[[], float | None], least: int = 1, seed: int = 0,
                 scratch_dir: str | Path | None = None, split: Any = None, eval_split: Any = None,
                 relative_cost: Mapping[str, float | None] | None = None, test_share: float = 1.0,
                 batch_size: int = REFERENCE_BATCH, workers: int = 1) -> dict[str, Any]:
    """:func:`fit_max_epochs` for the best-ranked of ``ranked`` (the kept pretrained candidates, best first; ``workers``
    trials at once);
    ``budget_left()`` is read after each measurement, so the measuring is paid from the budget it fits.
    ``split`` / ``eval_split``: the training and validation splits whose loading is timed (:func:`measure_reference`).

    When that budget is too small to search, the one fine-tune trains the *fastest* of ``ranked``: with a
    handful of epochs to spend, more epochs of a model the ranking kept beat fewer epochs of a slower one (on
    builtin:mnist5k's 3 minutes, 5 epochs of EfficientNet-Lite0 reached 96.3 % where 3 of Lite1, ranked
    first, reached 94.0 %: benchmarks/product_vs_finetune.py), and the zero-cost ranking cannot tell close
    candidates apart (benchmarks/rank_quality.py). The result then names the best-ranked model too
    (``best_ranked``).

    ``relative_cost`` (candidate name -> seconds of the same work for each, e.g. the ranking's timed forward
    passes over the same images, :func:`~hf_quicktune.run.plan.ranking_costs`) saves measuring every candidate (a few training steps,
    a loaded batch and a checkpoint write each, paid from the budget): the fastest by it is measured, the
    best-ranked's epoch is that one's scaled by their ratio, and the best-ranked is measured too only when
    that scaled estimate
    leaves the budget large enough to search (a forward pass shares the loading with the training step, so
    the ratio errs towards 1: towards searching, which its own measurement then confirms or not). Without it
    (or when it misses a candidate) every candidate is measured."""
    first = ranked[0] if ranked else None

    def fit(cand: Any, measured: dict[str, float] | None = None, search: bool | None = None) -> dict[str, Any]:
        return fit_max_epochs(budget_left(), cand, num_classes, train_size, val_size, image_size, least=least,
                              seed=seed, measured=measured, search=search, test_share=test_share,
                              batch_size=batch_size, workers=workers)

    if first is None or budget_left() is None:
        return fit(first)
    measured: dict[str, dict[str, float]] = {}

    def measure(cand: Any) -> dict[str, float]:
        if cand.name not in measured:
            left = budget_left()
            measured[cand.name] = measure_reference(cand, num_classes, image_size, seed=seed,
                                                    scratch_dir=scratch_dir, split=split, eval_split=eval_split,
                                                    batch_size=batch_size,
                                                    max_seconds=None if left is None else TIMING_SHARE * left)
        return measured[cand.name]

    def epochs_of(named: Mapping[str, dict[str, float]]) -> dict[str, float]:
        return {name: reference_epoch_seconds(m, train_size, val_size, batch_size) for name, m in named.items()}

    proxy = _usable_costs(ranked, relative_cost)
    if proxy is not None:
        fastest = fastest_by(ranked, proxy)
        ratio = proxy[first.name] / proxy[fastest.name]
        scaled = {k: (v * ratio if k == "step_s" else v) for k, v in measure(fastest).items()}
        if fit(first, scaled)["search"]:
            out = fit(first, measure(first))
            if out["search"]:
                return out
        epoch = {first.name: reference_epoch_seconds(scaled, train_size, val_size, batch_size), **epochs_of(measured)}
        return _fine_tune_fastest(first, fastest, epoch, fit(fastest, measured[fastest.name], search=False),
                                  estimated=first.name not in measured, workers=workers)
    out = fit(first, measure(first))
    if out["search"] or len(ranked) == 1:
        return out
    for cand in ranked[1:]:
        measure(cand)
    epoch = epochs_of(measured)
    fastest = fastest_by(ranked, epoch)
    if fastest is first:
        return out
    return _fine_tune_fastest(first, fastest, epoch, fit(fastest, measured[fastest.name], search=False),
                              estimated=False, workers=workers)


def fastest_by(ranked: list[Any], cost: Mapping[str, float]) -> Any:
    """The best-ranked of ``ranked`` (best first) whose ``cost`` is within ``COST_TIE`` of the lowest."""
    least = min(cost[c.name] for c in ranked)
    return next(c for c in ranked if cost[c.name] <= least * (1.0 + COST_TIE))


def _usable_costs(ranked: list[Any], relative_cost: Mapping[str, float | None] | None) -> dict[str, float] | None:
    """``relative_cost`` of every one of ``ranked`` when it has a finite positive value for each and there is a
    choice to make (two or more candidates), else None."""
    if not relative_cost or len(ranked) < 2:
        return None
    out = {}
    for cand in ranked:
        value = relative_cost.get(cand.name)
        if value is None or not math.isfinite(float(value)) or float(value) <= 0:
            return None
        out[cand.name] = float(value)
    return out


def _fine_tune_fastest(first: Any, fastest: Any, epoch: Mapping[str, float], again: dict[str, Any], *,
                       estimated: bool, workers: int = 1) -> dict[str, Any]:
    """``again`` (the no-search schedule of ``fastest``, the budget judged too small to search by ``first``'s
    epoch seconds: a smaller budget never searches where a larger one does not) naming the best-ranked model
    and why; ``estimated``: ``first``'s epoch seconds were scaled, not measured."""
    if fastest is first:
        return again
    left = float(again["budget_left_s"])
    how = "scaled from its forward passes" if estimated else f"at batch {again.get('batch_size', REFERENCE_BATCH)}"
    again["best_ranked"] = first.name
    if left - float(again.get("reserve_s") or 0.0) <= 0:  # nothing to buy epochs with: say that, not "-20s buy"
        again["why"] += (f" (the fastest kept pretrained candidate, {fastest.name}; {first.name} is ranked first, "
                         f"~{epoch[first.name]:.1f}s an epoch, {how})")
        return again
    again["why"] = (f"the {left:.0f}s left buy ~{left / epoch[first.name]:.1f} epochs of {first.name} (ranked first; "
                    f"~{epoch[first.name]:.1f}s each, {how}){f' x {workers} workers' if workers > 1 else ''}, fewer than "
                    f"{SEARCH_MIN_EPOCHS}: too few to search; the "
                    f"run fine-tunes the fastest kept pretrained candidate, {fastest.name} (~{epoch[fastest.name]:.1f}s "
                    f"an epoch: with so few epochs it trains the most), with the configuration a practitioner would "
                    f"run (AdamW, lr 1e-3, cosine) for {_epochs_phrase(again)} "
                    "(a larger --budget searches; pass --max-epochs to choose)")
    return again
