"""Trial checkpoints: ``checkpoint-EEEE/`` with the weights (safetensors), the training state
(optimizer, scheduler, grad scaler, RNG states) and a small JSON. Only the newest is kept.

Beside it, ``best-EEEE/`` holds the weights and JSON of the epoch with the best validation top-1
so far (what gets exported, like Trainer's ``load_best_model_at_end``). Its weights are a hard link
to the checkpoint's file when it is written, so it costs no disk while the best epoch is the
newest; once a later epoch replaces that checkpoint, the best epoch's weights (one model's
weights per trial at most) stay behind. Where hard links are not supported the file is copied.

Both are written into a temporary folder and renamed into place, so a process killed mid-write
never leaves a half checkpoint behind. ``trial.json`` records what the trial is (:func:`write_trial_file`).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from hf_quicktune import faults
from hf_quicktune.errors import StorageError, TrainError
from hf_quicktune.train.records import EpochRecord, append_records, load_curve, score_of

TRIAL_FILE = "trial.json"
WEIGHTS_FILE = "model.safetensors"
STATE_FILE = "training_state.pt"
INFO_FILE = "trainer_state.json"
_PATTERN = re.compile(r"^checkpoint-(\d+)$")
_BEST = re.compile(r"^best-(\d+)$")


def checkpoint_dirs(directory: str | Path, pattern: re.Pattern = _PATTERN) -> list[tuple[int, Path]]:
    """Complete checkpoints in ``directory``, oldest first, as (epoch, path)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for child in directory.iterdir():
        match = pattern.match(child.name)
        if match and (child / INFO_FILE).exists():
            found.append((int(match.group(1)), child))
    return sorted(found)


def latest_checkpoint(directory: str | Path) -> tuple[int, Path] | None:
    found = checkpoint_dirs(directory)
    return found[-1] if found else None


def best_checkpoint(directory: str | Path) -> tuple[int, Path] | None:
    """The best epoch's ``best-EEEE`` folder (weights + JSON, no training state), or None."""
    found = checkpoint_dirs(directory, _BEST)
    return found[-1] if found else None


def checkpoint_score(path: Path) -> float | None:
    """The validation score (the trial's metric, :func:`~hf_quicktune.train.records.score_of`) of the epoch a
    checkpoint folder holds (from its JSON)."""
    info = json.loads((path / INFO_FILE).read_text(encoding="utf-8"))
    return score_of(info.get("record") or {})


def checkpoint_confusion(path: Path) -> list[list[int]] | None:
    """The validation confusion matrix of the epoch a checkpoint folder holds, as its non-zero cells
    (``[true, predicted, count]``), or None for a checkpoint written before it was kept."""
    info = json.loads((path / INFO_FILE).read_text(encoding="utf-8"))
    cells = info.get("confusion")
    return None if cells is None else [list(map(int, cell)) for cell in cells]


def update_best(directory: str | Path, epoch: int, checkpoint: Path) -> bool:
    """Make ``checkpoint`` (of ``epoch``) the best epoch if its validation score beats the current
    best (ties keep the earlier epoch). Atomic: temp folder, then rename. Returns whether it did."""
    directory = Path(directory)
    score = checkpoint_score(checkpoint)
    if score is None:
        return False
    best = best_checkpoint(directory)
    if best is not None and (best[0] >= epoch or (checkpoint_score(best[1]) or 0.0) >= score):
        return False
    tmp = directory / f".tmp-best-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        os.link(checkpoint / WEIGHTS_FILE, tmp / WEIGHTS_FILE)
    except OSError:
        shutil.copyfile(checkpoint / WEIGHTS_FILE, tmp / WEIGHTS_FILE)
    shutil.copyfile(checkpoint / INFO_FILE, tmp / INFO_FILE)
    faults.point("best.write")
    final = directory / f"best-{epoch:04d}"
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    for old_epoch, path in checkpoint_dirs(directory, _BEST):
        if old_epoch != epoch:
            shutil.rmtree(path, ignore_errors=True)
    for stale in directory.glob(".tmp-best-*"):
        shutil.rmtree(stale, ignore_errors=True)
    return True


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {k: v for k, v in zip(("kind", "keys", "pos", "has_gauss", "cached_gaussian"),
                                         np.random.get_state(), strict=True)},
        "python": random.getstate(),
    }
    state["numpy"]["keys"] = torch.from_numpy(np.asarray(state["numpy"]["keys"]).astype(np.int64))
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    np.random.set_state((np_state["kind"], np_state["keys"].numpy().astype(np.uint32), int(np_state["pos"]),
                         int(np_state["has_gauss"]), float(np_state["cached_gaussian"])))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


#: what torch's and safetensors' writers say when the file system refuses a write (they drop the OSError's errno)
_WRITE_FAILURES = ("PytorchStreamWriter failed", "unexpected pos", "file write failed", "No space left",
                   "Disk quota exceeded", "File too large", "os error 28", "os error 27", "os error 122")


def is_write_failure(err: BaseException) -> bool:
    """True when ``err``, raised while writing a checkpoint, is the file system's refusal (a full disk, a quota,
    a file-size limit), not a bug: an OSError, or torch's / safetensors' wrapping of one."""
    return isinstance(err, OSError) or any(text in str(err) for text in _WRITE_FAILURES)


