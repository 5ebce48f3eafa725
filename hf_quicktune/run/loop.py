"""The orchestrator: dataset + zoo -> zero-cost ranking -> ask/tell search driving the trial engine
under a wall-clock budget -> incumbent (tested, exported, published).

Only the loop lives here; its parts are in their own modules: the run directory, lock, log file
and Ctrl-C (:mod:`~hf_quicktune.run.session`), the stages before the search
(:mod:`~hf_quicktune.run.stages`, :mod:`~hf_quicktune.run.search_setup`), the clock and stop rules
(:mod:`~hf_quicktune.run.budget`), the trial engines, their cache and the resume bookkeeping
(:mod:`~hf_quicktune.run.trials`), and the end of the run (:mod:`~hf_quicktune.run.finalize`).
"""

from __future__ import annotations

import logging
from typing import Any

from hf_quicktune.errors import ConfigError, QuickTuneError
from hf_quicktune.run.budget import Budget, Clock
from hf_quicktune.run.session import (
    InterruptGuard,
    attach_log_file,
    crashed,
    detach_log_file,
    prepare_state,
)
from hf_quicktune.run.settings import RunSettings
from hf_quicktune.run.stages import cost_prior as _cost_prior
from hf_quicktune.run.stages import load_dataset as _load_dataset
from hf_quicktune.run.stages import rank_candidates as _rank
from hf_quicktune.run.state import RunState
from hf_quicktune.run.trials import OK, Outcome, TrialRunner, reconcile, step_record, with_progress

logger = logging.getLogger(__name__)

__all__ = ["run", "snapshot", "tell_outcome"]


def snapshot(opt, pool, steps: list[dict[str, Any]], clock: Clock, budget_s: float | None, max_epochs: int) -> dict:
    counts = {"started": 0, "paused": 0, "finished": 0, "failed": 0}
    for st in opt.trials.values():
        if st.epochs == 0 and st.status == OK:
            continue
        counts["started"] += 1
        if st.status != OK:
            counts["failed"] += 1
        elif st.epochs >= max_epochs:
            counts["finished"] += 1
        else:
            counts["paused"] += 1
    best = opt.best()
    incumbent = None
    if best is not None:
        tid, epoch, score = best
        incumbent = {"trial_id": tid, "epoch": epoch, "score": score, "model": pool[tid].get("model"),
                     "config": pool[tid]}
    return {"elapsed_s": clock.elapsed, "budget_s": budget_s, "counts": counts, "steps": len(steps),
            "incumbent": incumbent, "last_steps": steps[-5:]}


def tell_outcome(opt, state: RunState, pool: list[dict[str, Any]], outcome: Outcome, clock: Clock,
                 n_before: int) -> list[dict[str, Any]]:
    """Tell the optimizer every finished epoch of ``outcome``, log them to steps.jsonl (in that order,
    see :mod:`~hf_quicktune.run.state`) and return the new steps."""
    tid, config = outcome.trial_id, pool[outcome.trial_id]
    wall = outcome.wall_s / max(1, len(outcome.records))
    new = []
    for rec in outcome.records:
        status = rec.get("status", OK)
        opt.tell(tid, int(rec["epoch"]), rec.get("val_top1") if status == OK else None,
                 float(rec.get("train_seconds", 0.0)) + float(rec.get("eval_seconds", 0.0)), status)
        step = step_record(n_before + len(new) + 1, tid, config, rec, clock.elapsed)
        step.update(wall_s=round(wall, 3), eval_s=float(rec.get("eval_seconds", 0.0)))
        new.append(step)
        if status != OK:
            from hf_quicktune.run.outcome import log_trial_failure

            log_trial_failure(logger, tid, config.get("model"), status, rec["epoch"], rec.get("message"))
            break
    state.save_optimizer(opt.state_dict())
    state.append_steps(new)
    return new


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
    state.save_progress(progress)
    saved_logging = attach_log_file(state)
    interrupt = InterruptGuard()
    try:
        return _run(settings, state, clock, progress, reporter, resume, interrupt)
    except KeyboardInterrupt:
        progress["elapsed_s"] = clock.elapsed
        state.save_progress(progress)
        reporter.message(f"interrupted after {len(state.steps())} epoch-steps; everything up to the last "
                         f"completed epoch is saved. Continue with: hf-quicktune run --output-dir {state.dir} --resume")
        raise
    except QuickTuneError:
        raise
    except Exception as err:  # a bug, not the user's input: traceback to run.log, one paragraph to the caller
        progress["elapsed_s"] = clock.elapsed
        state.save_progress(progress)
        raise crashed(err, state) from err
    finally:
        interrupt.restore()
        reporter.close()
        detach_log_file(saved_logging)


