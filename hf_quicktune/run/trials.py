"""Trials as the run sees them: building train engines (and keeping a few in memory), running one
job ("train trial t up to epoch e") under the budget's ``should_stop``, and the bookkeeping that
turns curve records into steps: :func:`reconcile` after a kill, :func:`step_record` for steps.jsonl.

Everything here works from the run directory and the trial's curve on disk, so the same
:class:`TrialRunner` serves the in-process executor and each Ray worker.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hf_quicktune.errors import QuickTuneError, StorageError, TrainError
from hf_quicktune.run.state import RunState

logger = logging.getLogger(__name__)

OK = "ok"
#: trial engines kept in memory (a paused trial is rebuilt from its checkpoint when evicted)
TRIAL_CACHE = 3

Progress = Callable[[str, dict], None]


def make_trial(settings: Any, state: RunState, trial_id: int, config: dict, candidate: Any, dataset: Any,
               keep_in_memory: bool = False) -> Any:
    """The trial engine for pool member ``trial_id`` (continues from its checkpoint when there is one).

    ``keep_in_memory``: model and optimizer stay loaded between ``advance`` calls (the run keeps a
    few recently used trials so freeze-thaw continuations skip the checkpoint reload)."""
    from hf_quicktune.run.search_setup import scale_schedule
    from hf_quicktune.train import Trial

    config = scale_schedule(config, settings.schedule_epochs)
    return Trial(state.trial_dir(trial_id), candidate, config, dataset, max_epochs=settings.schedule_epochs,
                 image_size=settings.image_size, train_limit=settings.train_limit,
                 eval_limit=settings.eval_limit, seed=settings.seed + trial_id, keep_in_memory=keep_in_memory,
                 horizon_may_change=True,  # the run may re-fit a no-search schedule (run/refit.py)
                 epoch_fraction=settings.epoch_fraction, metric=getattr(settings, "metric", "top1"))


def trial_curve(state: RunState, trial_id: int) -> list[dict[str, Any]]:
    """The trial's epoch records as written by the train engine (empty when it never ran)."""
    d = state.trial_dir(trial_id)
    if not d.exists():
        return []
    from hf_quicktune.train import load_curve

    return [record_dict(r) for r in load_curve(d)]


def record_dict(rec: Any) -> dict[str, Any]:
    if isinstance(rec, dict):
        return dict(rec)
    if hasattr(rec, "to_dict"):
        return rec.to_dict()
    import dataclasses

    return dataclasses.asdict(rec)


def record_score_cost(rec: dict[str, Any]) -> tuple[float | None, float, str]:
    """What the optimizer is told of an epoch record: (score, cost in seconds, status)."""
    from hf_quicktune.train.records import cost_of, score_of

    return score_of(rec), cost_of(rec), rec.get("status", OK)


def record_failure(state: RunState, tid: int, epoch: int, message: str) -> dict[str, Any]:
    """A trial that failed before the train engine could record it (e.g. a configuration it rejects) gets
    the failure on its curve too: trials are files, so the leaderboard, the no-model report and a
    resumed run see it."""
    from hf_quicktune.train.records import EpochRecord, TrialStatus, append_records

    record = EpochRecord(epoch=epoch, val_top1=None, val_top5=None, val_loss=None, train_loss=None,
                         train_seconds=0.0, eval_seconds=0.0, images_per_second=None, peak_memory_mb=None,
                         lr=None, status=TrialStatus.FAILED, message=message)
    directory = state.trial_dir(tid)
    directory.mkdir(parents=True, exist_ok=True)
    if epoch not in {int(r["epoch"]) for r in trial_curve(state, tid)}:
        append_records(directory, [record])
    return record.to_dict()


def step_record(n: int, tid: int, config: dict[str, Any], rec: dict[str, Any], elapsed: float) -> dict[str, Any]:
    """The steps.jsonl line of one told epoch."""
    score, cost, status = record_score_cost(rec)
    step = {"step": n, "trial_id": tid, "model": config.get("model"), "epoch": int(rec["epoch"]),
            "score": score, "cost": cost, "status": status, "message": rec.get("message"),
            "elapsed_s": round(elapsed, 3)}
    if (rec.get("metric") or "top1") != "top1":  # ``score`` is that metric (the default's steps stay as they were)
        step["metric"] = rec["metric"]
    return step


