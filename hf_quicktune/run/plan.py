"""The run's side of its schedule: fitted once to the budget (:mod:`~hf_quicktune.run.schedule`), re-fitted
after each epoch of a no-search run's one fine-tune (:mod:`~hf_quicktune.run.refit`), each change kept where a
resumed run reads it (``settings.json`` first, then ``schedule.json``, the optimizer's state) and applied to
the engine kept in memory; epochs of a share of the images are priced by that share for the budget."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from hf_quicktune.errors import ZooError
from hf_quicktune.report import share_percent
from hf_quicktune.run.budget import Clock
from hf_quicktune.run.settings import RunSettings, resolve_recipe_file
from hf_quicktune.run.stages import end_eval_share
from hf_quicktune.run.state import RunState

if TYPE_CHECKING:
    from hf_quicktune.run.executor import Executor
    from hf_quicktune.run.search_loop import Search

logger = logging.getLogger(__name__)

__all__ = ["apply_refit", "fit_run_schedule", "price_planned_epochs", "ranking_costs", "reference_batch",
           "refit_run_schedule"]


def fit_run_schedule(settings: RunSettings, state: RunState, clock: Clock, ranking: dict, candidates: dict, dataset,
                     train_size: int, reporter) -> None:
    """Set ``settings.max_epochs`` (not given) to what the budget left can finish (:mod:`~hf_quicktune.run.schedule`)."""
    from hf_quicktune.run.pool import scratch_names
    from hf_quicktune.run.schedule import evaluation_cost_note, fit_schedule

    scratch = scratch_names(candidates)
    ranked = [candidates[n] for n in ranking["kept"] if n not in scratch and n in candidates]
    ranked = ranked or [candidates[n] for n in ranking["kept"] if n in candidates][:1]
    batch = reference_batch(settings, train_size)
    if settings.budget_s is not None and ranked:
        reporter.message(f"timing training steps at batch {batch} to fit the schedule to the budget")
    n_val = len(dataset.splits["validation"])
    val_size = min(n_val, settings.eval_limit or n_val)
    forward_seconds = ranking_costs(ranking.get("table") or {}, [c.name for c in ranked])
    budget_s = settings.budget_s

    def fit(kept: list) -> dict:  # the schedule of ``kept`` (pretrained, best-ranked first), timed
        return fit_schedule(kept, dataset.num_classes, train_size, val_size, settings.image_size,
                            budget_left=lambda: None if budget_s is None else budget_s - clock.elapsed,
                            least=settings.initial_epochs or 1, seed=settings.seed, scratch_dir=state.dir,
                            split=dataset.splits["train"], eval_split=dataset.splits["validation"],
                            relative_cost=forward_seconds,
                            test_share=end_eval_share(settings, dataset), batch_size=batch,
                            workers=settings.workers)

    schedule = None
    if settings.image_size is None and budget_s is not None:
        left = lambda: budget_s - clock.elapsed  # noqa: E731
        bound = _native_bound(settings, left, ranking, ranked, dataset, train_size, val_size, batch)
        if bound is not None:  # the ranking shows the own size too slow: step down without timing it
            schedule = _smaller_size(settings, state, left, bound, ranked, fit, candidates, dataset, train_size,
                                     val_size, batch, reporter)
            if schedule.get("native_bound"):  # no smaller size bought more than the bound: time the own size
                logger.info("no smaller input size buys more epochs than the forward passes' bound: timing %s at "
                            "its own size", bound.get("model"))
                schedule = None
        if schedule is None:
            schedule = _smaller_size(settings, state, left, fit(ranked), ranked, fit, candidates, dataset,
                                     train_size, val_size, batch, reporter)
        settings.image_size = schedule.get("image_size")
    else:
        schedule = fit(ranked)
    reporter.message(f"schedule: {schedule['why']}")
    note = evaluation_cost_note(schedule, n_val, settings.eval_limit)
    if note:
        reporter.message(note)
    state.save_json(state.dir / "schedule.json", schedule)
    settings.max_epochs = int(schedule["max_epochs"])
    settings.epoch_fraction = float(schedule.get("epoch_fraction", 1.0))
    state.save_settings(settings.to_dict())


#: the least a training step costs per image, in forward passes of the same images (the ranking's seconds, loading
#: included): the backward pass alone is about two. With the schedule's own timing on 2 CPU cores an AdamW step took
#: 5.4-8.9 x (median 7.4) the forward pass of its batch without loading (benchmarks/train_forward_ratio.py: the
#: offline zoo's three EfficientNet-Lites at 64, 128 px and their own size, batch 32); the ranking's seconds add the
#: images' loading, which a training epoch pays too
TRAIN_OVER_FORWARD = 2.0


def _native_bound(settings: RunSettings, budget_left: Callable[[], float], ranking: dict, ranked: list, dataset,
                  train_size: int, val_size: int, batch: int) -> dict | None:
    """The no-search schedule of the fastest kept pretrained model at its own input size, priced from the ranking's
    forward passes instead of timed training steps, when even that price buys fewer than
    :data:`~hf_quicktune.run.resolution.MIN_EPOCHS` epochs (the size then steps down: timing the own size would
    only confirm it, at the cost of its slow training steps, paid from the budget); else None.

    The ranking timed the loading and forward pass (no gradients) of ``ranking["n"]`` training images at the
    models' own size (``feature_seconds``); a training step adds the backward pass (the gradients of the
    activations and of the weights, each about a forward pass's work) and the update, so it is priced at
    :data:`TRAIN_OVER_FORWARD` x that per image: a lower bound on the epoch, an upper bound on the epochs
    (``native_bound``). At 1 x the bound was too loose to skip timing the own size where it was too slow anyway
    (benchmarks/native_bound.py). Only on a CPU, where a forward pass is slow next to the first batch's one-off
    costs: on an accelerator those costs (kernel loading, allocation) can dominate a ranking of a few batches and
    make the forward passes no bound at all (nor is the timing there expensive)."""
    from hf_quicktune.run.cost_prior import native_size
    from hf_quicktune.run.resolution import MIN_EPOCHS, epochs_trained, size_ladder
    from hf_quicktune.run.schedule import fastest_by, fit_max_epochs
    from hf_quicktune.train.device import default_accelerator

    table, n = ranking.get("table") or {}, int(ranking.get("n") or 0)
    timed = {c.name: (table.get(c.name) or {}).get("feature_seconds") for c in ranked}
    if not ranked or n <= 0 or not all(isinstance(v, int | float) and v > 0 for v in timed.values()):
        return None
    if default_accelerator().device.type != "cpu":
        return None
    seconds: dict[str, float] = {k: float(v) for k, v in timed.items() if v is not None}
    # the model the no-search fine-tune would train (the fastest by the models' own forward passes), priced
    # by its whole timed loop: an epoch loads and decodes its images too
    costs = {k: float(v) for k, v in ranking_costs(table, [c.name for c in ranked]).items() if v is not None}
    fastest = fastest_by(ranked, costs)  # every one priced: the loop's seconds of each were checked above
    side = max(int(dataset.meta.median_height or 0), int(dataset.meta.median_width or 0))
    if not size_ladder(native_size(fastest), side):
        return None
    per_batch = seconds[fastest.name] / n * batch
    priced = {"step_s": TRAIN_OVER_FORWARD * per_batch, "eval_step_s": per_batch, "checkpoint_s": 0.0}
    schedule = fit_max_epochs(budget_left(), fastest, dataset.num_classes, train_size, val_size, None,
                              least=settings.initial_epochs or 1, seed=settings.seed, measured=priced, search=False,
                              test_share=end_eval_share(settings, dataset), batch_size=batch,
                              workers=settings.workers)
    if epochs_trained(schedule) >= MIN_EPOCHS:
        return None
    schedule["native_bound"] = True
    if ranked[0] is not fastest:
        schedule["best_ranked"] = ranked[0].name
    return schedule


def _smaller_size(settings: RunSettings, state: RunState, budget_left: Callable[[], float], schedule: dict,
                  ranked: list, refit: Callable[[list], dict], candidates: dict, dataset, train_size: int,
                  val_size: int, batch: int, reporter) -> dict:
    """``schedule`` (a no-search fine-tune of the fastest kept pretrained model), fitted at a smaller input size
    when the budget buys too few epochs at the model's own (:func:`_fit_image_size`). A model that trains at
    its own size only (a pretrained LeViT) gives way to the next fastest kept one, timed again (``refit``);
    the schedule that trains the most epochs' worth of images is kept."""
    from hf_quicktune.run.resolution import epochs_trained

    best, current, kept = schedule, schedule, list(ranked)
    while current.get("model") in candidates and not current.get("search", True):
        fitted, fixed = _fit_image_size(settings, state, budget_left, current, candidates[current["model"]],
                                        dataset, train_size, val_size, batch)
        if epochs_trained(fitted) > epochs_trained(best):
            best = fitted
        kept = [c for c in kept if c.name != current["model"]]
        if not fixed or not kept:
            break
        reporter.message(f"{current['model']} trains at its own input size only: timing the next fastest kept "
                         "pretrained model")
        current = refit(kept)
    return best