def _prepare_search(settings: RunSettings, state: RunState, clock: Clock, progress: dict, reporter, resume: bool):
    """Dataset, zoo, ranking, pool and optimizer (restored and reconciled on resume)."""
    from hf_quicktune.zoo import allow_pickle, load_zoo

    reporter.message(f"{'resuming' if resume else 'starting'} run in {state.dir} "
                     f"({clock.before:.0f}s used before)" if resume else f"starting run in {state.dir}")
    dataset = _load_dataset(settings)
    reporter.message(f"dataset {settings.dataset}: {dataset.meta.num_train} train images, "
                     f"{dataset.num_classes} classes")
    zoo = load_zoo(settings.zoo)
    if settings.allow_pickle:
        allow_pickle(zoo)
    candidates = {c.name: c for c in zoo}
    if not candidates:
        raise ConfigError(f"zoo {settings.zoo!r} has no candidate usable here (weights neither cached nor "
                          "downloadable?). Pick another --zoo, e.g. `--zoo offline` (no network needed); "
                          "`hf-quicktune zoo` lists them.")
    ranking = _rank(settings, state, dataset, list(candidates.values()), reporter)
    reporter.message(f"kept top-{len(ranking['kept'])}: {', '.join(ranking['kept'])}")
    progress["elapsed_s"] = clock.elapsed
    state.save_progress(progress)
    train_size = min(dataset.meta.num_train, settings.train_limit or dataset.meta.num_train)
    from hf_quicktune.run import search_setup
    from hf_quicktune.run.pool import scratch_names

    prior, prior_label = search_setup.load_prior(settings)
    reporter.message(f"prior: {prior_label or 'none'}")
    meta = dataset.meta.to_dict()
    features = search_setup.model_features(ranking, candidates, settings.image_size)
    pool = search_setup.build_pool(settings, state, ranking["kept"], train_size, prior=prior, meta=meta,
                                   features=features, scratch=scratch_names(candidates))
    cost = _cost_prior(settings, state, pool, candidates, dataset, train_size, reporter)
    opt = search_setup.make_optimizer(settings, pool, prior=prior, meta=meta, features=features,
                                      num_classes=dataset.num_classes, cost_prior=cost)
    saved = state.load_optimizer()
    if saved is not None:
        opt.load_state_dict(saved)
    recovered = reconcile(opt, state, pool, clock)
    if recovered:
        logger.info("recovered %d epoch-steps from trial curves", len(recovered))
        state.save_optimizer(opt.state_dict())
    return dataset, candidates, ranking, pool, opt


def _run(settings: RunSettings, state: RunState, clock: Clock, progress: dict, reporter, resume: bool,
         interrupt: InterruptGuard) -> dict:
    dataset, candidates, ranking, pool, opt = _prepare_search(settings, state, clock, progress, reporter, resume)
    steps = state.steps()
    budget = Budget.from_settings(settings)
    runner = TrialRunner(settings, state, candidates, dataset)
    stop = None
    while True:
        interrupt.check()
        stop = budget.stop_reason(opt, steps, clock)
        if stop:
            break
        suggestion = opt.ask()
        if suggestion is None:
            stop = "search space exhausted"
            break
        stop = budget.stop_reason(opt, steps, clock, suggestion)
        if stop:
            break
        tid = suggestion.trial_id
        told = opt.trials[tid].epochs if tid in opt.trials else 0
        outcome = runner.run(tid, pool[tid], suggestion.epoch, told, should_stop=budget.should_stop(steps, clock),
                             callback=with_progress(None, reporter, tid, pool[tid]))
        steps += tell_outcome(opt, state, pool, outcome, clock, len(steps))
        if outcome.stopped:
            stop = "budget used (the unfinished epoch was discarded; its trial can continue with --resume)"
            break
        progress.update(elapsed_s=clock.elapsed, steps=len(steps))
        state.save_progress(progress)
        reporter.step(snapshot(opt, pool, steps, clock, budget.seconds, settings.max_epochs))
        interrupt.check()
    reporter.message(f"search stopped: {stop}")
    runner.release_all()
    from hf_quicktune.run.finalize import finalize

    summary = finalize(settings, state, opt, pool, candidates, dataset, ranking, steps, clock, stop, reporter)
    progress.update(elapsed_s=clock.elapsed, steps=len(steps), finished=True)
    state.save_progress(progress)
    return summary
