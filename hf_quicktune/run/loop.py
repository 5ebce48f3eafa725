"""The orchestrator: dataset + zoo -> zero-cost ranking -> ask/tell search driving the trial engine
under a wall-clock budget -> incumbent (tested, exported, published).

Only the run's assembly lives here; its parts are in their own modules: the search loop itself and what each told
job leaves behind (:mod:`~hf_quicktune.run.search_loop`), the run directory, lock, log file and Ctrl-C
(:mod:`~hf_quicktune.run.session`), the stages before the search
(:mod:`~hf_quicktune.run.stages`, :mod:`~hf_quicktune.run.search_setup`), the clock and stop rules
(:mod:`~hf_quicktune.run.budget`), the schedule's fit and re-fits (:mod:`~hf_quicktune.run.plan`), the trial
engines, their cache and the resume bookkeeping (:mod:`~hf_quicktune.run.trials`), and the end of the run (:mod:`~hf_quicktune.run.finalize`).
The run marks each stage it enters on :class:`~hf_quicktune.run.stage_clock.StageClock` (where the budget went).
"""

from __future__ import annotations

import dataclasses
import logging
import signal
from typing import Any

from hf_quicktune.errors import DISK_FULL, ConfigError, QuickTuneError, StorageError
from hf_quicktune.run.budget import Budget, Clock
from hf_quicktune.run.executor import Executor, InProcessExecutor
from hf_quicktune.run.outcome import imbalance_note, validation_note
from hf_quicktune.run.plan import fit_run_schedule, price_planned_epochs, refit_run_schedule
from hf_quicktune.run.search_loop import Search, snapshot, tell_outcome
from hf_quicktune.run.session import (
    RECORD_LOGGER,
    InterruptGuard,
    Terminated,
    attach_log_file,
    crashed,
    detach_log_file,
    prepare_state,
)
from hf_quicktune.run.settings import RunSettings
from hf_quicktune.run.stage_clock import StageClock
from hf_quicktune.run.stages import cost_prior as _cost_prior
from hf_quicktune.run.stages import cost_timings as _cost_timings
from hf_quicktune.run.stages import end_eval_share
from hf_quicktune.run.stages import load_dataset as _load_dataset
from hf_quicktune.run.stages import rank_candidates as _rank
from hf_quicktune.run.state import RunState
from hf_quicktune.run.trials import TrialRunner, reconcile, with_progress

logger = logging.getLogger(__name__)

__all__ = ["run", "snapshot", "tell_outcome"]


def search_meta(meta: dict[str, int], train_size: int) -> dict[str, float]:
    """The dataset's meta-features as the search sees them: ``num_train`` the images an epoch trains on (a
    ``--train-limit``'s, not those loaded: the prior's curves are of epochs over a training set that size, and a
    dataset read in part holds more than the limit and fewer than the dataset)."""
    return {**meta, "num_train": int(train_size)}


def run(settings: RunSettings, *, resume: bool = False, given: set[str] | None = None, reporter=None,
        started_at: float | None = None) -> dict[str, Any]:
    """Run (or resume) a search; returns the summary (also written to ``summary.json``).

    ``started_at`` (a ``time.monotonic()`` value) is when the budget started, e.g. when the CLI
    command began; default now."""
    from hf_quicktune.run.progress import PlainReporter

    reporter = reporter or PlainReporter()
    settings, state = prepare_state(settings, resume, given)
    try:
        return _locked_run(settings, state, resume, reporter, started_at)
    finally:
        state.unlock()