def _fit_image_size(settings: RunSettings, state: RunState, budget_left: Callable[[], float], schedule: dict,
                    candidate, dataset, train_size: int, val_size: int, batch: int) -> tuple[dict, bool]:
    """``(schedule, fixed)``: a no-search schedule too short at the model's own size, fitted at a smaller one
    (:mod:`~hf_quicktune.run.resolution`; its ``image_size``), or ``schedule`` unchanged; ``fixed``: the model
    failed a timed step at a smaller size (it trains at its own only)."""
    from hf_quicktune.run.cost_prior import native_size
    from hf_quicktune.run.resolution import choose_image_size
    from hf_quicktune.run.schedule import TIMING_SHARE, fit_max_epochs, measure_reference

    failed: list[int] = []  # sizes whose timed step failed

    def fit_at(size: int) -> dict | None:
        try:  # a real training step at that size: a model built for one resolution fails it (a pretrained
            # LeViT's attention biases: ZooError; a forward pass that fails at that size: the others)
            measured = measure_reference(candidate, dataset.num_classes, size, seed=settings.seed,
                                         scratch_dir=state.dir, split=dataset.splits["train"],
                                         eval_split=dataset.splits["validation"], batch_size=batch,
                                         max_seconds=TIMING_SHARE * budget_left())
        except (AssertionError, RuntimeError, ValueError, ZooError) as err:
            logger.info("%s cannot train at %d px (%s): it keeps its own size", candidate.name, size, err)
            failed.append(size)
            return None
        return fit_max_epochs(budget_left(), candidate, dataset.num_classes, train_size, val_size, size,
                              least=settings.initial_epochs or 1, seed=settings.seed, measured=measured, search=False,
                              test_share=end_eval_share(settings, dataset), batch_size=batch)

    native = native_size(candidate)
    side = max(int(dataset.meta.median_height or 0), int(dataset.meta.median_width or 0))
    size, fitted = choose_image_size(schedule, native, side, fit_at)
    if size is None:
        return schedule, bool(failed)
    return _keep_best_ranked(schedule, fitted), bool(failed)


