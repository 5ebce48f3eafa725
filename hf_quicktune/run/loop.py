"""The orchestrator: dataset + zoo -> zero-cost ranking -> ask/tell search driving the trial engine
under a wall-clock budget -> incumbent (tested, exported, published).

It only wires stages together and keeps the run's files (:mod:`hf_quicktune.run.state`); each
stage does its own work. The budget counts everything from the start of the call (dataset
loading, ranking, the optimizer's own overhead, training, evaluation), and continues across
``--resume``.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from hf_quicktune import faults
from hf_quicktune.errors import ConfigError, QuickTuneError, TrainError
from hf_quicktune.run.settings import RunSettings
from hf_quicktune.run.state import RunState

logger = logging.getLogger(__name__)

OK = "ok"
#: images per batch of the zero-cost ranking's forward passes (rank's default)
RANK_BATCH = 64
#: trial engines kept in memory (a paused trial is rebuilt from its checkpoint when evicted)
TRIAL_CACHE = 3


class Clock:
    """Seconds used by the run: what earlier sessions used plus this session's wall time."""

    def __init__(self, before: float = 0.0, t0: float | None = None):
        self.before = float(before)
        self.t0 = time.monotonic() if t0 is None else float(t0)

    @property
    def elapsed(self) -> float:
        return self.before + time.monotonic() - self.t0


def default_output_dir(settings: RunSettings) -> str:
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in str(settings.dataset).split(":")[-1])
    return str(Path("runs") / f"{slug.strip('-') or 'run'}-{time.strftime('%Y%m%d-%H%M%S')}")


def prepare_state(settings: RunSettings, resume: bool, given: set[str] | None = None) -> tuple[RunSettings, RunState]:
    """Create (or, with ``resume``, re-open) the run directory and lock it for this process
    (:class:`~hf_quicktune.run.state.RunLock`; release with ``state.unlock()``). Returns the settings in force.

    A resumed run keeps its stored settings. Every option named in ``given`` is either applied
    (:attr:`RunSettings.RESUMABLE_OVERRIDES`: limits, publishing, quality gate, acquisition, horizon;
    recorded in settings.json and logged) or, when it differs from the stored run, refused with the
    reason (:attr:`RunSettings.RESUME_REFUSALS`).
    """
    if not settings.output_dir:
        if resume:
            raise ConfigError("--resume needs the --output-dir of the run to continue.")
        settings.output_dir = default_output_dir(settings)
    state = RunState(settings.output_dir)
    if resume:
        if not state.exists():
            raise ConfigError(f"--resume: no run found in {state.dir} (settings.json is missing). "
                              "Check --output-dir, or drop --resume to start a new run.")
        state.lock()
        try:
            return _resume_settings(settings, state, given or set()), state
        except BaseException:
            state.unlock()
            raise
    if state.dir.exists() and state.user_files():
        state.lock()  # a run still writing there is named as such
        state.unlock()
        raise ConfigError(f"{state.dir} already holds files. Pass --resume to continue that run, or choose "
                          "another --output-dir.")
    state.dir.mkdir(parents=True, exist_ok=True)
    state.lock()
    if state.user_files():  # another process created the run between the check and the lock
        state.unlock()
        raise ConfigError(f"{state.dir} already holds files. Pass --resume to continue that run, or choose "
                          "another --output-dir.")
    state.save_settings(settings.to_dict())
    return settings, state


def _resume_settings(settings: RunSettings, state: RunState, given: set[str]) -> RunSettings:
    stored = RunSettings(**state.load_settings())
    applied = []
    for key in sorted(given):
        if key == "output_dir" or not hasattr(stored, key):
            continue
        new, old = getattr(settings, key), getattr(stored, key)
        if new == old:
            continue
        if key in RunSettings.RESUMABLE_OVERRIDES:
            setattr(stored, key, new)
            applied.append(f"{key} {old!r} -> {new!r}")
            continue
        reason = RunSettings.RESUME_REFUSALS.get(key, "the trials on disk were trained with it")
        raise ConfigError(
            f"--resume: the run in {state.dir} has {key}={old!r}, the command line says {new!r}, and {key} "
            f"cannot change on resume: {reason}. Only {', '.join(RunSettings.RESUMABLE_OVERRIDES)} can; drop "
            f"the option, or start a new run in another --output-dir.")
    stored.output_dir = settings.output_dir
    stored.validate()
    if applied:
        logger.warning("resume: applied %s", "; ".join(applied))
        record = stored.to_dict()
        record["output_dir"] = state.load_settings().get("output_dir", record["output_dir"])
        state.save_settings(record)
    return stored


