"""Penultimate features (and source-head logits) of one candidate on a sample of the target data.

Features are the pooled, pre-logits activations ``forward_head(forward_features(x), pre_logits=True)``
computed with the candidate's own eval preprocessing, batched, on whatever device the
:class:`accelerate.Accelerator` provides. Results are cached on disk (safetensors) under
``hf_quicktune.constants.cache_dir() / "features"``, keyed by the candidate identity, the dataset
fingerprint, the sample ids and the preprocessing, so a second ``rank`` or a later ``run`` skips
the forward passes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hf_quicktune.constants import cache_dir

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from hf_quicktune.zoo.candidate import Candidate

logger = logging.getLogger(__name__)

#: bump when the extraction itself changes (invalidates every cached entry).
#: 2: photos (JPEG / MPO) are decoded at a reduced DCT scale (:mod:`hf_quicktune.data.decoding`),
#: so features cached from full-size decoding no longer match what this version computes.
CACHE_VERSION = 2

ProgressFn = Callable[[str, int, int], None]


@dataclass
class FeatureSet:
    """Features of one candidate: ``features (n, d)``, ``labels (n,)``, source ``logits (n, Z)`` or None."""

    features: np.ndarray
    labels: np.ndarray
    logits: np.ndarray | None
    seconds: float  # wall time of preprocessing + forward passes when they were computed
    num_params: int
    cached: bool = False
    #: seconds of the model's forward passes alone (no image loading, the first batch's warm-up left out and
    #: its images priced at the others' rate): the candidates' own cost, which the schedule's choice of the
    #: fastest compares (:mod:`~hf_quicktune.run.plan`); NaN where unknown (no steady batch was timed, or a cache
    #: entry written before it was recorded)
    model_seconds: float = math.nan


def candidate_identity(candidate: Candidate, seed: int) -> dict[str, Any]:
    """What determines a candidate's weights (random-init baselines also depend on the seed)."""
    ident = {
        k: getattr(candidate, k, None)
        for k in ("name", "architecture", "source", "library", "pretrained_tag", "hub_id", "path", "weights")
    }
    if candidate.is_scratch:
        ident["init_seed"] = seed
    return ident


def cache_key(
    candidate: Candidate, fingerprint: str, indices: np.ndarray, preprocessing: str, seed: int
) -> str:
    """sha256 of (candidate, dataset fingerprint, sample ids, preprocessing, extraction version)."""
    h = hashlib.sha256()
    h.update(json.dumps(candidate_identity(candidate, seed), sort_keys=True, default=str).encode())
    h.update(str(fingerprint).encode())
    h.update(np.asarray(indices, dtype=np.int64).tobytes())
    h.update(preprocessing.encode())
    h.update(f"v{CACHE_VERSION}".encode())
    return h.hexdigest()


def cache_path(key: str) -> Path:
    return cache_dir() / "features" / f"{key}.safetensors"


def is_cached(candidate: Candidate, fingerprint: str, indices: np.ndarray, transform, seed: int = 0) -> bool:
    """Whether :func:`candidate_features` would find these features on disk (no forward pass to pay)."""
    return cache_path(cache_key(candidate, fingerprint, indices, repr(transform), seed)).is_file()


def load_cached(key: str) -> FeatureSet | None:
    """The cached :class:`FeatureSet` for ``key``, or None (a corrupt file is ignored and logged)."""
    path = cache_path(key)
    if not path.is_file():
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as fh:
            meta = fh.metadata() or {}
            tensors = {name: fh.get_tensor(name) for name in fh.keys()}  # noqa: SIM118
        return FeatureSet(
            features=tensors["features"],
            labels=tensors["labels"].astype(np.int64),
            logits=tensors.get("logits"),
            seconds=float(meta.get("seconds", "nan")),
            num_params=int(meta.get("num_params", "0")),
            cached=True,
            model_seconds=float(meta.get("model_seconds", "nan")),
        )
    except Exception as err:  # noqa: BLE001 - a broken cache entry must not stop ranking
        logger.warning("ignoring unreadable feature cache %s (%s); recomputing", path, err)
        return None


def save_cached(key: str, fs: FeatureSet, info: dict[str, Any]) -> Path:
    """Write atomically (temp file + rename), so an interrupted run never leaves a half file."""
    from safetensors.numpy import save_file

    path = cache_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {"features": np.ascontiguousarray(fs.features), "labels": fs.labels.astype(np.int64)}
    if fs.logits is not None:
        tensors["logits"] = np.ascontiguousarray(fs.logits)
    meta = {"seconds": repr(fs.seconds), "num_params": str(fs.num_params), "model_seconds": repr(fs.model_seconds)}
    meta.update({k: json.dumps(v, default=str) for k, v in info.items()})
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)
    return path


class _ImageSubset:
    """A map-style torch dataset over selected rows of a ``datasets.Dataset`` split."""

    def __init__(
        self, split, indices: np.ndarray, transform, image_column: str = "image", label_column: str = "label"
    ):
        from hf_quicktune.data.decoding import min_source_side, undecoded

        side = min_source_side(transform)  # JPEGs decoded no larger than the transform needs
        raw = undecoded(split, image_column) if side is not None else None
        self.split, self.min_side = (split, None) if raw is None else (raw, side)
        self.indices = [int(i) for i in indices]
        self.transform = transform
        self.image_column = image_column
        self.label_column = label_column

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        row = self.split[self.indices[i]]
        image = row[self.image_column]
        if self.min_side is not None:
            from hf_quicktune.data.decoding import decode_image

            image = decode_image(image, self.min_side)
        if getattr(image, "mode", "RGB") != "RGB":
            image = image.convert("RGB")
        return self.transform(image), int(row[self.label_column])