def _keep_best_ranked(schedule: dict, fitted: dict) -> dict:
    """``fitted`` (``schedule`` re-fitted at a smaller size) still naming the best-ranked model, and saying why
    it trains another one (``schedule.fit_schedule``: the fastest kept one), which the re-fit's reason omits."""
    best = schedule.get("best_ranked")
    if best is None:
        return fitted
    fitted["best_ranked"] = best
    if best != fitted.get("model"):
        fitted["why"] = (f"{fitted['why']} ({fitted.get('model')}: the fastest kept pretrained candidate, which trains "
                         f"the most epochs of this budget; {best} is ranked first)")
    return fitted


def ranking_costs(table: dict, names: list[str]) -> dict[str, float | None]:
    """The ranking's price of each of ``names`` (seconds of the same images' forward passes), which orders them by
    cost: its models' forward passes alone (``model_seconds``) where every one has them, else the whole timed
    loop (``feature_seconds``: a candidate whose extraction failed to time its passes, or a ranking.json written
    before they were recorded). The loop also loads and decodes the images, which costs every model the same and is a
    large share at small sizes, so its ratios read closer to 1 than the models' training steps: on builtin:mnist5k
    at 32 px Lite1 / Lite0 1.14 by the loop, 1.19 by the forward passes, 1.35 by the training steps; Lite2 1.17 /
    1.24 / 1.41 (benchmarks/rank_timing_noise.py, 2026-12-06)."""
    rows = [table.get(name) or {} for name in names]

    def usable(value) -> bool:
        return isinstance(value, int | float) and math.isfinite(value) and value > 0

    key = "model_seconds" if rows and all(usable(row.get("model_seconds")) for row in rows) else "feature_seconds"
    return {name: row.get(key) for name, row in zip(names, rows, strict=True)}


def reference_batch(settings: RunSettings, train_size: int) -> int:
    """The batch size of the configuration a practitioner would run (the search's by-hand pool member,
    ``search_setup.common_default``: 32, or the nearest the search space keeps for ``train_size`` images, which
    drops batches above a quarter of them). The schedule is timed at it: timing 20 images' epoch at batch 32
    priced a step the run never takes, and at 224 px took 38 s of a 30 s budget."""
    from hf_quicktune.run.schedule import REFERENCE_BATCH
    from hf_quicktune.run.search_setup import common_default, fit_batch_sizes
    from hf_quicktune.search.space import Space

    space = fit_batch_sizes(Space.from_yaml(str(resolve_recipe_file(settings.space, "search space"))), train_size)
    batch = common_default(space, "").get("batch_size") if "batch_size" in space else None
    return int(batch) if isinstance(batch, int) and batch > 0 else REFERENCE_BATCH