def _locked_run(settings: RunSettings, state: RunState, resume: bool, reporter, started_at: float | None) -> dict:
    progress = state.load_progress()
    clock = Clock(progress.get("elapsed_s", 0.0), started_at)
    progress["sessions"] = int(progress.get("sessions", 0)) + 1
    stages = StageClock(clock, progress)  # where the budget goes, saved with the progress
    state.save_progress(progress)
    from hf_quicktune.run.progress import RecordedReporter

    saved_logging = attach_log_file(state)
    reporter = RecordedReporter(reporter, logging.getLogger(RECORD_LOGGER))
    interrupt = InterruptGuard()
    try:
        return _run(settings, state, clock, stages, progress, reporter, resume, interrupt)
    except (KeyboardInterrupt, SystemExit) as stop:
        if isinstance(stop, SystemExit) and stop.code != signal.SIGTERM:
            raise
        progress["elapsed_s"] = clock.elapsed
        state.save_progress(progress)
        # Ray's get re-raises a plain KeyboardInterrupt; SIGTERM inside ray.init is its handler's sys.exit(15)
        term = isinstance(stop, Terminated | SystemExit) or interrupt.requested is Terminated
        how = "terminated (SIGTERM)" if term else "interrupted"
        reporter.message(f"{how} after {len(state.steps())} epoch-steps; everything up to the last "
                         f"completed epoch is saved. Continue with: hf-quicktune run --output-dir {state.dir} --resume")
        if term and not isinstance(stop, Terminated):
            raise Terminated() from stop
        raise
    except QuickTuneError as err:  # the user's input: run.log says why the run stopped, as the terminal does
        if isinstance(err, StorageError):
            _save_progress_if_possible(state, progress, clock)
            err.fix = _disk_full_fix(state)
        logger.info("run stopped: %s", err)  # INFO: the console shows it once, as the error
        raise
    except Exception as err:  # a bug, not the user's input: traceback to run.log, one paragraph to the caller
        if isinstance(err, OSError) and err.errno in DISK_FULL:  # a full disk is not a bug
            _save_progress_if_possible(state, progress, clock)
            full = StorageError.writing(err.filename or state.dir, err)
            full.fix = _disk_full_fix(state)
            raise full from err
        progress["elapsed_s"] = clock.elapsed
        state.save_progress(progress)
        raise crashed(err, state) from err
    finally:
        interrupt.restore()
        reporter.close()
        detach_log_file(saved_logging)


def _disk_full_fix(state: RunState) -> str:
    return (f"Free space there, or move {state.dir} to a larger disk; everything up to the last completed epoch is "
            f"saved: continue with hf-quicktune run --output-dir {state.dir} --resume")


def _save_progress_if_possible(state: RunState, progress: dict, clock: Clock) -> None:
    """Count the session's time for a resume, unless the full disk refuses that too (then its last epoch's is kept)."""
    progress["elapsed_s"] = clock.elapsed
    try:
        state.save_progress(progress)
    except OSError:
        pass


def _tell_untold(opt: Any, state: RunState, pool: list[dict], clock: Clock) -> None:
    """An interrupt between an epoch's curve line and its step left that epoch untold: tell it now, as the resume
    would (:func:`~hf_quicktune.run.trials.reconcile`), so that the steps log and the optimizer's saved state hold
    every trained epoch when the run stops. The optimizer is first reloaded from its last saved state: the
    interrupt may have landed inside a ``tell``. A second interrupt leaves it to the resume."""
    try:
        saved = state.load_optimizer()
        if saved is None:
            return
        opt.load_state_dict(saved)
        recovered = reconcile(opt, state, pool, clock)
        if recovered:
            state.save_optimizer(opt.state_dict())
            logger.info("told %d epoch-step(s) the interrupt left untold", len(recovered))
    except KeyboardInterrupt:
        logger.info("interrupted again: the resume tells the last epoch")


def _pin_initial_epochs(settings: RunSettings, state: RunState, resolved: int) -> None:
    """Keep the epochs a new trial first trains in ``settings.json``. Without ``--initial-epochs`` they are the
    prior's learnt share of the schedule, and a no-search run's re-fits change the schedule's length
    (run/refit.py): resolved again on resume, they no longer matched the optimizer's saved state, which counts
    new trials' first epochs with them, and the run could not resume. A run stored before this was kept
    resumes with its optimizer's value."""
    saved = state.load_optimizer()
    settings.initial_epochs = int(saved.get("initial_epochs", 1)) if saved else resolved
    state.save_settings(settings.to_dict())


