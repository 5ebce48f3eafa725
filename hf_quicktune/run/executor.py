"""Executors: where the run's jobs ("train trial t from its checkpoint up to epoch e") execute.

The loop (:mod:`~hf_quicktune.run.search_loop`) keeps every worker busy: it asks the optimizer until
``busy == capacity``, waits for any job to finish, tells its epochs, and repeats; the budget ends it.
An executor promises:

- ``submit(trial_id, config, to_epoch, from_epoch=, deadline_s=)`` starts a job and returns its
  :class:`Job` handle; ``from_epoch`` is the epochs the optimizer knows (records past it come back),
  ``deadline_s`` the seconds from now after which the job stops between training steps (None: never);
  ``wrap_up_s`` (optional) the seconds from now after which the epoch in flight ends early and is kept
  (evaluated and checkpointed before ``deadline_s``); both executors do it.
- ``wait()`` blocks until any submitted job ends and returns its
  :class:`~hf_quicktune.run.trials.Outcome`: the finished epochs' records (the last may be a failure),
  ``stopped`` when the deadline discarded the epoch in flight, or ``lost`` when no worker could run it.
- ``busy`` (jobs submitted, not yet returned by ``wait``), ``capacity`` (jobs that run at once),
  ``worker_seconds`` (busy seconds summed over workers), ``device`` ("cpu" or "gpu"), ``shutdown()``.
- ``reschedule(trial_id, config, max_epochs, epoch_fraction=None)``: the run's schedule changed (a
  no-search fine-tune re-fitted to its budget, :mod:`~hf_quicktune.run.plan`); an engine of ``trial_id``
  kept in memory changes its horizon in place, and every engine built later uses the new schedule.

:class:`InProcessExecutor` runs one job at a time in this process (the default). The Ray executor
(:mod:`~hf_quicktune.run.ray_executor`) runs one actor per worker.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hf_quicktune.run.trials import Outcome, Progress, TrialRunner


@dataclass
class Job:
    """A submitted job (the handle ``submit`` returns)."""

    trial_id: int
    config: dict[str, Any]
    to_epoch: int
    from_epoch: int = 0
    deadline_s: float | None = None
    wrap_up_s: float | None = None
    submitted_at: float = field(default_factory=time.monotonic)
    attempts: int = 0
    ref: Any = None  # the executor's own handle (e.g. a Ray object ref)


class Executor(Protocol):
    capacity: int
    worker_seconds: float

    @property
    def device(self) -> str: ...

    @property
    def busy(self) -> int: ...

    def submit(self, trial_id: int, config: dict[str, Any], to_epoch: int, *, from_epoch: int = 0,
               deadline_s: float | None = None, wrap_up_s: float | None = None) -> Job: ...

    def wait(self) -> Outcome: ...

    def reschedule(self, trial_id: int, config: dict[str, Any], max_epochs: int,
                   epoch_fraction: float | None = None) -> None: ...

    def shutdown(self) -> None: ...


class InProcessExecutor:
    """One job at a time, in this process, on the run's :class:`~hf_quicktune.run.trials.TrialRunner`
    (its engine cache keeps recently paused trials in memory). The job runs inside :meth:`wait`.
    ``progress(trial_id, config)`` gives the engine's step callback (the terminal's progress bar)."""

    capacity = 1

    def __init__(self, runner: TrialRunner, progress: Callable[[int, dict], Progress | None] | None = None):
        self.runner = runner
        self.progress = progress
        self.jobs: deque[Job] = deque()
        self.worker_seconds = 0.0

    @property
    def busy(self) -> int:
        return len(self.jobs)

    @property
    def device(self) -> str:
        """"gpu" when this process trains on an accelerator (the summary then adds ``gpu_seconds``), else "cpu"."""
        from hf_quicktune.train.device import default_accelerator

        return "cpu" if default_accelerator().device.type == "cpu" else "gpu"

    def submit(self, trial_id: int, config: dict[str, Any], to_epoch: int, *, from_epoch: int = 0,
               deadline_s: float | None = None, wrap_up_s: float | None = None) -> Job:
        job = Job(trial_id, config, to_epoch, from_epoch, deadline_s, wrap_up_s)
        self.jobs.append(job)
        return job

    def wait(self) -> Outcome:
        if not self.jobs:
            raise RuntimeError("wait() with no job submitted")
        job = self.jobs[0]
        should_stop = None
        if job.deadline_s is not None:
            end = job.submitted_at + job.deadline_s
            should_stop = lambda: time.monotonic() > end  # noqa: E731
        end_early = None
        if job.wrap_up_s is not None:
            wrap_up = job.submitted_at + job.wrap_up_s
            end_early = lambda: time.monotonic() > wrap_up  # noqa: E731
        callback = self.progress(job.trial_id, job.config) if self.progress is not None else None
        try:
            outcome = self.runner.run(job.trial_id, job.config, job.to_epoch, job.from_epoch,
                                      should_stop=should_stop, callback=callback, end_early=end_early)
        finally:
            self.jobs.popleft()
        self.worker_seconds += outcome.wall_s
        return outcome

    def reschedule(self, trial_id: int, config: dict[str, Any], max_epochs: int,
                   epoch_fraction: float | None = None) -> None:
        """The run's schedule is now ``max_epochs`` long (its epochs ``epoch_fraction`` of the images, when
        given): ``trial_id``'s engine kept in memory changes them in place
        (:meth:`~hf_quicktune.run.trials.TrialRunner.reschedule`); nothing is reloaded."""
        self.runner.reschedule(trial_id, config, max_epochs, epoch_fraction)

    def shutdown(self) -> None:
        self.jobs.clear()
        self.runner.release_all()
