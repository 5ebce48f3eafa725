"""Stratified sampling of training images (zero-training scores, the estimator's subsample, the rows a load keeps
for ``--train-limit`` / ``--eval-limit``), and a few images per class to look at (``data inspect --samples``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import datasets


def stratified_order(labels, seed: int = 0) -> np.ndarray:
    """Every index of ``labels`` in one seeded order whose every prefix is a stratified sample.

    Each class's images are taken in a seeded random order; classes take turns by the Sainte-Laguë (Webster)
    divisor rule, so a prefix of ``n`` holds each class in proportion to its size (within one image of its
    share), after one image of every class first (per-class scores such as LogME see all classes). A divisor
    rule, unlike rounding quotas by largest remainder, never gives a class fewer images as ``n`` grows (the
    "Alabama paradox"), so the sample of ``n`` lies within the sample of any larger ``n`` of the same seed:
    `rank --n 1000`, then a run's 256 images, read the same cached features.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    tiebreak = rng.random(len(classes))
    grouped = np.lexsort((rng.random(labels.shape[0]), inverse))  # by class, each class in a seeded order
    position = np.empty(labels.shape[0], dtype=np.int64)  # each image's place in its class's order
    position[grouped] = np.arange(labels.shape[0]) - np.repeat(np.cumsum(counts) - counts, counts)
    seat = (position + 0.5) / counts[inverse]  # Sainte-Laguë: the (s+1)-th image of a class at (s + 1/2) / size
    return np.lexsort((position, tiebreak[inverse], seat, position > 0))


def stratified_sample(labels, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``min(n, len(labels))`` images drawn per class in proportion to class size: the first ``n``
    of :func:`stratified_order` (one image per class first when ``n`` allows it; deterministic for a ``seed``, so
    the indices, and the feature cache's keys, are stable; nested: a smaller ``n`` draws within a larger one)."""
    labels = np.asarray(labels)
    if n >= labels.shape[0]:
        return np.arange(labels.shape[0])
    return np.sort(stratified_order(labels, seed)[: max(0, int(n))])


def drawn_rows(splits: dict[str, datasets.Dataset], column: str, needed: dict[str, int], seed: int = 0,
               over: float = 1.0) -> tuple[dict[str, datasets.Dataset], dict[str, list[int]]]:
    """``splits`` with each one holding more than ``over`` times ``needed[name]`` rows cut to a stratified sample of
    ``needed[name]`` (by ``column``'s values, :func:`stratified_sample`, in the rows' order), and
    ``{name: [kept, rows]}`` of those cut."""
    from hf_quicktune.data.columns import column_values

    out, cut = dict(splits), {}
    for name, n in needed.items():
        ds = splits.get(name)
        if ds is None or len(ds) <= over * n:
            continue
        idx = stratified_sample(np.asarray([str(v) for v in column_values(ds, column)]), n, seed)
        out[name] = ds.select(idx.tolist())
        cut[name] = [len(idx), len(ds)]
    return out, cut


def rows_per_class(labels: Sequence[int], per_class: int, max_classes: int, seed: int = 0) -> dict[int, list[int]]:
    """Class id -> up to ``per_class`` row indices of it, drawn with ``seed``; the ``max_classes`` most frequent
    classes (ties by id) when there are more."""
    values = np.asarray(labels)
    ids, counts = np.unique(values, return_counts=True)
    chosen = sorted(zip(ids.tolist(), counts.tolist()), key=lambda t: (-t[1], t[0]))[:max_classes]
    rng = np.random.default_rng(seed)
    out = {}
    for cls, _ in sorted(chosen):
        rows = np.flatnonzero(values == cls)
        out[int(cls)] = sorted(rng.choice(rows, size=min(per_class, len(rows)), replace=False).tolist())
    return out


def images_per_class(split: datasets.Dataset, per_class: int, max_classes: int, seed: int = 0
                     ) -> dict[int, list[Any]]:
    """Class id -> up to ``per_class`` of its images in ``split`` (columns ``image`` and ``label``), decoded as
    training decodes them (EXIF orientation applied, 16-bit and float images stretched, every mode to RGB)."""
    from hf_quicktune.data.columns import column_values
    from hf_quicktune.data.decoding import decode_image, undecoded
    from hf_quicktune.data.transforms import ToRGB

    raw = undecoded(split, "image") or split
    return {cls: [ToRGB()(decode_image(raw[i]["image"])) for i in rows]
            for cls, rows in rows_per_class(column_values(split, "label"), per_class, max_classes, seed).items()}