# ---------------------------------------------------------------------------------------------
# stages (thin adapters over the stage APIs)


def _load_dataset(settings: RunSettings):
    from hf_quicktune.data import load
    from hf_quicktune.data.options import load_kwargs

    return load(settings.dataset, seed=settings.seed, **load_kwargs(settings.to_dict()))


def _rank(settings: RunSettings, state: RunState, dataset, candidates, reporter) -> dict[str, Any]:
    """Zero-cost scores of every candidate (cached in ranking.json); keeps the top-k."""
    cached = state.load_json(state.ranking_path)
    if cached is not None:
        return cached
    names = [c.name for c in candidates]
    if len(candidates) <= 1:
        ranking = {"table": {n: {} for n in names}, "order": names, "scores": []}
    else:
        from hf_quicktune.rank import rank

        reporter.message(f"ranking {len(candidates)} candidates without training ({', '.join(settings.scores)})")
        faults.point("rank")
        shown = getattr(reporter, "progress", None)
        result = rank(dataset, candidates, scores=tuple(settings.scores), n=settings.rank_samples,
                      image_size=settings.image_size, batch_size=RANK_BATCH,
                      progress=None if shown is None else lambda task, done, total: shown(
                          f"ranking: {task}", done, total, images=min(done * RANK_BATCH, settings.rank_samples)))
        ranking = result.to_dict()  # NaN (score not applicable) -> None
    ranking["kept"] = ranking["order"][: settings.top_k]
    faults.point("rank.save")
    state.save_json(state.ranking_path, ranking)
    return ranking


def _cost_prior(settings: RunSettings, state: RunState, pool, candidates, dataset, train_size: int, reporter):
    """Per-pool-member seconds-per-epoch predictions (``--estimate-cost``), or None when not asked for."""
    if not settings.estimate_cost:
        return None
    from hf_quicktune.run.cost_prior import load_or_compute

    reporter.message("timing one training step per candidate for the cost prior (--estimate-cost)")
    return load_or_compute(state, pool, candidates, dataset.num_classes, train_size, settings.image_size,
                           seed=settings.seed)


def _make_trial(settings: RunSettings, state: RunState, trial_id: int, config: dict, candidate, dataset,
                keep_in_memory: bool = False):
    """The trial engine for pool member ``trial_id`` (continues from its checkpoint when there is one).

    ``keep_in_memory``: model and optimizer stay loaded between ``advance`` calls (the run keeps a
    few recently used trials so freeze-thaw continuations skip the checkpoint reload)."""
    from hf_quicktune.run.search_setup import scale_schedule
    from hf_quicktune.train import Trial

    config = scale_schedule(config, settings.max_epochs)
    return Trial(state.trial_dir(trial_id), candidate, config, dataset, max_epochs=settings.max_epochs,
                 image_size=settings.image_size, train_limit=settings.train_limit,
                 eval_limit=settings.eval_limit, seed=settings.seed + trial_id, keep_in_memory=keep_in_memory)


def _with_progress(callback, reporter, trial_id: int, config: dict[str, Any]):
    """``callback`` (the budget's, may be None) plus the reporter's progress bar on the engine's ``train_step``
    events: steps of the epoch, images/s (steps x batch size) and ETA."""
    shown = getattr(reporter, "progress", None)
    if shown is None:
        return callback
    batch = int(config.get("batch_size") or 0) or None

    def both(event: str, info: dict) -> None:
        if event == "train_step":
            shown(f"trial {trial_id} ({config.get('model')}) epoch {info['epoch']}", info["step"], info["steps"],
                  images=info["step"] * batch if batch else None)
        if callback is not None:
            callback(event, info)

    return both


def trial_curve(state: RunState, trial_id: int) -> list[dict[str, Any]]:
    """The trial's epoch records as written by the train engine (empty when it never ran)."""
    d = state.trial_dir(trial_id)
    if not d.exists():
        return []
    from hf_quicktune.train import load_curve

    return [_record_dict(r) for r in load_curve(d)]


def _record_dict(rec) -> dict[str, Any]:
    if isinstance(rec, dict):
        return dict(rec)
    if hasattr(rec, "to_dict"):
        return rec.to_dict()
    import dataclasses

    return dataclasses.asdict(rec)


# ---------------------------------------------------------------------------------------------
# bookkeeping


