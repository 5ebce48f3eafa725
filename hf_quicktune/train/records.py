"""Per-epoch learning-curve records and the trial's append-only curve file (``curve.jsonl``)."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

CURVE_FILE = "curve.jsonl"
STATUSES = ("ok", "diverged", "oom", "failed")


@dataclass
class EpochRecord:
    """One point of a trial's learning curve and its cost.

    ``val_top1``/``val_top5`` are fractions in [0, 1] (``val_top5`` is None with fewer than 5
    classes). When ``status`` is not ``"ok"`` the epoch did not finish: metrics that could not be
    measured are None and ``message`` says what happened.
    """

    epoch: int
    val_top1: float | None
    val_top5: float | None
    val_loss: float | None
    train_loss: float | None
    train_seconds: float
    eval_seconds: float
    images_per_second: float | None
    peak_memory_mb: float | None
    lr: float | None
    status: str = "ok"
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpochRecord:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class AdvanceResult(list[EpochRecord]):
    """What :meth:`~hf_quicktune.train.trial.Trial.advance` returns: the finished epochs' records (a list,
    so callers that iterate, index or compare with ``[]`` keep working) and how the call ended.

    ``stopped`` is True when the caller's ``should_stop`` asked to stop: the unfinished epoch was discarded
    (the trial stays resumable from its newest checkpoint) and ``discarded_seconds`` is the wall-clock
    spent on it (what a budget counts although no record shows it).
    """

    def __init__(self, records: list[EpochRecord] | None = None, *, stopped: bool = False,
                 discarded_seconds: float = 0.0):
        super().__init__(records or [])
        self.stopped = stopped
        self.discarded_seconds = discarded_seconds

    @property
    def status(self) -> str:
        """``"stopped"`` (the caller stopped it), else the last record's status (``"ok"`` if none)."""
        if self.stopped:
            return "stopped"
        return self[-1].status if self else "ok"


def finite_or_none(value: float | None) -> float | None:
    """JSON has no NaN/inf: store them as None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def append_records(directory: str | Path, records: list[EpochRecord]) -> None:
    """Append records to ``directory/curve.jsonl`` and fsync, so a killed process loses nothing."""
    path = Path(directory) / CURVE_FILE
    with open(path, "a", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record.to_dict(), allow_nan=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def load_curve(directory: str | Path) -> list[EpochRecord]:
    """Read a trial's curve; one record per epoch (a re-run epoch's later record wins).

    A truncated last line (process killed mid-write) is ignored.
    """
    path = Path(directory) / CURVE_FILE
    if not path.exists():
        return []
    by_epoch: dict[int, EpochRecord] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            record = EpochRecord.from_dict(json.loads(line))
        except (json.JSONDecodeError, TypeError):
            continue
        by_epoch[record.epoch] = record
    return [by_epoch[e] for e in sorted(by_epoch)]