def image_loader(split, indices: np.ndarray, transform, batch_size: int) -> torch.utils.data.DataLoader:
    """Deterministic (unshuffled) loader of ``(pixels, label)`` batches for ``indices`` of ``split``."""
    import torch

    return torch.utils.data.DataLoader(
        _ImageSubset(split, indices, transform), batch_size=batch_size, shuffle=False, num_workers=0
    )


def extract(
    model: torch.nn.Module,
    loader,
    accelerator,
    *,
    with_logits: bool,
    progress: Callable[[int, int], None] | None = None,
    batch_seconds: list[tuple[float, int]] | None = None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Run ``model`` over ``loader``: pooled pre-logits features, optional source logits, labels.

    ``batch_seconds`` (when given) receives ``(seconds, images)`` of each batch's forward passes alone (the
    device synchronised before the clock stops), without the loading of its images."""
    import torch

    from hf_quicktune.train.layout import batch_layout, to_layout, use_channels_last

    model = accelerator.prepare_model(model, evaluation_mode=True)
    loader = accelerator.prepare_data_loader(loader)
    net = accelerator.unwrap_model(model)
    net.eval()
    channels_last = use_channels_last(accelerator.device.type, accelerator.mixed_precision != "no")
    to_layout(net, channels_last)
    feats, logits, labels = [], [], []
    total = len(loader)
    with torch.inference_mode(), accelerator.autocast():
        for step, (pixels, target) in enumerate(loader, start=1):
            start = time.perf_counter()
            fmap = net.forward_features(batch_layout(pixels, channels_last))
            pooled = net.forward_head(fmap, pre_logits=True)
            out = [pooled.float(), target]
            if with_logits:
                out.append(net.forward_head(fmap).float())
            if batch_seconds is not None:
                if accelerator.device.type == "cuda":
                    torch.cuda.synchronize(accelerator.device)
                batch_seconds.append((time.perf_counter() - start, int(pixels.shape[0])))
            out = accelerator.gather_for_metrics(tuple(out))
            feats.append(out[0].flatten(1).cpu().numpy())
            labels.append(out[1].cpu().numpy())
            if with_logits:
                logits.append(out[2].cpu().numpy())
            if progress is not None:
                progress(step, total)
    return (
        np.concatenate(feats).astype(np.float32),
        np.concatenate(logits).astype(np.float32) if with_logits else None,
        np.concatenate(labels).astype(np.int64),
    )


def steady_forward_seconds(batch_seconds: list[tuple[float, int]]) -> float:
    """Seconds of the forward passes of every image of ``batch_seconds`` (``(seconds, images)`` per batch) at the
    rate of the full batches after the first; NaN when there is none. The first batch carries the model's one-off
    warm-up (kernels chosen, weights re-laid out: at 32 px on a CPU it can be most of a small ranking's time) and a
    last partial batch runs at a rate of its own, so a pass without a steady batch gives no comparable rate (the
    run then compares the candidates' whole timed loops, :func:`~hf_quicktune.run.plan.ranking_costs`)."""
    if not batch_seconds:
        return math.nan
    full = batch_seconds[0][1]
    steady = [(t, n) for t, n in batch_seconds[1:] if n == full]
    if not steady:
        return math.nan
    return sum(t for t, _ in steady) / sum(n for _, n in steady) * sum(n for _, n in batch_seconds)


def has_source_head(model) -> bool:
    """True when the timm model still has a classifier (``num_classes > 0``)."""
    return int(getattr(model, "num_classes", 0) or 0) > 0


def candidate_features(
    split,
    fingerprint: str,
    candidate: Candidate,
    indices: np.ndarray,
    *,
    transform,
    model_factory: Callable[[], torch.nn.Module],
    accelerator,
    batch_size: int = 64,
    cache: bool = True,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> FeatureSet:
    """Features of ``candidate`` on rows ``indices`` of ``split``, from the cache when possible.

    ``model_factory`` builds the model (with its source head) only on a cache miss.
    """
    preprocessing = repr(transform)
    key = cache_key(candidate, fingerprint, indices, preprocessing, seed)
    if cache:
        hit = load_cached(key)
        if hit is not None and hit.features.shape[0] == len(indices):
            logger.info("features of %s from cache (%s)", candidate.name, cache_path(key))
            if progress is not None:
                progress(candidate.name, 1, 1)
            return hit
    model = model_factory()
    num_params = sum(p.numel() for p in model.parameters())
    loader = image_loader(split, indices, transform, batch_size)
    start = time.perf_counter()
    batch_seconds: list[tuple[float, int]] = []
    try:
        feats, logits, labels = extract(
            model,
            loader,
            accelerator,
            with_logits=has_source_head(model),
            progress=None if progress is None else (lambda done, total: progress(candidate.name, done, total)),
            batch_seconds=batch_seconds,
        )
    except (AssertionError, RuntimeError, ValueError) as err:  # e.g. an input size the model is not built for
        from hf_quicktune.errors import ZooError

        raise ZooError(f"{candidate.name} failed its forward pass on these images ({type(err).__name__}: {err}).",
                       input=candidate.name, code="forward_failed",
                       fix="Ranking goes on without it; check its input size (--image-size) and memory.") from err
    seconds = time.perf_counter() - start
    fs = FeatureSet(feats, labels, logits, seconds, num_params,
                    model_seconds=steady_forward_seconds(batch_seconds))
    if cache:
        path = save_cached(
            key, fs, {"candidate": candidate.name, "fingerprint": fingerprint, "n": len(indices)}
        )
        logger.info("cached features of %s at %s", candidate.name, path)
    return fs