def _prepare_search(settings: RunSettings, state: RunState, clock: Clock, stages: StageClock, progress: dict, reporter,
                    resume: bool):
    """Dataset, zoo, ranking, pool and optimizer (restored and reconciled on resume)."""
    from hf_quicktune.run import search_setup
    from hf_quicktune.run.pool import scratch_names
    from hf_quicktune.zoo import allow_pickle, load_zoo

    reporter.message(f"{'resuming' if resume else 'starting'} run in {state.dir} "
                     f"({clock.before:.0f}s used before)" if resume else f"starting run in {state.dir}")
    stages.enter("prior_zoo")
    prior, prior_label = search_setup.load_prior(settings)  # first: a bad --prior fails in seconds
    reporter.message(f"prior: {prior_label or 'none'}")
    zoo = load_zoo(settings.zoo)  # before the dataset too: a mistyped --zoo fails before a long download
    if settings.allow_pickle:
        allow_pickle(zoo)
    candidates = {c.name: c for c in zoo}
    if not candidates:
        raise ConfigError(f"zoo {settings.zoo!r} has no candidate usable here (weights neither cached nor "
                          "downloadable?). Pick another --zoo, e.g. `--zoo offline` (no network needed); "
                          "`hf-quicktune zoo` lists them.")
    if settings.ray_address:  # before the dataset and the ranking: a cluster whose nodes do not share --output-dir
        from hf_quicktune.run.ray_executor import check_cluster_storage

        check_cluster_storage(settings.ray_address, str(state.dir.resolve()))
    stages.enter("dataset")
    dataset = _load_dataset(settings, reporter)
    reporter.message(f"dataset {settings.dataset}: {dataset.meta.num_train} train images, "
                     f"{dataset.num_classes} classes")
    note = validation_note(len(dataset.validation), settings.eval_limit)
    if note:
        reporter.message(note)
    from collections import Counter

    from hf_quicktune.data.columns import column_values

    skewed = imbalance_note(Counter(column_values(dataset.train, "label")), dataset.class_names, settings.metric)
    if skewed:
        reporter.message(skewed)
    stages.enter("ranking")
    ranking = _rank(settings, state, dataset, list(candidates.values()), reporter)
    reporter.message(f"kept top-{len(ranking['kept'])}: {', '.join(ranking['kept'])}")
    progress["elapsed_s"] = clock.elapsed
    state.save_progress(progress)
    train_size = min(dataset.meta.num_train, settings.train_limit or dataset.meta.num_train)
    meta = search_meta(dataset.meta.to_dict(), train_size)
    stages.enter("schedule")
    if settings.max_epochs is None:  # fitted to the budget once (the input size too); settings.json keeps it
        fit_run_schedule(settings, state, clock, ranking, candidates, dataset, train_size, reporter)
    stages.enter("setup")
    features = search_setup.model_features(ranking, candidates, settings.image_size, scores=settings.score_features)
    if settings.initial_epochs is None:  # resolved once and kept (see _pin_initial_epochs)
        _pin_initial_epochs(settings, state, search_setup.initial_epochs(settings, prior))
    schedule = state.load_json(state.dir / "schedule.json") or {}
    searching = bool(schedule.get("search", True))
    # a budget too small to search trains one configuration: no other candidate's cost is needed
    timed = _cost_timings(settings, state, ranking["kept"], candidates, dataset, reporter) if searching else None
    names = list(ranking["kept"])
    if not searching:  # the model the schedule was fitted to (the fastest kept) is the by-hand one
        chosen = schedule.get("model")
        names = [chosen] + [n for n in names if n != chosen] if chosen in names else names
    pool = search_setup.build_pool(settings, state, names, train_size, prior=prior, meta=meta,
                                   features=features, scratch=scratch_names(candidates), timed=timed,
                                   candidates=candidates, by_hand_first=not searching)
    cost = _cost_prior(settings, state, pool, candidates, dataset, train_size, timed)
    chance = None  # 1 / classes; macro F1's chance is lower on imbalanced classes (the validation split's shares)
    if settings.metric == "macro_f1":
        from hf_quicktune.run.outcome import majority_baseline

        chance = majority_baseline(dataset, settings.eval_limit, settings.seed)["chance"]["macro_f1"]
    opt = search_setup.make_optimizer(settings, pool, prior=prior, meta=meta, features=features, search=searching,
                                      num_classes=dataset.num_classes, cost_prior=cost, chance=chance)
    saved = state.load_optimizer()
    if saved is not None:
        opt.load_state_dict(saved)
    recovered = reconcile(opt, state, pool, clock)
    if recovered:
        logger.info("recovered %d epoch-steps from trial curves", len(recovered))
        state.save_optimizer(opt.state_dict())
    return dataset, candidates, ranking, pool, opt


