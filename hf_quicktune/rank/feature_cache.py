"""The on-disk feature cache: safetensors files under ``cache_dir() / "features"``, one folder per candidate, dataset,
preprocessing and seed (a *family*), one file per set of images extracted, each recording the image ids it holds.

Any sample is served from the rows its family already holds, whichever runs computed them (a ``rank`` on more
images, a time-limited ranking's probe and the rest of its sample), so only the images no entry holds are computed.

The folder is bounded: after each write, the least recently used files (an entry's mtime is refreshed whenever it
is read) are removed until it holds at most ``HF_QUICKTUNE_FEATURES_MAX_SIZE`` (default 5 GiB; ``0`` = no limit).
An evicted entry is recomputed by the next ranking that needs its rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
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
#: 5: 16-bit and float images are stretched to 8 bits over their own range (data.transforms.to_8bit) where
#: PIL's conversion clipped them white or black.
#: 6: transparent parts of images are laid on white (data.transforms.flatten_alpha), not on their hidden colours.
CACHE_VERSION = 6

#: the features folder's default size limit (``HF_QUICKTUNE_FEATURES_MAX_SIZE`` overrides it)
DEFAULT_MAX_BYTES = 5 * 2**30
MAX_SIZE_ENV = "HF_QUICKTUNE_FEATURES_MAX_SIZE"
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12,
          "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


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


def parse_size(text: str) -> int:
    """Bytes of a size such as ``5GiB``, ``500 MB``, ``1.5g`` or ``1048576`` (decimal and binary units)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*", str(text))
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        from hf_quicktune.errors import ConfigError

        raise ConfigError(f"cannot read {text!r} as a size.", input=text, code="bad_size",
                          fix="Give a number of bytes with an optional unit: 500MB, 5GiB, 2G, 0 for no limit.")
    return int(float(match.group(1)) * _UNITS[unit])


def max_cache_bytes() -> int | None:
    """The features folder's size limit: ``HF_QUICKTUNE_FEATURES_MAX_SIZE`` (``0`` or ``none``: no limit) or
    :data:`DEFAULT_MAX_BYTES`."""
    text = os.environ.get(MAX_SIZE_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    if text.lower() in ("none", "unlimited"):
        return None
    return parse_size(text) or None


def mark_used(path: Path) -> None:
    """Mark ``path`` as just used (its mtime: what eviction orders by; atime is often not kept)."""
    try:
        os.utime(path)
    except OSError:  # removed by another process's eviction, or a read-only cache: nothing to refresh
        pass


def cache_files() -> list[tuple[Path, int, float]]:
    """Every finished file of the features folder (entries and remembered samples) with its size and last use,
    least recently used first; temporary files of writes in progress are left out."""
    root = cache_dir() / "features"
    files = []
    for path in root.rglob("*"):
        if path.suffix not in (".safetensors", ".json"):
            continue
        try:
            stat = path.stat()
        except OSError:  # removed meanwhile
            continue
        files.append((path, stat.st_size, stat.st_mtime))
    return sorted(files, key=lambda f: (f[2], str(f[0])))


def prune(max_bytes: int, keep: tuple[Path, ...] = ()) -> tuple[int, int]:
    """Remove the least recently used files of the features folder until it holds at most ``max_bytes`` (never
    the files in ``keep``); returns (files removed, bytes freed). Emptied family folders are removed too."""
    files = cache_files()
    total = sum(size for _, size, _ in files)
    removed = freed = 0
    kept = {Path(p).resolve() for p in keep}
    for path, size, _ in files:
        if total - freed <= max_bytes:
            break
        if path.resolve() in kept:
            continue
        try:
            path.unlink()
        except FileNotFoundError:  # another process evicted it first
            pass
        except OSError as err:
            logger.warning("could not remove %s from the feature cache (%s)", path, err)
            continue
        removed, freed = removed + 1, freed + size
        if path.parent != cache_dir() / "features" and not any(path.parent.iterdir()):
            try:
                path.parent.rmdir()
            except OSError:  # a concurrent write just added a file
                pass
    return removed, freed


def enforce_limit(keep: tuple[Path, ...] = ()) -> None:
    """Apply :func:`max_cache_bytes` after a write, logging what was evicted."""
    limit = max_cache_bytes()
    if limit is None:
        return
    removed, freed = prune(limit, keep)
    if removed:
        logger.info("feature cache over its %.1f GiB limit: removed the %d least recently used files (%.1f MiB); "
                    "%s sets the limit", limit / 2**30, removed, freed / 2**20, MAX_SIZE_ENV)


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
        mark_used(path)
        fs = FeatureSet(features=tensors["features"], labels=labels, logits=tensors.get("logits"),
                        seconds=float(meta.get("seconds", "nan")), num_params=int(meta.get("num_params", "0")),
                        cached=True, model_seconds=float(meta.get("model_seconds", "nan")), reused=len(labels))
        return fs, tensors["indices"].astype(np.int64)
    except Exception as err:  # noqa: BLE001 - a broken cache entry must not stop ranking
        logger.warning("ignoring unreadable feature cache %s (%s); recomputing", path, err)
        return None


def save_cached(key: str, fs: FeatureSet, indices: np.ndarray, info: dict[str, Any]) -> Path | None:
    """Write ``fs`` (the features of the sorted image ids ``indices``) atomically (temp file + rename), so an
    interrupted run never leaves a half file. Returns its path, or None (logged) where the cache cannot be
    written: a read-only cache costs later rankings the forward passes, never this one."""
    from safetensors.numpy import save_file

    path = cache_path(key)
    tensors = {"features": np.ascontiguousarray(fs.features), "labels": fs.labels.astype(np.int64),
               "indices": np.asarray(indices, dtype=np.int64)}
    if fs.logits is not None:
        tensors["logits"] = np.ascontiguousarray(fs.logits)
    meta = {"seconds": repr(fs.seconds), "num_params": str(fs.num_params), "model_seconds": repr(fs.model_seconds)}
    meta.update({k: json.dumps(v, default=str) for k, v in info.items()})
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(tmp), metadata=meta)
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        warn_unwritable(path, err)
        return None
    enforce_limit(keep=(path,))
    return path


_WARNED: set[Path] = set()


def warn_unwritable(path: Path, err: OSError) -> None:
    """Log once per process that the features folder cannot be written (then quietly go on without it)."""
    root = cache_dir() / "features"
    if root in _WARNED:
        logger.debug("not cached: %s (%s)", path, err)
        return
    _WARNED.add(root)
    logger.warning("cannot write the feature cache under %s (%s): features are not kept for later rankings; set "
                   "HF_QUICKTUNE_CACHE to a writable folder", root, err)


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
