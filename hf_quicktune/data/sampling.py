"""Stratified sampling of training images (zero-training scores, the estimator's subsample)."""

from __future__ import annotations

import numpy as np


def stratified_sample(labels, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``min(n, len(labels))`` samples drawn per class in proportion to class size.

    Class quotas are the proportional shares rounded by largest remainder, with at least one
    sample per class when ``n`` allows it (so per-class scores such as LogME see all classes). The draw
    is deterministic for a given ``seed``, so the indices (and the feature cache key) are stable, and nested:
    each class's images are taken in one seeded order, so a smaller ``n`` draws within a larger one.
    """
    labels = np.asarray(labels)
    total = labels.shape[0]
    if n >= total:
        return np.arange(total)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    ideal = counts / total * n
    quota = np.floor(ideal).astype(np.int64)
    if n >= len(classes):
        quota = np.maximum(quota, 1)
    quota = np.minimum(quota, counts)
    tiebreak = rng.random(len(classes))
    while quota.sum() < n:  # largest shortfall first, among classes with images left
        gap = np.where(quota < counts, ideal - quota, -np.inf)
        quota[np.lexsort((tiebreak, -gap))[0]] += 1
    while quota.sum() > n:  # largest excess first, never below one image per class
        excess = np.where(quota > 1, quota - ideal, -np.inf)
        quota[np.lexsort((tiebreak, -excess))[0]] -= 1
    # every class's images in one seeded order, whatever n: a smaller sample takes a prefix of each class's order,
    # so it lies within a larger one of the same seed wherever its quotas are no larger (`rank --n 1000`, then a
    # run's 256 images, read the same cached features)
    orders = [rng.permutation(np.flatnonzero(labels == cls)) for cls in classes]
    chosen = [order[: int(q)] for order, q in zip(orders, quota) if q > 0]
    return np.sort(np.concatenate(chosen))
