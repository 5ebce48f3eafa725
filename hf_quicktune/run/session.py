"""The run directory and the process around a run: create or re-open it (settings in force on
``--resume``), its lock, the log file, Ctrl-C, and the one-paragraph report of a crash."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from hf_quicktune.errors import ConfigError
from hf_quicktune.run.settings import RunSettings
from hf_quicktune.run.state import RunState

logger = logging.getLogger(__name__)


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
    state.dir.mkdir(parents=True, exist_ok=True)
    state.lock()  # a run still writing there is named as such
    if state.user_files():
        if not state.stopped_before_training():
            state.unlock()
            raise ConfigError(f"{state.dir} already holds files. Pass --resume to continue that run, or choose "
                              "another --output-dir.")
        logger.warning("%s held a run that stopped before it trained anything; starting this run there instead",
                       state.dir)
        state.clear()
    state.save_settings(settings.to_dict())
    return settings, state


#: keys added to settings.json since runs were first stored, with the value such older runs ran with
_BEFORE_THE_KEY = {"score_features": True}


def _resume_settings(settings: RunSettings, state: RunState, given: set[str]) -> RunSettings:
    stored = RunSettings(**{**_BEFORE_THE_KEY, **state.load_settings()})
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


def crashed(err: Exception, state: RunState):
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


class Terminated(KeyboardInterrupt):
    """SIGTERM (Slurm's or Kubernetes' preemption, ``kill``, ``timeout``) stops the run as Ctrl-C does: the
    progress and the budget used are saved, the lock released, workers shut down; exit code 143."""


class InterruptGuard:
    """Ctrl-C (SIGINT) raises KeyboardInterrupt as usual, SIGTERM :class:`Terminated`, and either is also
    remembered: an interrupt that a library swallowed (e.g. one that landed in a finalizer, which CPython
    ignores) still stops the run at the end of the current step. Python's default SIGTERM ended the process
    without its ``finally`` blocks: the time since the last epoch was not counted, and nothing said how to
    continue."""

    def __init__(self):
        import signal
        import threading

        self.requested: type[KeyboardInterrupt] | None = None
        self._old: dict[int, object] = {}
        self._main = threading.current_thread() is threading.main_thread()
        if self._main:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)

    def install(self) -> None:
        """Take the signals back from a runtime that replaced the handlers: after ``ray.init`` SIGTERM exited
        the driver (exit 15) or Ray's core worker aborted it with a stack dump (exit 134)."""
        import signal

        if self._main:
            for sig in self._old:
                signal.signal(sig, self._handle)

    def _handle(self, signum, frame):
        import signal

        self.requested = Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        raise self.requested

    def check(self) -> None:
        if self.requested is not None:
            raise self.requested

    def restore(self) -> None:
        import signal

        for sig, old in self._old.items():
            signal.signal(sig, old)  # type: ignore[arg-type]
        self._old = {}


#: the logger of the run's progress lines (:class:`~hf_quicktune.run.progress.RecordedReporter`): outside the
#: hf_quicktune hierarchy and not propagated, so only ``run.log`` gets them (the terminal has the reporter's)
RECORD_LOGGER = "hf-quicktune"


class LogFileHandler(logging.FileHandler):
    """A log file that stops being written, with one line on stderr, once the file system refuses it (a full disk,
    a quota): ``logging``'s default printed a "--- Logging error ---" traceback for every message after that."""

    broken: str | None = None  # why the file is no longer written

    def emit(self, record: logging.LogRecord) -> None:
        if self.broken is None:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        err = sys.exc_info()[1]
        if not isinstance(err, OSError):
            super().handleError(record)
            return
        self.broken = f"{type(err).__name__}: {err}"
        sys.stderr.write(f"hf-quicktune: {self.baseFilename} can no longer be written ({self.broken}); the run goes "
                         "on without it.\n")


def attach_log_file(state: RunState) -> tuple[logging.Logger, list[logging.Handler], int, bool]:
    """Log INFO and above of hf_quicktune, and the run's progress lines (:data:`RECORD_LOGGER`), to
    ``run.log``; the terminal keeps the CLI's verbosity."""
    root = logging.getLogger("hf_quicktune")
    before: tuple[logging.Logger, list[logging.Handler], int, bool] = (root, [], root.level, root.propagate)
    shown = root.getEffectiveLevel()
    file_handler = LogFileHandler(state.log_path)
    file_handler.setLevel(logging.INFO)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    console = logging.StreamHandler()
    console.setLevel(shown)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(file_handler)
    root.addHandler(console)
    root.setLevel(min(shown, logging.INFO))
    root.propagate = False
    record = logging.getLogger(RECORD_LOGGER)
    record.propagate = False
    record.setLevel(logging.INFO)
    record.addHandler(file_handler)
    before[1].extend([file_handler, console])
    return before


def detach_log_file(saved) -> None:
    root, handlers, level, propagate = saved
    for h in handlers:
        root.removeHandler(h)
        logging.getLogger(RECORD_LOGGER).removeHandler(h)
        h.close()
    root.setLevel(level)
    root.propagate = propagate