def refit_run_schedule(settings: RunSettings, state: RunState, search: Search, executor: Executor,
                       trial_id: int, reporter, train_images: int | None = None) -> None:
    """Re-fit the schedule of the one trial still training (the no-search run's fine-tune, or the incumbent the
    end of a search trains to the end of its schedule, :meth:`Search.finishing`) to the epochs it
    really gets (:mod:`~hf_quicktune.run.refit`): its length, or the share of the ``train_images`` its epochs
    train. It may grow up to the training set's :func:`~hf_quicktune.run.schedule.schedule_ceiling`, and the
    finishing incumbent's to :attr:`Search.finish_most <hf_quicktune.run.search_loop.Search>` x the searched
    schedule (:data:`~hf_quicktune.run.search_loop.FINISH_MARGIN`, or
    :data:`~hf_quicktune.run.search_loop.EARLY_FINISH_MOST` for a finishing several workers started early)."""
    from hf_quicktune.run.refit import last_length_change, refit_fine_tune
    from hf_quicktune.run.schedule import DEFAULT_MAX_EPOCHS, schedule_ceiling

    if search.budget.seconds is None:
        return
    left = search.budget.seconds - search.clock.elapsed - search.budget.reserve(search.steps)
    schedule = state.load_json(state.dir / "schedule.json") or {}
    last = last_length_change(schedule.get("refits") or [])
    most = schedule_ceiling(train_images) if train_images else DEFAULT_MAX_EPOCHS
    if search.searching:
        searched = int(schedule.get("searched_max_epochs") or settings.schedule_epochs)
        most = max(most, math.ceil(search.finish_most * searched))
    batch = search.pool[trial_id].get("batch_size") if trial_id < len(search.pool) else None
    change = refit_fine_tune(search.opt, search.steps, trial_id, left, settings.schedule_epochs, last_change=last,
                             fraction=settings.epoch_fraction, train_images=train_images, most=most,
                             batch_size=int(batch) if isinstance(batch, int) and batch > 0 else None)
    if change is not None:
        apply_refit(settings, state, search, executor, trial_id, reporter, change, left, schedule)
    price_planned_epochs(settings, search, trial_id, train_images)


def price_planned_epochs(settings: RunSettings, search: Search, trial_id: int, train_images: int | None) -> None:
    """Epochs of a share of the images are priced by what that share costs here (the budget would price the
    next one by the past ones, trained on another share, and refuse or start one that does not fit)."""
    from hf_quicktune.run.refit import measured_epoch_parts

    if not train_images or settings.epoch_fraction >= 1.0:
        search.budget = dataclasses.replace(search.budget, planned={})
        return
    parts = measured_epoch_parts(search.steps, trial_id, train_images)
    if parts is not None:
        full, rest = parts
        planned = {**search.budget.planned, trial_id: rest + settings.epoch_fraction * full}
        search.budget = dataclasses.replace(search.budget, planned=planned)


def apply_refit(settings: RunSettings, state: RunState, search: Search, executor: Executor,
                trial_id: int, reporter, change: dict, left: float, schedule: dict) -> None:
    """Keep a re-fit's new schedule (settings.json first, then schedule.json, the optimizer, the engine)."""
    n = change["max_epochs"]
    fraction = change.get("epoch_fraction")
    if search.searching:  # the length every other trial of the search was compared on
        schedule.setdefault("searched_max_epochs", settings.schedule_epochs)
    settings.max_epochs = n  # settings.json first: a resumed run builds its trials from it
    if fraction is not None:
        settings.epoch_fraction = fraction
    state.save_settings(settings.to_dict())
    schedule.setdefault("fitted_max_epochs", schedule.get("max_epochs"))
    schedule["max_epochs"] = n
    if fraction is not None:
        schedule.setdefault("fitted_epoch_fraction", schedule.get("epoch_fraction", 1.0))
        schedule["epoch_fraction"] = fraction
    schedule.setdefault("refits", []).append(change)
    state.save_json(state.dir / "schedule.json", schedule)
    search.opt.set_max_epochs(n)
    search.max_epochs = n
    state.save_optimizer(search.opt.state_dict())
    executor.reschedule(trial_id, search.pool[trial_id], n, fraction)  # its engine was built on the old plan
    done = change["after_epoch"]
    who = f"the incumbent, trial {trial_id}," if search.searching else "the fine-tune"
    if fraction is None:
        reporter.message(f"schedule re-fitted after epoch {done}: an epoch takes {change['epoch_s']:.1f}s here and "
                         f"the {left:.0f}s left buy {n - done} more, so {who} trains {n} epochs (was "
                         f"{change['from']})")
        return
    text = (f"schedule re-fitted after epoch {done}: the {left:.0f}s left end with {n - done} more epoch"
            f"{'s' if n - done != 1 else ''} of {share_percent(fraction)} of the training images each (was "
            f"{change['from'] - done} of {share_percent(change['fraction_from'])})")
    if n == change["from"]:  # only the share moved (timing noise, most epochs of a small run): run.log only
        logger.info(text)
    else:
        reporter.message(text)