def reconcile(opt, state: RunState, pool: list[dict[str, Any]], clock: Clock) -> list[dict[str, Any]]:
    """Tell the optimizer (and the steps log) every curve epoch it has not seen (a kill between writes).

    Returns the steps that were recovered. Never trains anything.
    """
    logged = {(s["trial_id"], s["epoch"]) for s in state.steps()}
    recovered: list[dict[str, Any]] = []
    n_steps = len(logged)
    if not state.trials_dir.exists():
        return recovered
    from hf_quicktune.train import restore_curve

    for d in sorted(state.trials_dir.iterdir()):
        if not d.name.isdigit():
            continue
        restore_curve(d)  # a kill between an epoch's checkpoint and its curve line: the epoch counts
        tid = int(d.name)
        st = opt.trials.get(tid)
        known = st.epochs if st is not None else 0
        ended = st is not None and st.status != OK
        for rec in trial_curve(state, tid):
            epoch = int(rec["epoch"])
            status = rec.get("status", OK)
            if not ended and (epoch > known or status != OK):
                score = rec.get("val_top1") if status == OK else None
                cost = float(rec.get("train_seconds", 0.0)) + float(rec.get("eval_seconds", 0.0))
                opt.tell(tid, epoch, score, cost, status)
                known, ended = (epoch, status != OK)
            if (tid, epoch) not in logged:
                n_steps += 1
                recovered.append(_step(n_steps, tid, pool[tid], rec, clock.elapsed))
                logged.add((tid, epoch))
    state.append_steps(recovered)
    return recovered


def _step(n: int, tid: int, config: dict[str, Any], rec: dict[str, Any], elapsed: float) -> dict[str, Any]:
    status = rec.get("status", OK)
    return {"step": n, "trial_id": tid, "model": config.get("model"), "epoch": int(rec["epoch"]),
            "score": rec.get("val_top1") if status == OK else None,
            "cost": float(rec.get("train_seconds", 0.0)) + float(rec.get("eval_seconds", 0.0)),
            "status": status, "message": rec.get("message"), "elapsed_s": round(elapsed, 3)}


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


class _BudgetExhausted(BaseException):
    """Raised from the train engine's step callback when the budget is spent mid-epoch (a BaseException,
    so the engine does not record it as a failed trial): the unfinished epoch is discarded and the
    trial stays resumable from its last checkpoint."""


class _Limits:
    """Stop rules: wall-clock budget (predicted cost of the next step + a reserve for finishing),
    --max-trials (distinct trials started) and --max-epochs-total (epoch-steps trained)."""

    def __init__(self, settings: RunSettings):
        self.budget_s = settings.budget_s
        self.max_trials = settings.max_trials
        self.max_epochs_total = settings.max_epochs_total

    @staticmethod
    def epoch_seconds(steps, trial_id: int, model: str | None) -> float:
        ok = [s for s in steps if s.get("status") == OK and s.get("wall_s")]  # failures are quick, not typical
        own = [s["wall_s"] for s in ok if s["trial_id"] == trial_id]
        same = [s["wall_s"] for s in ok if s.get("model") == model]
        anyone = [s["wall_s"] for s in ok]
        for xs in (own, same, anyone):
            if xs:
                return sum(xs[-3:]) / len(xs[-3:])
        return 0.0

    @staticmethod
    def reserve(steps) -> float:
        """Seconds kept for the end: test evaluation of the incumbent, export, plots."""
        evals = [s.get("eval_s", 0.0) or 0.0 for s in steps]
        return 8.0 + 2.0 * (max(evals) if evals else 0.0)

    def step_callback(self, steps, clock: Clock):
        """A ``Trial.advance`` callback that aborts the epoch once the budget (less the reserve) is spent."""
        if self.budget_s is None:
            return None
        deadline = self.budget_s - self.reserve(steps)

        def callback(event: str, info: dict) -> None:
            if event == "train_step" and clock.elapsed > deadline:
                raise _BudgetExhausted()

        return callback

    def stop_reason(self, opt, steps, clock: Clock, suggestion=None) -> str | None:
        ok_steps = [s for s in steps if s.get("status") == OK]
        if self.max_epochs_total is not None and len(ok_steps) >= self.max_epochs_total:
            return f"--max-epochs-total {self.max_epochs_total} reached"
        if suggestion is not None and self.max_trials is not None:
            started = {tid for tid, st in opt.trials.items() if st.epochs or st.status != OK}
            if suggestion.trial_id not in started and len(started) >= self.max_trials:
                return f"--max-trials {self.max_trials} reached"
        if self.budget_s is not None:
            need = self.reserve(steps)
            if suggestion is not None:
                done = opt.trials[suggestion.trial_id].epochs if suggestion.trial_id in opt.trials else 0
                n = max(1, suggestion.epoch - done)
                need += n * self.epoch_seconds(steps, suggestion.trial_id, suggestion.config.get("model"))
            if clock.elapsed + need > self.budget_s:
                return "budget used"
        return None


