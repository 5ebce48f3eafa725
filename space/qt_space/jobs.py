"""One search per visitor: ``hf_quicktune.run.run`` in a worker thread, watched through its reporter.

The run reports progress through the same interface the terminal display uses
(:mod:`hf_quicktune.run.progress`: ``message``, ``step``, ``leaderboard``, ``close``).
:class:`SpaceReporter` records those events for the page; the search loop itself is not copied.
Stopping raises ``KeyboardInterrupt`` from ``step`` (between two epochs), which the run handles as
Ctrl-C: everything up to the last finished epoch is saved and the run can be resumed.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

logger = logging.getLogger("hf_quicktune.space")

#: visitor session -> their latest job (one run at a time per visitor)
JOBS: dict[str, Job] = {}
#: run name -> its job, so a visitor who reloads the page (e.g. the login redirect) finds their run again
BY_NAME: dict[str, Job] = {}
_JOBS_LOCK = threading.Lock()


def workdir() -> Path:
    """Where runs are written: ``$QUICKTUNE_SPACE_DIR`` or a folder in the system temp dir."""
    path = Path(os.environ.get("QUICKTUNE_SPACE_DIR") or Path(tempfile.gettempdir()) / "hf-quicktune-space")
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_dir(name: str) -> Path:
    """The directory of run ``name`` (a name this module made: letters, digits and dashes only)."""
    if not name or not all(c.isalnum() or c == "-" for c in name):
        raise ValueError(f"not a run name of this Space: {name!r}")
    return workdir() / name


class SpaceReporter:
    """Keeps what the run reports (messages, every epoch-step, the incumbent) for the page to show."""

    def __init__(self, stop: threading.Event):
        self.stop = stop
        self.lock = threading.Lock()
        self.messages: list[str] = []
        self.steps: dict[int, dict[str, Any]] = {}  # step number -> step record
        self.snapshot: dict[str, Any] | None = None
        self.final_rows: list[dict[str, Any]] | None = None
        self.task: str | None = None  # the epoch in flight, as the run's progress events name it
        self.task_done, self.task_total = 0, None
        self._last_progress = 0.0
        self.version = 0  # bumped on every event, so the page re-renders only on news
        self.changed = threading.Condition(self.lock)

    def _bump(self) -> None:
        self.version += 1
        self.changed.notify_all()

    def message(self, text: str) -> None:
        with self.lock:
            self.messages.append(text)
            self._bump()

    def step(self, snap: dict[str, Any]) -> None:
        with self.lock:
            self.snapshot = snap
            for s in snap.get("last_steps") or []:
                self.steps[int(s["step"])] = dict(s)
            self._bump()
        if self.stop.is_set():
            raise KeyboardInterrupt  # the run saves its state and tells how to resume

    def progress(self, task: str, done: int, total: int | None = None, images: int | None = None) -> None:
        """Training steps of the epoch in flight (the terminal's progress bar). The page re-reads the
        trials' curves when an epoch ends, so the leaderboard and curves move epoch by epoch."""
        with self.lock:
            new_task = task != self.task
            self.task, self.task_done, self.task_total = task, done, total
            now = time.monotonic()
            if new_task or now - self._last_progress > 1.0 or (total and done >= total):
                self._last_progress = now
                self._bump()
        if self.stop.is_set():
            raise KeyboardInterrupt  # mid-epoch: the epoch in flight is discarded, its trial resumable

    def leaderboard(self, rows: list[dict[str, Any]]) -> None:
        with self.lock:
            self.final_rows = list(rows)
            self._bump()

    def close(self) -> None:
        pass

    def wait(self, seen: int, timeout: float) -> int:
        """Block until an event newer than ``seen`` arrives (or ``timeout`` seconds); the current version."""
        with self.lock:
            if self.version == seen:
                self.changed.wait(timeout)
            return self.version

    def seed_steps(self, steps: list[dict[str, Any]]) -> None:
        """Steps of earlier sessions of the same run (read from its ``steps.jsonl`` on resume)."""
        with self.lock:
            for s in steps:
                self.steps.setdefault(int(s["step"]), dict(s))


class Job:
    """A run of this Space: its settings, its worker thread, its reporter and its outcome."""

    def __init__(self, settings_values: dict[str, Any], name: str | None = None):
        self.name = name or f"run-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self.values = dict(settings_values)
        self.stop_event = threading.Event()
        self.reporter = SpaceReporter(self.stop_event)
        self.thread: threading.Thread | None = None
        self.state = "new"  # new | running | stopped | finished | failed
        self.summary: dict[str, Any] | None = None
        self.error: str | None = None
        self.started = time.monotonic()
        self.wall_s: float | None = None

    @property
    def dir(self) -> Path:
        return run_dir(self.name)

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self, *, resume: bool = False, finish_now: bool = False) -> None:
        """Start (or resume) the run in a worker thread. ``finish_now``: resume only to export what
        the run has (no more training: ``max_epochs_total`` = epoch-steps done)."""
        from hf_quicktune.run import RunSettings

        if self.running:
            raise RuntimeError("this job is already running")
        values = {**self.values, "output_dir": str(self.dir)}
        given: set[str] = set()
        if resume:
            from hf_quicktune.run.state import RunState

            done = [s for s in RunState(self.dir).steps() if s.get("status", "ok") == "ok"]
            self.reporter.seed_steps(RunState(self.dir).steps())
            values["max_epochs_total"] = max(1, len(done)) if finish_now else self.values.get("max_epochs_total")
            given = {"max_epochs_total"}
        settings = RunSettings(**values).validate()
        self.stop_event.clear()
        self.state, self.error, self.started = "running", None, time.monotonic()
        self.thread = threading.Thread(target=self._work, args=(settings, resume, given), daemon=True,
                                       name=f"hf-quicktune {self.name}")
        self.thread.start()

    def _work(self, settings, resume: bool, given: set[str]) -> None:
        from hf_quicktune.errors import QuickTuneError
        from hf_quicktune.run import run

        try:
            self.summary = run(settings, resume=resume, given=given, reporter=self.reporter,
                               started_at=self.started)
            self.state = "finished"
        except KeyboardInterrupt:
            self.state = "stopped"
        except QuickTuneError as err:
            self.state, self.error = "failed", str(err)
            self._read_summary()
        except Exception as err:  # noqa: BLE001 - shown to the visitor, logged in full
            logger.exception("run %s failed", self.name)
            self.state, self.error = "failed", f"{type(err).__name__}: {err}"
        finally:
            self.wall_s = time.monotonic() - self.started
            with self.reporter.lock:
                self.reporter._bump()

    @classmethod
    def from_disk(cls, name: str) -> Job | None:
        """The job of run ``name`` as its files say: finished (summary.json) or stopped (resumable)."""
        try:
            directory = run_dir(name)
        except ValueError:
            return None
        if not (directory / "settings.json").is_file():
            return None
        values = json.loads((directory / "settings.json").read_text())
        values.pop("output_dir", None)
        job = cls(values, name=name)
        job._read_summary()
        job.state = "finished" if job.summary else "stopped"
        return job

    def _read_summary(self) -> None:
        path = self.dir / "summary.json"
        if path.exists():
            self.summary = json.loads(path.read_text())

    def request_stop(self) -> None:
        self.stop_event.set()

    def join(self, timeout: float | None = None) -> None:
        if self.thread is not None:
            self.thread.join(timeout)


def get_job(session: str | None) -> Job | None:
    with _JOBS_LOCK:
        return JOBS.get(session or "")


def set_job(session: str | None, job: Job) -> None:
    with _JOBS_LOCK:
        JOBS[session or ""] = job
        BY_NAME[job.name] = job


def find_run(name: str | None) -> Job | None:
    """The job of run ``name``: in memory (possibly still running) or rebuilt from its files."""
    if not name:
        return None
    with _JOBS_LOCK:
        job = BY_NAME.get(name)
    return job or Job.from_disk(name)


def forget(session: str | None) -> None:
    """A visitor left: stop their run (it stays on disk, resumable)."""
    job = get_job(session)
    if job is not None and job.running:
        job.request_stop()
