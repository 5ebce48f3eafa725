"""A run's on-disk state. Trials are files; resuming = reading the files.

Layout of ``--output-dir``::

    settings.json        resolved recipe (defaults < recipe < CLI)
    ranking.json         zero-cost scores of every candidate (+ which top-k were kept)
    pool.json            the configurations the optimizer chooses from
    optimizer/           optimizer.state_dict() after the last told step (state.json + state.safetensors)
    state.json           budget accounting: seconds used so far, steps, finished flag
    steps.jsonl          append-only: one line per told epoch-step (trial, epoch, score, cost, status, time)
    trials/NNNN/         each trial's curve.jsonl + latest checkpoint (written by the train engine)
    leaderboard.{csv,json}, plots/, export/, summary.json, run.log
    workers/             with --workers > 1: each Ray worker's own log (<host>-<pid>.log)
    .lock                one process at a time (flock; released by the OS when the process dies)

Every JSON write is atomic (temp file + ``os.replace``), and so is the optimizer state (written
to a temporary folder that replaces ``optimizer/``), so a SIGKILL never leaves half a file.
The order of writes per step is: the trial's curve (train engine) -> optimizer.tell -> optimizer/
-> steps.jsonl -> state.json. :meth:`RunState.missing_steps` finds curve epochs that the last two
did not see (a kill between the writes) so the resumed run tells them instead of re-training them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hf_quicktune import faults
from hf_quicktune.errors import ConfigError

LOCK_FILE = ".lock"


class RunLockedError(ConfigError):
    """Another process is using the run directory."""

    default_code = "run_locked"


class RunLock:
    """An exclusive ``fcntl.flock`` on ``<run dir>/.lock``: a second process on the same run directory
    is refused, and a crashed or killed holder never leaves a stale lock (the OS drops it with the
    process). The file records who holds it, for the message. Where ``fcntl`` does not exist
    (Windows) locking is skipped."""

    def __init__(self, directory: str | Path):
        self.path = Path(directory) / LOCK_FILE
        self._fh = None

    def _try(self):
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return None, None
        fh = self.path.open("a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            return None, holder
        return fh, None

    def acquire(self) -> RunLock:
        if self._fh is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh, holder = self._try()
        if holder is not None:
            raise RunLockedError(
                f"{self.path.parent} is in use by another hf-quicktune run ({holder}). Wait for it to finish "
                "(then add --resume to continue it), or choose another --output-dir. The lock is released "
                "as soon as that process ends, even if it crashed.")
        if fh is not None:
            import socket
            import time

            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
            fh.flush()
        self._fh = fh
        return self

    def holder(self) -> str | None:
        """Who holds the lock, or None when it is free (does not keep it)."""
        if self._fh is not None or not self.path.exists():
            return None
        fh, holder = self._try()
        if fh is not None:
            fh.close()
        return holder

    def release(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            fh.close()  # closing the descriptor drops the flock


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default))


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, set | tuple):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSONL file; a torn last line (killed mid-write) is ignored."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


class RunState:
    """Reads and writes the files of one run directory."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)

    # paths
    settings_path = property(lambda self: self.dir / "settings.json")
    ranking_path = property(lambda self: self.dir / "ranking.json")
    pool_path = property(lambda self: self.dir / "pool.json")
    state_path = property(lambda self: self.dir / "state.json")
    steps_path = property(lambda self: self.dir / "steps.jsonl")
    trials_dir = property(lambda self: self.dir / "trials")
    plots_dir = property(lambda self: self.dir / "plots")
    export_dir = property(lambda self: self.dir / "export")
    summary_path = property(lambda self: self.dir / "summary.json")
    log_path = property(lambda self: self.dir / "run.log")

    def exists(self) -> bool:
        return self.settings_path.exists()

    def lock(self) -> RunLock:
        """Take the run directory for this process (:class:`RunLock`); raises :class:`RunLockedError`."""
        if getattr(self, "_lock", None) is None:
            self._lock = RunLock(self.dir)
        return self._lock.acquire()

    def unlock(self) -> None:
        lock = getattr(self, "_lock", None)
        if lock is not None:
            lock.release()

    def user_files(self) -> list[Path]:
        """What the directory holds besides the lock file."""
        return [p for p in self.dir.iterdir() if p.name != LOCK_FILE] if self.dir.is_dir() else []

    #: what a run writes before its first epoch (and, when none trains, at its end): nothing worth keeping
    BEFORE_TRAINING = frozenset({"settings.json", "state.json", "run.log", "ranking.json", "schedule.json",
                                 "pool.json", "cost_timings.json", "cost_prior.json", "optimizer", ".optimizer-tmp",
                                 ".optimizer-old", "steps.jsonl", "trials", "plots", "leaderboard.csv",
                                 "leaderboard.json", "summary.json", "workers"})

    def stopped_before_training(self) -> bool:
        """The directory holds a run (``settings.json``) that trained nothing: no epoch recorded, no trial
        curve, no export, and nothing but the run's own files. A new run may start over there: a bad
        ``--dataset`` or a budget spent before the first epoch left such a directory, and the same command,
        corrected, was refused ("already holds files")."""
        if not self.exists() or self.steps() or (self.dir / "export").exists():
            return False
        if any(self.trials_dir.glob("*/curve.jsonl")):
            return False
        return all(p.name in self.BEFORE_TRAINING or p.name.startswith(".schedule-") for p in self.user_files())

    def clear(self) -> None:
        """Remove everything but the lock file (hold the lock)."""
        import shutil

        for p in self.user_files():
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()

    def trial_dir(self, trial_id: int) -> Path:
        return self.trials_dir / f"{trial_id:04d}"

    # settings / ranking / pool
    def save_settings(self, settings: dict[str, Any]) -> None:
        atomic_write_json(self.settings_path, settings)

    def load_settings(self) -> dict[str, Any]:
        try:
            return json.loads(self.settings_path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"cannot resume: {self.settings_path} is unreadable ({err}). "
                              "Start a new run with another --output-dir.") from None

    def save_json(self, path: Path, obj: Any) -> None:
        atomic_write_json(path, obj)

    def load_json(self, path: Path, default: Any = None) -> Any:
        if not path.exists():
            return default
        return json.loads(path.read_text())

    # optimizer state (search.serialization: state.json + state.safetensors under optimizer/)
    optimizer_dir = property(lambda self: self.dir / "optimizer")

    def save_optimizer(self, state: dict[str, Any]) -> None:
        """Written to ``.optimizer-tmp/``, then swapped in (``optimizer/`` -> ``.optimizer-old/`` ->
        gone): a kill at any moment leaves a complete state in one of the two, which
        :meth:`load_optimizer` finds."""
        import shutil

        from hf_quicktune.search.serialization import save_state

        tmp, old = self.dir / ".optimizer-tmp", self.dir / ".optimizer-old"
        if tmp.exists():
            shutil.rmtree(tmp)
        save_state(state, tmp)
        faults.point("optimizer.write")
        if self.optimizer_dir.exists():
            if old.exists():
                shutil.rmtree(old)
            os.replace(self.optimizer_dir, old)
        os.replace(tmp, self.optimizer_dir)
        shutil.rmtree(old, ignore_errors=True)

    def load_optimizer(self) -> dict[str, Any] | None:
        if not (self.optimizer_dir / "state.json").exists() and (self.dir / ".optimizer-old" / "state.json").exists():
            os.replace(self.dir / ".optimizer-old", self.optimizer_dir)  # killed between the two renames
        if not (self.optimizer_dir / "state.json").exists():
            return None
        from hf_quicktune.search.serialization import load_state

        return load_state(self.optimizer_dir)

    # budget accounting
    def load_progress(self) -> dict[str, Any]:
        return self.load_json(self.state_path, {"elapsed_s": 0.0, "steps": 0, "finished": False, "sessions": 0})

    def save_progress(self, progress: dict[str, Any]) -> None:
        atomic_write_json(self.state_path, progress)

    # steps log
    def steps(self) -> list[dict[str, Any]]:
        return read_jsonl(self.steps_path)

    def append_steps(self, steps: Iterable[dict[str, Any]]) -> None:
        lines = "".join(json.dumps(s, default=_json_default) + "\n" for s in steps)
        if not lines:
            return
        self.steps_path.parent.mkdir(parents=True, exist_ok=True)
        faults.point("steps.append")
        # a torn last line (kill mid-write) is dropped by read_jsonl; start on a fresh line
        needs_nl = self.steps_path.exists() and self.steps_path.stat().st_size > 0 and \
            not self.steps_path.read_bytes().endswith(b"\n")
        with self.steps_path.open("a") as fh:
            fh.write(("\n" if needs_nl else "") + lines)
            fh.flush()
            os.fsync(fh.fileno())