# ---------------------------------------------------------------------------------------------


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
    saved_logging = _attach_log_file(state)
    interrupt = _InterruptGuard()
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
        raise _crashed(err, state) from err
    finally:
        interrupt.restore()
        reporter.close()
        _detach_log_file(saved_logging)


def _crashed(err: Exception, state: RunState):
    """Append ``err``'s traceback to the run's ``run.log``; the :class:`RunCrashedError` (exit code 1) names it."""
    import traceback

    from hf_quicktune.errors import RunCrashedError

    with open(state.log_path, "a", encoding="utf-8") as log:
        log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} CRITICAL hf_quicktune.run: unexpected error\n"
                  + "".join(traceback.format_exception(err)))
    first = (str(err).strip().splitlines() or [""])[0][:200]
    return RunCrashedError(
        f"the run stopped on an unexpected error ({type(err).__name__}{': ' + first if first else ''}). This is a "
        f"bug in hf-quicktune, not a problem with your input; the traceback is in {state.log_path}. Everything up "
        f"to the last completed epoch is saved: `hf-quicktune run --output-dir {state.dir} --resume` continues the "
        "run. Please report the bug with that log.", log_path=str(state.log_path))


class _InterruptGuard:
    """Ctrl-C (SIGINT) raises KeyboardInterrupt as usual, and is also remembered: an interrupt that
    a library swallowed (e.g. one that landed in a finalizer, which CPython ignores) still stops
    the run at the end of the current step."""

    def __init__(self):
        import signal
        import threading

        self.requested = False
        self._old = None
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame):
        self.requested = True
        raise KeyboardInterrupt

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt

    def restore(self) -> None:
        if self._old is not None:
            import signal

            signal.signal(signal.SIGINT, self._old)
            self._old = None


def _attach_log_file(state: RunState) -> tuple[logging.Logger, list[logging.Handler], int, bool]:
    """Log INFO and above of hf_quicktune to ``run.log``; the terminal keeps the CLI's verbosity."""
    root = logging.getLogger("hf_quicktune")
    before = (root, [], root.level, root.propagate)
    shown = root.getEffectiveLevel()
    file_handler = logging.FileHandler(state.log_path)
    file_handler.setLevel(logging.INFO)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    console = logging.StreamHandler()
    console.setLevel(shown)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(file_handler)
    root.addHandler(console)
    root.setLevel(min(shown, logging.INFO))
    root.propagate = False
    before[1].extend([file_handler, console])
    return before


def _detach_log_file(saved) -> None:
    root, handlers, level, propagate = saved
    for h in handlers:
        root.removeHandler(h)
        h.close()
    root.setLevel(level)
    root.propagate = propagate


def _run(settings: RunSettings, state: RunState, clock: Clock, progress: dict, reporter, resume: bool,
         interrupt: _InterruptGuard) -> dict:
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
    cost_prior = _cost_prior(settings, state, pool, candidates, dataset, train_size, reporter)
    opt = search_setup.make_optimizer(settings, pool, prior=prior, meta=meta, features=features,
                                      num_classes=dataset.num_classes, cost_prior=cost_prior)
    saved = state.load_optimizer()
    if saved is not None:
        opt.load_state_dict(saved)
    recovered = reconcile(opt, state, pool, clock)
    if recovered:
        logger.info("recovered %d epoch-steps from trial curves", len(recovered))
        state.save_optimizer(opt.state_dict())
    steps = state.steps()
    limits = _Limits(settings)
    trials: OrderedDict[int, Any] = OrderedDict()
    stop = None
    while True:
        interrupt.check()
        stop = limits.stop_reason(opt, steps, clock)
        if stop:
            break
        suggestion = opt.ask()
        if suggestion is None:
            stop = "search space exhausted"
            break
        stop = limits.stop_reason(opt, steps, clock, suggestion)
        if stop:
            break
        try:
            steps += _advance(settings, state, opt, pool, trials, candidates, dataset, suggestion, clock, len(steps),
                              limits, reporter=reporter)
        except _BudgetExhausted:
            steps = state.steps()
            stop = "budget used (the unfinished epoch was discarded; its trial can continue with --resume)"
            break
        progress.update(elapsed_s=clock.elapsed, steps=len(steps))
        state.save_progress(progress)
        reporter.step(snapshot(opt, pool, steps, clock, limits.budget_s, settings.max_epochs))
        interrupt.check()
    reporter.message(f"search stopped: {stop}")
    for trial in trials.values():
        trial.release()
    trials.clear()
    from hf_quicktune.run.finalize import finalize

    summary = finalize(settings, state, opt, pool, candidates, dataset, ranking, steps, clock, stop, reporter)
    progress.update(elapsed_s=clock.elapsed, steps=len(steps), finished=True)
    state.save_progress(progress)
    return summary


