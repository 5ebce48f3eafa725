"""One candidate's features on a sample of images, and the rows of several such sets put together."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np


@dataclass
class FeatureSet:
    """Features of one candidate: ``features (n, d)``, ``labels (n,)``, source ``logits (n, Z)`` or None."""

    features: np.ndarray
    labels: np.ndarray
    logits: np.ndarray | None
    seconds: float  # wall time of preprocessing + forward passes when they were computed
    num_params: int
    cached: bool = False  # every row came from the feature cache (nothing was computed)
    #: seconds of the model's forward passes alone (no image loading, no warm-up: its images at the rate of a
    #: retimed batch of the warm model, :func:`~hf_quicktune.rank.features.model_forward_seconds`): the candidates'
    #: own cost, which the schedule's choice of the fastest compares (:mod:`~hf_quicktune.run.plan`); NaN where
    #: unknown
    model_seconds: float = math.nan
    #: rows of it read from the feature cache (their ``seconds`` are those recorded when they were computed); the
    #: others were computed by this call
    reused: int = 0

    @property
    def computed(self) -> int:
        """Rows computed by this call (not read from the cache)."""
        return len(self.labels) - self.reused


def select_rows(fs: FeatureSet, of: np.ndarray, indices: np.ndarray) -> FeatureSet:
    """The rows of ``fs`` (extracted for the sorted image ids ``of``) for ``indices`` (a sorted subset of them), with
    ``seconds``, ``model_seconds`` and ``reused`` scaled to them so that candidates' forward seconds compare on the
    same images."""
    if len(indices) == len(of):
        return fs
    rows = np.searchsorted(of, indices)
    share = len(indices) / max(1, len(of))
    return dataclasses.replace(
        fs, features=fs.features[rows], labels=fs.labels[rows],
        logits=None if fs.logits is None else fs.logits[rows],
        seconds=float(fs.seconds) * share, model_seconds=float(fs.model_seconds) * share,
        reused=min(len(indices), round(fs.reused * share)))


def merge_features(a_indices: np.ndarray, a: FeatureSet, b_indices: np.ndarray, b: FeatureSet) -> FeatureSet:
    """One candidate's features of two disjoint image sets as one, in the order of their sorted indices (its
    forward passes are deterministic per image, so this is the set one pass over all of them gives)."""
    order = np.argsort(np.concatenate([a_indices, b_indices]), kind="stable")
    logits = None if a.logits is None or b.logits is None else np.concatenate([a.logits, b.logits])[order]
    return FeatureSet(np.concatenate([a.features, b.features])[order], np.concatenate([a.labels, b.labels])[order],
                      logits, float(a.seconds) + float(b.seconds), a.num_params or b.num_params,
                      cached=a.cached and b.cached, model_seconds=_model_seconds_of_both(a, b),
                      reused=a.reused + b.reused)


def _model_seconds_of_both(a: FeatureSet, b: FeatureSet) -> float:
    """The model's forward seconds of ``a``'s and ``b``'s images at the lower known per-image rate of the two (a
    probe of one batch has none: its batch is the warm-up); NaN when neither is known."""
    rates = [float(fs.model_seconds) / max(1, len(fs.labels)) for fs in (a, b)]
    known = [rate for rate in rates if not math.isnan(rate)]
    return min(known) * (len(a.labels) + len(b.labels)) if known else math.nan