def reconcile(opt: Any, state: RunState, pool: list[dict[str, Any]], clock: Any) -> list[dict[str, Any]]:
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
            score, cost, status = record_score_cost(rec)
            if not ended and (epoch > known or status != OK):
                opt.tell(tid, epoch, score, cost, status)
                known, ended = (epoch, status != OK)
            if (tid, epoch) not in logged:
                n_steps += 1
                recovered.append(step_record(n_steps, tid, pool[tid], rec, clock.elapsed))
                logged.add((tid, epoch))
    state.append_steps(recovered)
    return recovered


def with_progress(callback: Progress | None, reporter: Any, trial_id: int, config: dict[str, Any]) -> Progress | None:
    """``callback`` (may be None) plus the reporter's progress bar on the engine's ``train_step``
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


def advance_engine(trial: Any, epochs: int, should_stop: Callable[[], bool] | None,
                   callback: Progress | None, end_early: Callable[[], bool] | None = None,
                   ) -> tuple[list[dict[str, Any]], bool]:
    """Train ``epochs`` more epochs of ``trial``; returns (the finished epochs' records, stopped).

    ``should_stop`` is polled by the engine between training steps; when it turns true the epoch in
    flight is discarded (its trial stays resumable from its last checkpoint) and ``stopped`` is True.
    ``end_early`` (when given) ends the epoch in flight early and keeps it (``Trial.advance``)."""
    kw = {} if end_early is None else {"end_early": end_early}
    result = trial.advance(epochs=epochs, callback=callback, should_stop=should_stop, **kw)
    return [record_dict(r) for r in result], bool(getattr(result, "stopped", False))


@dataclass
class Outcome:
    """The result of one job: the epoch records past ``from_epoch`` now on the trial's curve (the last
    one may be a failure), whether the budget stopped it mid-epoch, and its wall seconds. ``lost``
    names why no record could be produced (a worker that died too often); the trial was not told."""

    trial_id: int
    to_epoch: int
    records: list[dict[str, Any]] = field(default_factory=list)
    stopped: bool = False
    wall_s: float = 0.0
    lost: str | None = None


class TrialRunner:
    """Runs jobs on trial engines built from the run directory; keeps :data:`TRIAL_CACHE` of them in
    memory. ``factory(trial_id, config)`` builds an engine (default: :func:`make_trial`)."""

    def __init__(self, settings: Any, state: RunState, candidates: dict[str, Any], dataset: Any,
                 factory: Callable[[int, dict], Any] | None = None, cache: int = TRIAL_CACHE):
        self.settings, self.state, self.candidates, self.dataset = settings, state, candidates, dataset
        self.factory = factory or (lambda tid, config: make_trial(
            settings, state, tid, config, candidates[config["model"]], dataset, keep_in_memory=True))
        self.cache = cache
        self.trials: OrderedDict[int, Any] = OrderedDict()
        self._at: dict[int, int | None] = {}  # checkpoint epoch each cached engine's weights belong to

    def _engine(self, trial_id: int, config: dict) -> Any:
        trial = self.trials.pop(trial_id, None)
        if trial is not None and self._stale(trial_id, trial):
            trial.release()  # another worker trained it since: its weights are on disk, not in this memory
            trial = None
        if trial is None:
            trial = self.factory(trial_id, config)
        else:
            self._on_schedule(trial, config)
        self.trials[trial_id] = trial
        while len(self.trials) > self.cache:
            self.trials.popitem(last=False)[1].release()
        return trial

    def _stale(self, trial_id: int, trial: Any) -> bool:
        """Whether another worker trained ``trial_id`` since this engine in memory did (its checkpoints moved on)."""
        return self._at.get(trial_id) != getattr(trial, "epochs_done", None)

    def _on_schedule(self, trial: Any, config: dict) -> None:
        """An engine kept in memory takes the run's schedule, which a re-fit may have changed since it last trained
        (with several workers :meth:`reschedule` reaches only the re-fitted trial's engine): it is built on the
        schedule of its time, and a trial at the end of it returned no epoch where a longer one was asked for."""
        from hf_quicktune.run.search_setup import scale_schedule

        n, fraction = self.settings.schedule_epochs, self.settings.epoch_fraction
        now = (getattr(trial, "max_epochs", n), getattr(trial, "epoch_fraction", fraction))
        if now != (n, fraction) and callable(getattr(trial, "set_schedule", None)):
            trial.set_schedule(n, scale_schedule(config, n), epoch_fraction=fraction)

    def reschedule(self, trial_id: int, config: dict, max_epochs: int, epoch_fraction: float | None = None) -> None:
        """The run's schedule became ``max_epochs`` long, its epochs ``epoch_fraction`` of the images
        (``hf_quicktune.run.refit``): a cached engine of ``trial_id`` (pool configuration ``config``) changes
        them in memory (:meth:`hf_quicktune.train.Trial.set_schedule`); one not in memory is built on the new
        schedule by its next job, and an engine without ``set_schedule`` is dropped to be rebuilt."""
        from hf_quicktune.run.search_setup import scale_schedule

        trial = self.trials.get(trial_id)
        if trial is None:
            return
        if not callable(getattr(trial, "set_schedule", None)) or self._stale(trial_id, trial):
            self.drop(trial_id)  # a copy another worker trained past since is rebuilt from the checkpoint if needed;
            return  # changing it too rewrote trial.json beside the worker holding the trial (a read of it half-written)
        kw = {} if epoch_fraction is None else {"epoch_fraction": epoch_fraction}
        trial.set_schedule(max_epochs, scale_schedule(config, max_epochs), **kw)

    def drop(self, trial_id: int) -> None:
        trial = self.trials.pop(trial_id, None)
        if trial is not None:
            trial.release()

    def release_all(self) -> None:
        for tid in list(self.trials):
            self.drop(tid)

    def run(self, trial_id: int, config: dict, to_epoch: int, from_epoch: int = 0,
            should_stop: Callable[[], bool] | None = None, callback: Progress | None = None,
            end_early: Callable[[], bool] | None = None) -> Outcome:
        """Train ``trial_id`` from its checkpoint up to epoch ``to_epoch`` (at least one epoch past
        ``from_epoch``, the epochs the optimizer knows); ``should_stop``/``end_early``: :func:`advance_engine`."""
        t0 = time.monotonic()
        out = Outcome(trial_id, to_epoch)
        new: list[dict[str, Any]] = []
        try:
            trial = self._engine(trial_id, config)
            on_disk = int(getattr(trial, "epochs_done", from_epoch) or 0)
            n = max(1, to_epoch - from_epoch) - max(0, on_disk - from_epoch)
            if n > 0:
                new, out.stopped = advance_engine(trial, n, should_stop, callback, end_early)
                if out.stopped:
                    self.drop(trial_id)  # its in-memory weights are mid-epoch: reload from the checkpoint later
                elif not new and on_disk <= from_epoch:
                    raise TrainError(f"the train engine returned no epoch for trial {trial_id} (asked for epoch "
                                     f"{to_epoch}, {from_epoch} known)")
        except StorageError:  # a full disk: every trial would fail alike; the run stops, resumable
            self.drop(trial_id)
            raise
        except QuickTuneError as err:  # e.g. a configuration the engine rejects: the trial fails, the run goes on
            self.drop(trial_id)
            new = [record_failure(self.state, trial_id, from_epoch + 1, str(err))]
        # the curve holds every finished epoch, also those of an earlier attempt on a lost worker
        by_epoch = {int(r["epoch"]): r for r in trial_curve(self.state, trial_id) if int(r["epoch"]) > from_epoch}
        by_epoch.update({int(r["epoch"]): r for r in new})
        for epoch in sorted(by_epoch):
            out.records.append(by_epoch[epoch])
            if by_epoch[epoch].get("status", OK) != OK:
                self.drop(trial_id)
                break
        if trial_id in self.trials:
            self._at[trial_id] = getattr(self.trials[trial_id], "epochs_done", None)
        out.wall_s = time.monotonic() - t0
        return out

