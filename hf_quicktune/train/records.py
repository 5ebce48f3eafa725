"""Per-epoch learning-curve records and the trial's append-only curve file (``curve.jsonl``)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import Any, NotRequired, TypedDict

CURVE_FILE = "curve.jsonl"


class TrialStatus(StrEnum):
    """How a trial's epoch ended (str-valued like Optuna's ``TrialState``: files keep the plain strings,
    and ``TrialStatus.OK == "ok"``). ``STOPPED`` is only an :class:`AdvanceResult`'s status (a caller's
    ``should_stop`` ended the call); it never appears on a curve."""

    OK = "ok"
    DIVERGED = "diverged"
    OOM = "oom"
    FAILED = "failed"
    STOPPED = "stopped"


class EvalScores(TypedDict):
    """What :meth:`~hf_quicktune.train.trial.Trial.evaluate` returns (top-5 None under 5 classes)."""

    top1: float
    top5: float | None
    balanced_accuracy: float
    macro_f1: float
    loss: float
    num_examples: int
    confusion: NotRequired[list[list[int]]]  # with ``evaluate(confusion=True)``: [true, predicted, count] cells


#: The statuses an epoch record can have.
STATUSES = (TrialStatus.OK, TrialStatus.DIVERGED, TrialStatus.OOM, TrialStatus.FAILED)


@dataclass
class EpochRecord:
    """One point of a trial's learning curve and its cost.

    ``val_top1``/``val_top5``/``val_balanced_accuracy``/``val_macro_f1`` are fractions in [0, 1] (``val_top5`` is
    None with fewer than 5 classes; the last two None in records of versions before them). ``metric`` names the one
    the trial is selected on (:data:`~hf_quicktune.train.metrics.METRICS`): :attr:`score`, the best epoch kept,
    a plateau schedule. When ``status`` is not ``"ok"`` the epoch did not finish: metrics that could not be
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
    status: TrialStatus = TrialStatus.OK
    message: str = ""
    val_balanced_accuracy: float | None = None
    val_macro_f1: float | None = None
    metric: str = "top1"

    def __post_init__(self) -> None:
        self.status = TrialStatus(self.status)

    @property
    def ok(self) -> bool:
        return self.status == TrialStatus.OK

    @property
    def score(self) -> float | None:
        """The validation ``metric`` the optimizer sees (None when the epoch did not finish)."""
        return score_of(vars(self))

    @property
    def cost(self) -> float:
        """Seconds the epoch cost: training plus evaluation."""
        return cost_of(vars(self))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpochRecord:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def score_of(record: Mapping[str, Any]) -> float | None:
    """:attr:`EpochRecord.score` of a record's dict (``to_dict()``, a ``curve.jsonl`` line): its ``metric``'s value
    (top-1 in records written before the metric was recorded)."""
    ok = record.get("status", TrialStatus.OK) == TrialStatus.OK
    value = record.get(metric_key(record.get("metric") or "top1"))
    return float(value) if ok and value is not None else None


def metric_key(metric: str) -> str:
    """The record key of a validation metric: ``val_top1``, ``val_balanced_accuracy``, ``val_macro_f1``."""
    return f"val_{metric}"


def cost_of(record: Mapping[str, Any]) -> float:
    """:attr:`EpochRecord.cost` of a record's dict: train + eval seconds (the one place it is computed)."""
    return float(record.get("train_seconds") or 0.0) + float(record.get("eval_seconds") or 0.0)


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
    def status(self) -> TrialStatus:
        """``STOPPED`` (the caller stopped it), else the last record's status (``OK`` if none)."""
        if self.stopped:
            return TrialStatus.STOPPED
        return self[-1].status if self else TrialStatus.OK


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
        except (json.JSONDecodeError, TypeError, ValueError):
            continue
        by_epoch[record.epoch] = record
    return [by_epoch[e] for e in sorted(by_epoch)]
