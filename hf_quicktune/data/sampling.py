"""Stratified sampling of training images (zero-training scores, the estimator's subsample)."""

from __future__ import annotations

import numpy as np


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