def _record_failure(state: RunState, tid: int, epoch: int, message: str) -> dict[str, Any]:
    """A trial that failed before the train engine could record it (e.g. a configuration it rejects) gets
    the failure on its curve too: trials are files, so the leaderboard, the no-model report and a
    resumed run see it."""
    from hf_quicktune.train.records import EpochRecord, append_records

    record = EpochRecord(epoch=epoch, val_top1=None, val_top5=None, val_loss=None, train_loss=None,
                         train_seconds=0.0, eval_seconds=0.0, images_per_second=None, peak_memory_mb=None,
                         lr=None, status="failed", message=message)
    directory = state.trial_dir(tid)
    directory.mkdir(parents=True, exist_ok=True)
    if epoch not in {int(r["epoch"]) for r in trial_curve(state, tid)}:
        append_records(directory, [record])
    return record.to_dict()


def _advance(settings, state, opt, pool, trials, candidates, dataset, suggestion, clock, n_before,
             limits: _Limits | None = None, reporter=None) -> list[dict]:
    """Train ``suggestion.trial_id`` up to ``suggestion.epoch``; tell and log every finished epoch
    (and show the progress inside each epoch with ``reporter.progress``)."""
    tid = suggestion.trial_id
    config = pool[tid]
    t_start = time.monotonic()
    done = opt.trials[tid].epochs if tid in opt.trials else 0
    n = max(1, suggestion.epoch - done)
    try:
        trial = trials.pop(tid, None)
        if trial is None:
            trial = _make_trial(settings, state, tid, config, candidates[config["model"]], dataset,
                                keep_in_memory=True)
        trials[tid] = trial
        while len(trials) > TRIAL_CACHE:
            trials.popitem(last=False)[1].release()
        try:
            callback = limits.step_callback(state.steps(), clock) if limits is not None else None
            callback = _with_progress(callback, reporter, tid, config)
            records = [_record_dict(r) for r in trial.advance(epochs=n, callback=callback)]
        except _BudgetExhausted:
            trials.pop(tid).release()  # its in-memory weights are mid-epoch: reload from the checkpoint later
            reconcile(opt, state, pool, clock)  # epochs of this call that did finish are on its curve
            state.save_optimizer(opt.state_dict())
            raise
        if not records:
            raise TrainError(f"the train engine returned no epoch for trial {tid} (asked for epoch "
                             f"{suggestion.epoch}, {done} known)")
    except QuickTuneError as err:  # e.g. a configuration the engine rejects: the trial fails, the run goes on
        trials.pop(tid, None)
        records = [_record_failure(state, tid, done + 1, str(err))]
    wall = (time.monotonic() - t_start) / max(1, len(records))
    new = []
    for rec in records:
        status = rec.get("status", OK)
        score = rec.get("val_top1") if status == OK else None
        cost = float(rec.get("train_seconds", 0.0)) + float(rec.get("eval_seconds", 0.0))
        opt.tell(tid, int(rec["epoch"]), score, cost, status)
        step = _step(n_before + len(new) + 1, tid, config, rec, clock.elapsed)
        step.update(wall_s=round(wall, 3), eval_s=float(rec.get("eval_seconds", 0.0)))
        new.append(step)
        if status != OK:
            failed = trials.pop(tid, None)
            if failed is not None:
                failed.release()
            from hf_quicktune.run.outcome import log_trial_failure

            log_trial_failure(logger, tid, config.get("model"), status, rec["epoch"], rec.get("message"))
            break
    state.save_optimizer(opt.state_dict())
    state.append_steps(new)
    return new
