"""Error hierarchy. Every message says what was found and what to do next.

The CLI turns a :class:`QuickTuneError` into one paragraph and exit code 2; any other
exception is a bug (exit code 1, traceback in the log).

Besides the message, an error carries structured facts for the CLI and the Space (like
huggingface_hub's errors carry the response): ``input`` (what the user gave that is wrong),
``fix`` (what to do), ``code`` (a stable machine-readable name, e.g. ``repo_not_found``) and, for
errors from the Hub, ``status`` (the HTTP status). ``str(err)`` stays the one paragraph: the
message, followed by the fix when the message does not already say it.

    raise DatasetError("no image column in data.csv.")                     # still fine
    raise DatasetError("no image column in data.csv.", input="data.csv",
                       fix="Pass --image-column NAME.", code="no_image_column")
"""

from __future__ import annotations

import errno
from typing import Any

#: errnos of a file system that refuses a write: a full disk, a quota, a file-size limit
DISK_FULL = frozenset(c for c in (errno.ENOSPC, getattr(errno, "EDQUOT", None), errno.EFBIG) if c is not None)


class QuickTuneError(Exception):
    """Root of all errors that are the user's to fix (bad input, missing weights, ...)."""

    #: default machine-readable code of the class (instances may give a more specific one)
    default_code = "error"

    def __init__(self, message: str = "", *, input: Any = None, fix: str | None = None,  # noqa: A002
                 code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = str(message)
        self.input = input
        self.fix = fix
        self.code = code or self.default_code
        self.status = status

    def __str__(self) -> str:
        text = self.message.strip()
        if self.fix and self.fix.strip() not in text:
            text = f"{text} {self.fix.strip()}".strip()
        return text

    def __reduce__(self):  # keep the fields across pickling (worker processes)
        return (_rebuild, (type(self), self.message, self.input, self.fix, self.code, self.status))

    def to_dict(self) -> dict[str, Any]:
        """The facts as JSON-able values (the CLI prints them with ``--json``; the Space shows them)."""
        return {"type": type(self).__name__, "code": self.code, "message": str(self),
                "input": None if self.input is None else str(self.input), "fix": self.fix, "status": self.status}


class ConfigError(QuickTuneError):
    """A recipe, option or YAML file is invalid."""

    default_code = "bad_option"


class DatasetError(QuickTuneError):
    """The dataset cannot be resolved, decoded or split."""

    default_code = "bad_dataset"


class ZooError(QuickTuneError):
    """A candidate model cannot be resolved or loaded."""

    default_code = "bad_candidate"


class SpaceError(QuickTuneError):
    """A search space file or configuration is invalid."""

    default_code = "bad_space"


class HubError(QuickTuneError):
    """The Hugging Face Hub could not be reached or refused the request."""

    default_code = "hub"


class TrainError(QuickTuneError):
    """A trial could not be trained (e.g. invalid hyperparameters)."""

    default_code = "train"


class MetaError(QuickTuneError):
    """A meta-dataset or prior is missing or malformed."""

    default_code = "bad_meta"


class StorageError(QuickTuneError):
    """A file could not be written: the disk is full, or a quota or file-size limit was reached."""

    default_code = "write_failed"

    @classmethod
    def writing(cls, path: Any, err: BaseException) -> StorageError:
        """The error for ``err`` raised while writing ``path``, with the free space left where it goes."""
        import os
        import shutil
        from pathlib import Path

        code = getattr(err, "errno", None)
        detail = os.strerror(code) if code else " ".join(f"{type(err).__name__}: {err}".split())[:200]
        where = Path(path)
        while not where.exists() and where != where.parent:
            where = where.parent
        try:
            free = f"; {shutil.disk_usage(where).free / 2**30:.2f} GiB free on that disk"
        except OSError:
            free = ""
        name = {errno.ENOSPC: "disk_full", getattr(errno, "EDQUOT", -1): "quota_exceeded",
                errno.EFBIG: "file_too_large"}.get(code or 0, cls.default_code)
        return cls(f"could not write {path} ({detail}{free}).", input=str(path), code=name,
                   fix="Free space there, or use an output directory on a larger disk; what was saved before is "
                       "kept: `hf-quicktune run --output-dir DIR --resume` continues a run, and the same "
                       "`finetune` command continues a trial.")


class RunCrashedError(Exception):
    """An unexpected exception inside ``run`` (a bug, not the user's input). Not a QuickTuneError:
    the CLI exits with code 1 and prints this one paragraph; the traceback is in ``log_path``."""

    def __init__(self, message: str, *, log_path: str | None = None):
        super().__init__(message)
        self.log_path = log_path

    def to_dict(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "code": "crash", "message": str(self), "log": self.log_path}


def _rebuild(cls, message, input, fix, code, status):  # noqa: A002
    return cls(message, input=input, fix=fix, code=code, status=status)
