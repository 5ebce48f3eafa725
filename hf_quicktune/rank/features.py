"""Penultimate features (and source-head logits) of one candidate on a sample of the target data.

Features are the pooled, pre-logits activations ``forward_head(forward_features(x), pre_logits=True)``
computed with the candidate's own eval preprocessing, batched, on whatever device the
:class:`accelerate.Accelerator` provides. Results are cached on disk (:mod:`~hf_quicktune.rank.feature_cache`), per
candidate identity, dataset fingerprint and preprocessing, with the image ids of their rows, so a second ``rank``
or a later ``run`` computes only the images no earlier one did.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from hf_quicktune.rank.feature_cache import (  # noqa: F401 - cache_path, is_cached: re-exported for callers
    cache_key,
    cache_path,
    cached_rows,
    family_key,
    is_cached,
    save_cached,
)
from hf_quicktune.rank.feature_set import FeatureSet, merge_features

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from hf_quicktune.zoo.candidate import Candidate

logger = logging.getLogger(__name__)

ProgressFn = Callable[[str, int, int], None]

#: every pass retimes the warm model's forward pass of this many of its images (:func:`model_forward_seconds`): two
#: to three times, three while the passes took under RETIME_SECONDS
RETIME_IMAGES = 16
RETIME_SECONDS = 0.2


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
            from hf_quicktune.data.transforms import ToRGB

            image = ToRGB()(image)
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
    retimed: list[tuple[float, int]] | None = None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Run ``model`` over ``loader``: pooled pre-logits features, optional source logits, labels.

    ``retimed`` (when given) receives ``(seconds, images)`` of forward passes of the first :data:`RETIME_IMAGES`
    images of the first batch, repeated after the whole pass (the model and the process warm, the images loaded,
    the device synchronised before the clock stops): :func:`model_forward_seconds`."""
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
    first = None

    def forward(pixels):
        fmap = net.forward_features(batch_layout(pixels, channels_last))
        return fmap, net.forward_head(fmap, pre_logits=True)

    with torch.inference_mode(), accelerator.autocast():
        for step, (pixels, target) in enumerate(loader, start=1):
            if first is None and retimed is not None:
                first = pixels[:RETIME_IMAGES]
            fmap, pooled = forward(pixels)
            out = [pooled.float(), target]
            if with_logits:
                out.append(net.forward_head(fmap).float())
            out = accelerator.gather_for_metrics(tuple(out))
            feats.append(out[0].flatten(1).cpu().numpy())
            labels.append(out[1].cpu().numpy())
            if with_logits:
                logits.append(out[2].cpu().numpy())
            if progress is not None:
                progress(step, total)
        while retimed is not None and first is not None and _retime_more(retimed):
            start = time.perf_counter()
            forward(first)
            if accelerator.device.type == "cuda":
                torch.cuda.synchronize(accelerator.device)
            retimed.append((time.perf_counter() - start, int(first.shape[0])))
    return (
        np.concatenate(feats).astype(np.float32),
        np.concatenate(logits).astype(np.float32) if with_logits else None,
        np.concatenate(labels).astype(np.int64),
    )


def _retime_more(retimed: list[tuple[float, int]]) -> bool:
    """At least two retimed passes, three while they took under :data:`RETIME_SECONDS` (cheap models, small images:
    one pass is a few milliseconds of a noisy clock)."""
    return len(retimed) < 2 or (len(retimed) < 3 and sum(t for t, _ in retimed) < RETIME_SECONDS)


def model_forward_seconds(images: int, retimed: list[tuple[float, int]]) -> float:
    """Seconds of the model's forward passes of ``images`` images at the lowest per-image rate of its ``retimed``
    passes (:func:`extract`); NaN without one.

    Every pass is priced alike, whatever its size: the same images' batch on the warm model. The pass's own batches
    do not price it: the first carries the model's one-off warm-up (kernels chosen, weights re-laid out: at 32 px on
    a CPU it can be most of a small ranking's time) and, for the first candidate of a process, the process's (its
    thread pools, the first images read), a last partial batch runs at a rate of its own, and a ranking whose time
    limit reduced its sample has candidates with and without a second full batch (session 45)."""
    rates = [t / n for t, n in retimed if n > 0]
    return min(rates) * images if rates and images else math.nan


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
    """Features of ``candidate`` on rows ``indices`` of ``split`` (in that order), from the cache when possible.

    Rows the cache holds, whichever earlier call computed them, are read from it; ``model_factory`` builds the model
    (with its source head) only when some are missing, and only those are computed (and cached).
    """
    indices = np.asarray(indices, dtype=np.int64)
    ordered = np.sort(indices)
    family = family_key(candidate, fingerprint, repr(transform), seed)
    held_fs, held, missing = cached_rows(family, ordered) if cache else (None, ordered[:0], ordered)
    if held_fs is not None and not len(missing):
        logger.info("features of %s from cache", candidate.name)
        if progress is not None:
            progress(candidate.name, 1, 1)
        return _in_order(held_fs, ordered, indices)
    model = model_factory()
    num_params = sum(p.numel() for p in model.parameters())
    loader = image_loader(split, missing, transform, batch_size)
    start = time.perf_counter()
    retimed: list[tuple[float, int]] = []
    try:
        feats, logits, labels = extract(
            model,
            loader,
            accelerator,
            with_logits=has_source_head(model),
            progress=None if progress is None else (lambda done, total: progress(candidate.name, done, total)),
            retimed=retimed,
        )
    except (AssertionError, RuntimeError, ValueError) as err:  # e.g. an input size the model is not built for
        from hf_quicktune.errors import ZooError

        raise ZooError(f"{candidate.name} failed its forward pass on these images ({type(err).__name__}: {err}).",
                       input=candidate.name, code="forward_failed",
                       fix="Ranking goes on without it; check its input size (--image-size) and memory.") from err
    seconds = time.perf_counter() - start
    fs = FeatureSet(feats, labels, logits, seconds, num_params,
                    model_seconds=model_forward_seconds(len(labels), retimed))
    if cache:
        key = cache_key(candidate, fingerprint, missing, repr(transform), seed)
        path = save_cached(key, fs, missing,
                           {"candidate": candidate.name, "fingerprint": fingerprint, "n": len(missing)})
        if path is not None:
            logger.info("cached features of %s at %s", candidate.name, path)
    if held_fs is not None:
        logger.info("features of %s: %d images from cache, %d computed", candidate.name, len(held), len(missing))
        fs = merge_features(held, held_fs, missing, fs)
    return _in_order(fs, ordered, indices)


def _in_order(fs: FeatureSet, ordered: np.ndarray, indices: np.ndarray) -> FeatureSet:
    """``fs`` (rows of the sorted ids ``ordered``) with its rows in the order of ``indices``."""
    if np.array_equal(ordered, indices):
        return fs
    rows = np.searchsorted(ordered, indices)
    return dataclasses.replace(fs, features=fs.features[rows], labels=fs.labels[rows],
                               logits=None if fs.logits is None else fs.logits[rows])