def save_checkpoint(directory: str | Path, epoch: int, weights: dict[str, torch.Tensor],
                    training_state: dict[str, Any], info: dict[str, Any]) -> Path:
    """Write ``checkpoint-{epoch}`` atomically, then delete older checkpoints."""
    directory = Path(directory)
    tmp = directory / f".tmp-checkpoint-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir(parents=True)
        save_file({k: v.detach().contiguous().cpu() for k, v in weights.items()}, str(tmp / WEIGHTS_FILE),
                  metadata={"format": "pt"})
        torch.save(training_state, tmp / STATE_FILE)
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=1, default=str), encoding="utf-8")
        faults.point("checkpoint.write")
    except Exception as err:
        if not is_write_failure(err):
            raise
        shutil.rmtree(tmp, ignore_errors=True)  # the space it took, back; the previous checkpoint stays
        raise StorageError.writing(tmp.parent / f"checkpoint-{epoch:04d}", err) from err
    final = directory / f"checkpoint-{epoch:04d}"
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    for old_epoch, path in checkpoint_dirs(directory):
        if old_epoch != epoch:
            shutil.rmtree(path, ignore_errors=True)
    for stale in directory.glob(".tmp-checkpoint-*"):
        shutil.rmtree(stale, ignore_errors=True)
    return final


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """(weights, training state, info) of one checkpoint folder."""
    path = Path(path)
    weights = load_file(str(path / WEIGHTS_FILE))
    training_state = torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
    info = json.loads((path / INFO_FILE).read_text(encoding="utf-8"))
    return weights, training_state, info


def restore_curve(directory: str | Path) -> EpochRecord | None:
    """Finish the writes of an epoch whose process died after its checkpoint was complete: the best-epoch
    copy and the curve line (taken from the checkpoint). Idempotent; returns the restored record, if any.
    The run calls it for every trial directory on resume, so the epoch counts without reopening the trial."""
    latest = latest_checkpoint(directory)
    if latest is None:
        return None
    epoch, path = latest
    update_best(directory, epoch, path)
    if epoch in {r.epoch for r in load_curve(directory)}:
        return None
    info = json.loads((path / INFO_FILE).read_text(encoding="utf-8"))
    if not info.get("record"):
        return None
    record = EpochRecord.from_dict(info["record"])
    append_records(directory, [record])
    return record


def write_trial_file(directory: Path, info: dict[str, Any], *, write: bool = True,
                     horizon_may_change: bool = False) -> None:
    """Record the trial's settings in ``directory/trial.json`` (written only where ``write``: the main process),
    refusing a directory whose checkpoints were trained with other settings. ``horizon_may_change``: the
    schedule's length (``max_epochs``, and the hyperparameters counted in its epochs) and the share of the
    images its epochs train (``epoch_fraction``) may differ."""
    from hf_quicktune.train.config import SCHEDULE_EPOCH_KEYS

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / TRIAL_FILE
    info = json.loads(json.dumps(info, default=str))
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        keys = ["candidate", "config", "max_epochs", "image_size", "train_limit", "seed", "dataset_fingerprint",
                "epoch_fraction", "lr_stepping"]
        free = SCHEDULE_EPOCH_KEYS if horizon_may_change else ()
        if horizon_may_change:
            keys.remove("max_epochs")
            keys.remove("epoch_fraction")

        def same(key: str) -> bool:
            a, b = old.get(key), info.get(key)
            if key == "epoch_fraction":  # written only when below 1
                a, b = (1.0 if v is None else v for v in (a, b))
            if key == "lr_stepping":  # written only when not the default
                a, b = ("warmup" if v is None else v for v in (a, b))
            if key == "config" and isinstance(a, dict) and isinstance(b, dict):
                a, b = ({k: v for k, v in c.items() if k not in free} for c in (a, b))
            return a == b

        diff = [k for k in keys if not same(k)]
        if diff and latest_checkpoint_epoch(directory):
            raise TrainError(
                f"{directory} already holds a trial with different {', '.join(diff)}; "
                "use a new directory for a new trial (or the same settings to continue it)."
            )
    if write:  # replaced whole: two workers holding the trial's engine may rewrite it at once (a re-fit)
        tmp = path.with_name(f".{TRIAL_FILE}.{uuid.uuid4().hex}.tmp")
        try:
            tmp.write_text(json.dumps(info, indent=1), encoding="utf-8")
            faults.point("trial_file.write")
            os.replace(tmp, path)
        except Exception as err:
            tmp.unlink(missing_ok=True)  # a full disk left it half written
            if not is_write_failure(err):
                raise
            raise StorageError.writing(path, err) from err
        _remove_stale_temporaries(directory, path)


#: a temporary trial file older than this was left by a writer killed before it replaced trial.json (a write takes
#: milliseconds; a younger one may be another worker's, about to replace it)
STALE_TEMPORARY_S = 60.0


def _remove_stale_temporaries(directory: Path, written: Path) -> None:
    """Remove the temporary trial files in ``directory`` older than :data:`STALE_TEMPORARY_S`, aged against the
    file just ``written`` there: both times are the file server's, so a node whose clock is off from it (an NFS
    share) neither removes another worker's file being written nor keeps a dead one."""
    try:
        now = written.stat().st_mtime
    except OSError:  # replaced meanwhile by another worker's write: its own cleanup runs
        return
    for stale in directory.glob(f".{TRIAL_FILE}.*.tmp"):
        try:
            if now - stale.stat().st_mtime > STALE_TEMPORARY_S:
                stale.unlink()
        except OSError:  # another worker removed it first
            pass


def latest_checkpoint_epoch(directory: str | Path) -> int:
    latest = latest_checkpoint(directory)
    return latest[0] if latest else 0
