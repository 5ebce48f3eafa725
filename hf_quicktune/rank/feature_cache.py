"""The on-disk feature cache: safetensors files under ``cache_dir() / "features"``, one folder per candidate, dataset,
preprocessing and seed (a *family*), one file per set of images extracted, each recording the image ids it holds.

Any sample is served from the rows its family already holds, whichever runs computed them (a ``rank`` on more
images, a time-limited ranking's probe and the rest of its sample), so only the images no entry holds are computed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hf_quicktune.constants import cache_dir
from hf_quicktune.rank.feature_set import FeatureSet, merge_features, select_rows

if TYPE_CHECKING:  # pragma: no cover
    from hf_quicktune.zoo.candidate import Candidate

logger = logging.getLogger(__name__)

#: bump when the extraction itself changes (invalidates every cached entry).
#: 2: photos (JPEG / MPO) are decoded at a reduced DCT scale (:mod:`hf_quicktune.data.decoding`),
#: so features cached from full-size decoding no longer match what this version computes.
#: 3: entries record their image ids, one folder per family (rows reused across samples).
#: 4: ``model_seconds`` from the warm model's retimed passes (:func:`~hf_quicktune.rank.features.extract`).
CACHE_VERSION = 4


def candidate_identity(candidate: Candidate, seed: int) -> dict[str, Any]:
    """What determines a candidate's weights (random-init baselines also depend on the seed)."""
    ident = {
        k: getattr(candidate, k, None)
        for k in ("name", "architecture", "source", "library", "pretrained_tag", "hub_id", "path", "weights")
    }
    if candidate.is_scratch:
        ident["init_seed"] = seed
    return ident


def family_key(candidate: Candidate, fingerprint: str, preprocessing: str, seed: int) -> str:
    """sha256 of (candidate, dataset fingerprint, preprocessing, extraction version): whose rows are interchangeable."""
    h = hashlib.sha256()
    h.update(json.dumps(candidate_identity(candidate, seed), sort_keys=True, default=str).encode())
    h.update(str(fingerprint).encode())
    h.update(preprocessing.encode())
    h.update(f"v{CACHE_VERSION}".encode())
    return h.hexdigest()


def cache_key(candidate: Candidate, fingerprint: str, indices: np.ndarray, preprocessing: str, seed: int) -> str:
    """``family/sample``: the family's key (:func:`family_key`) and the sha256 of the sample's image ids."""
    sample = hashlib.sha256(np.asarray(indices, dtype=np.int64).tobytes()).hexdigest()
    return f"{family_key(candidate, fingerprint, preprocessing, seed)}/{sample}"


def cache_path(key: str) -> Path:
    return cache_dir() / "features" / f"{key}.safetensors"


def load_cached(key: str | Path) -> tuple[FeatureSet, np.ndarray] | None:
    """The cached :class:`FeatureSet` at ``key`` (or its path) and the image ids of its rows, or None (a corrupt
    file is ignored and logged)."""
    path = key if isinstance(key, Path) else cache_path(key)
    if not path.is_file():
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as fh:
            meta = fh.metadata() or {}
            tensors = {name: fh.get_tensor(name) for name in fh.keys()}  # noqa: SIM118
        labels = tensors["labels"].astype(np.int64)
        fs = FeatureSet(features=tensors["features"], labels=labels, logits=tensors.get("logits"),
                        seconds=float(meta.get("seconds", "nan")), num_params=int(meta.get("num_params", "0")),
                        cached=True, model_seconds=float(meta.get("model_seconds", "nan")), reused=len(labels))
        return fs, tensors["indices"].astype(np.int64)
    except Exception as err:  # noqa: BLE001 - a broken cache entry must not stop ranking
        logger.warning("ignoring unreadable feature cache %s (%s); recomputing", path, err)
        return None


def save_cached(key: str, fs: FeatureSet, indices: np.ndarray, info: dict[str, Any]) -> Path:
    """Write ``fs`` (the features of the sorted image ids ``indices``) atomically (temp file + rename), so an
    interrupted run never leaves a half file."""
    from safetensors.numpy import save_file

    path = cache_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {"features": np.ascontiguousarray(fs.features), "labels": fs.labels.astype(np.int64),
               "indices": np.asarray(indices, dtype=np.int64)}
    if fs.logits is not None:
        tensors["logits"] = np.ascontiguousarray(fs.logits)
    meta = {"seconds": repr(fs.seconds), "num_params": str(fs.num_params), "model_seconds": repr(fs.model_seconds)}
    meta.update({k: json.dumps(v, default=str) for k, v in info.items()})
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)
    return path


def _entry_ids(path: Path) -> np.ndarray | None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as fh:
            return fh.get_tensor("indices").astype(np.int64)
    except Exception:  # noqa: BLE001 - unreadable entries hold nothing
        return None


def _entries(family: str) -> list[tuple[Path, np.ndarray]]:
    """The family's readable entries and their image ids."""
    folder = cache_dir() / "features" / family
    return [(p, ids) for p in sorted(folder.glob("*.safetensors")) if (ids := _entry_ids(p)) is not None]


def cached_rows(family: str, indices: np.ndarray) -> tuple[FeatureSet | None, np.ndarray, np.ndarray]:
    """The rows of the sorted image ids ``indices`` that the family's entries hold, as ``(features, their ids,
    the ids no entry holds)`` (``features`` None when none is held). Entries are taken largest overlap first."""
    indices = np.asarray(indices, dtype=np.int64)
    entries = _entries(family)
    missing, held, parts = indices, np.empty(0, dtype=np.int64), []
    while len(missing) and entries:
        overlaps = [np.intersect1d(ids, missing) for _, ids in entries]
        best = int(np.argmax([len(o) for o in overlaps]))
        if not len(overlaps[best]):
            break
        path, ids = entries.pop(best)
        loaded = load_cached(path)
        if loaded is None or not np.array_equal(loaded[1], ids):
            continue
        parts.append((overlaps[best], select_rows(loaded[0], ids, overlaps[best])))
        missing = np.setdiff1d(missing, overlaps[best])
    if not parts:
        return None, held, indices
    held, fs = parts[0]
    for ids, part in parts[1:]:
        fs = merge_features(held, fs, ids, part)
        held = np.sort(np.concatenate([held, ids]))
    return fs, held, missing


def is_cached(candidate: Candidate, fingerprint: str, indices: np.ndarray, transform, seed: int = 0) -> bool:
    """Whether :func:`~hf_quicktune.rank.features.candidate_features` would find every row of these features on disk
    (no forward pass to pay)."""
    held = [ids for _, ids in _entries(family_key(candidate, fingerprint, repr(transform), seed))]
    return bool(held) and not len(np.setdiff1d(indices, np.concatenate(held)))