def make_executor(settings: RunSettings, state: RunState, candidates: dict, dataset, reporter, *,
                  searching: bool = True) -> Executor:
    """In-process (one job at a time) unless ``--workers`` > 1 or ``--ray-address`` asks for Ray. A budget too
    small to search (``searching`` False, run/schedule.py) trains one configuration: local workers would only
    run trials that cannot beat it beside it, and on CPUs split the cores it needs (a 2-minute digits run with
    ``--workers 2`` fine-tuned 3 epochs on one thread where one worker trains 5 on two), so it trains
    in-process; a cluster (``--ray-address``) still gets the job."""
    if settings.ray_address or (settings.workers > 1 and searching):
        from hf_quicktune.run.ray_executor import RayExecutor

        return RayExecutor(settings, state, candidates, dataset, reporter=reporter)
    if settings.workers > 1:
        reporter.message(f"--workers {settings.workers}: a budget too small to search trains one configuration, "
                         "so it trains in this process (no Ray runtime); a larger --budget searches on the workers")
    runner = TrialRunner(settings, state, candidates, dataset)
    return InProcessExecutor(runner, progress=lambda tid, config: with_progress(None, reporter, tid, config))


def _run(settings: RunSettings, state: RunState, clock: Clock, stages: StageClock, progress: dict, reporter,
         resume: bool, interrupt: InterruptGuard) -> dict:
    dataset, candidates, ranking, pool, opt = _prepare_search(settings, state, clock, stages, progress, reporter,
                                                              resume)
    schedule = state.load_json(state.dir / "schedule.json") or {}
    budget = dataclasses.replace(Budget.from_settings(settings), test_share=end_eval_share(settings, dataset),
                                 eval_seconds=float(schedule.get("eval_s") or 0.0))
    if not schedule.get("search", True) and schedule.get("epoch_seconds"):
        # the one fine-tune (pool member 0) is the configuration the schedule's fit timed: its first epoch is
        # priced by that, not by the prior's cost model (which priced a 26 s epoch past a 60 s budget)
        budget = dataclasses.replace(budget, measured={0: float(schedule["epoch_seconds"])})
    executor = make_executor(settings, state, candidates, dataset, reporter, searching=schedule.get("search", True))
    interrupt.install()  # ray.init took SIGTERM (its driver exits or its core worker aborts on it): ours stop the run
    interrupted = False
    try:
        search = Search(opt, state, pool, executor, budget, clock, state.steps(), progress, reporter,
                         settings.schedule_epochs)
        search.searching = bool(schedule.get("search", True))
        search.val_images = min(len(dataset.validation), settings.eval_limit or len(dataset.validation)) or None
        # a schedule the run fitted to the budget is re-fitted to what its one training trial really gets: the
        # no-search fine-tune's, and a search's finishing incumbent (Search.refits_finish)
        if "search" in schedule and settings.budget_s is not None:
            train_images = min(dataset.meta.num_train, settings.train_limit or dataset.meta.num_train)
            search.refit = lambda tid: refit_run_schedule(settings, state, search, executor, tid, reporter,
                                                          train_images)
            for tid in sorted({s["trial_id"] for s in search.steps}):  # a resumed run's epochs of a share
                price_planned_epochs(settings, search, tid, train_images)
        stages.enter("search")
        stop = search.run(interrupt)
        # the budget is wall-clock; worker-seconds (GPU-seconds on GPUs) sum the workers' busy time
        workers = {"workers": executor.capacity, "worker_seconds": search.worker_seconds}
        if executor.device == "gpu":
            workers["gpu_seconds"] = search.worker_seconds
    except (KeyboardInterrupt, SystemExit) as stop_signal:  # Ctrl-C, SIGTERM (Ray's handler: SystemExit(15))
        interrupted = not isinstance(stop_signal, SystemExit) or stop_signal.code == signal.SIGTERM
        raise
    finally:
        executor.shutdown()
        if interrupted:
            _tell_untold(opt, state, pool, clock)
    reporter.message(f"search stopped: {stop}")
    from hf_quicktune.run.finalize import finalize

    stages.enter("end")
    summary = finalize(settings, state, opt, pool, candidates, dataset, ranking, search.steps, clock, stop,
                       reporter, extra=workers, stages=stages)
    progress.update(elapsed_s=clock.elapsed, steps=len(search.steps), worker_s=search.worker_seconds, finished=True)
    state.save_progress(progress)
    return summary
