"""The images a time-limited ranking scores every candidate on (a run gives the ranking a share of its ``--budget``),
and a candidate's features selected or merged by the images they belong to."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hf_quicktune.constants import cache_dir
from hf_quicktune.rank.feature_cache import CACHE_VERSION, enforce_limit, mark_used, warn_unwritable
from hf_quicktune.rank.feature_set import FeatureSet, merge_features, select_rows
from hf_quicktune.rank.sampling import stratified_sample

__all__ = ["MIN_TIMED_SAMPLE", "REDUCE_MIN", "FeatureRows", "TimedSample", "merge_features", "remember_sample",
           "remembered_sample"]

logger = logging.getLogger(__name__)

#: the fewest images a time-limited ranking (:class:`TimedSample`) scores on, besides two per class
MIN_TIMED_SAMPLE = 32
#: a time-limited ranking reduces its sample only by more than this share (not for timing noise)
REDUCE_MIN = 0.1


class TimedSample:
    """The images every candidate is scored on, reduced while the forward passes run so that the ranking fits
    ``seconds`` (None: no limit; a run gives the ranking a share of its ``--budget``).

    After each candidate, the candidates left are priced on the current sample from the ones extracted so far
    (cached ones are not counted): their forward seconds per image and unit of forward cost
    (:func:`~hf_quicktune.rank.api.forward_weights`) x each one's cost, plus the mean seconds a candidate took
    besides its forward passes (building the model, loading its weights). When they would overrun the limit, the sample becomes a
    stratified subset of itself that fits (at least :data:`MIN_TIMED_SAMPLE` images and two per class). The
    candidates done keep their features of the subset's images, so every score compares the candidates on the
    same images. The ranking extracts the cheapest first, so the sample shrinks before the expensive ones run
    on all of it. ``spent``: seconds of the limit already used (pricing the candidates)."""

    def __init__(self, indices: np.ndarray, labels: np.ndarray, seconds: float | None, weights: Sequence[float],
                 seed: int, spent: float = 0.0, first: int | None = None) -> None:
        self.indices, self.labels, self.seconds, self.seed = indices, labels, seconds, seed
        self.left = float(sum(weights))  # forward cost of the candidates not yet extracted
        self.left_count = len(weights)
        self.first = len(indices) if first is None else first  # the images drawn (before any reduction)
        self.spent = float(spent)  # wall seconds of the limit used so far (pricing, then every candidate)
        self.forward = 0.0  # forward seconds of those whose features were computed, not loaded from the cache
        self.besides = 0.0  # the rest of their wall seconds (model building, weights)
        self.computed = 0
        self.work = 0.0  # their images x forward cost
        self.least = max(MIN_TIMED_SAMPLE, 2 * len(np.unique(labels)))

    def overruns(self, weight: float) -> float | None:
        """The predicted wall seconds of a candidate of forward cost ``weight`` on the current sample when they
        would end past the limit (by more than :data:`REDUCE_MIN` of it: not for timing noise), else None.
        Nothing is predicted before a first candidate's forward passes were timed. The candidate is then
        skipped, and ``left`` no longer counts it."""
        if self.seconds is None or not self.work or self.forward <= 0:
            return None
        predicted = self.forward / self.work * weight * len(self.indices) + self.besides / self.computed
        if self.spent + predicted <= (1 + REDUCE_MIN) * self.seconds:
            return None
        self.left = max(0.0, self.left - weight)
        self.left_count -= 1
        return predicted

    @property
    def untimed(self) -> bool:
        """No candidate's forward passes were timed yet: nothing prices the sample."""
        return not self.work or self.forward <= 0

    def probe(self) -> np.ndarray | None:
        """The images the first timed candidate is extracted on before the sample is priced (a stratified subset of
        :attr:`least` images, which every later sample contains), or None when there is no limit, a candidate
        was timed already, or the sample is that small. Without it the first candidate ran on the whole sample
        whatever the limit, and a tight limit left the dearer candidates unscored
        (benchmarks/rank_time_limit.py, ``--variants activation-priced,no-probe``)."""
        if self.seconds is None or not self.untimed or len(self.indices) <= self.least:
            return None
        return self.indices[stratified_sample(self.labels, self.least, self.seed)]

    def fit_to_probe(self, probed: np.ndarray, fs: FeatureSet, wall: float, weight: float) -> None:
        """Shrink the sample, keeping the ``probed`` images, to what every candidate not yet extracted (the probed
        one included, its probed images paid) affords at the probe's forward seconds per image and unit of cost and
        its seconds besides them (``wall`` - forward: each candidate's building). Probe features from the cache
        price by the forward seconds recorded when they were computed (nothing besides: unknown); without that,
        the rest of the sample would run unpriced again. Nothing is recorded: the probed candidate's whole
        extraction is :meth:`done`'s."""
        if self.seconds is None:
            return
        rows = len(probed) if fs.cached else fs.computed
        forward = float(fs.seconds) if fs.cached else min(float(fs.seconds) * rows / len(fs.labels), wall)
        if forward <= 0 or not rows:
            return
        per_work = forward / (rows * weight)
        fixed = 0.0 if fs.cached else (self.left_count - 1) * (wall - forward)
        room = self.seconds - self.spent - wall - fixed + per_work * weight * len(probed)
        fits = int(room / (per_work * self.left)) if self.left > 0 else len(self.indices)
        n = max(len(probed), min(len(self.indices), fits))
        if n >= (1 - REDUCE_MIN) * len(self.indices):
            return
        keep = np.isin(self.indices, probed)
        others = np.flatnonzero(~keep)
        extra = others[stratified_sample(self.labels[others], n - len(probed), self.seed)] if n > len(probed) else []
        keep[np.asarray(extra, dtype=np.int64)] = True
        logger.info("ranking on %d of its %d images: its first candidate's %d timed images price the candidates "
                    "left past its %.0fs", n, len(self.indices), len(probed), self.seconds)
        self.indices, self.labels = self.indices[keep], self.labels[keep]

    def done(self, fs: FeatureSet | None, wall: float, weight: float = 1.0) -> None:
        """One candidate of forward cost ``weight`` is extracted in ``wall`` seconds (``fs`` None: it failed);
        reduce the sample if the candidates left would not fit."""
        self.left = max(0.0, self.left - weight)
        self.left_count -= 1
        self.spent += wall
        if fs is not None and fs.computed:  # priced by the rows it computed (the cache's are free)
            forward = min(float(fs.seconds) * fs.computed / len(fs.labels), wall)
            self.forward += forward
            self.besides += wall - forward
            self.computed += 1
            self.work += fs.computed * weight
        if self.seconds is None or self.left_count <= 0 or self.left <= 1e-12 or not self.work:
            return
        per_work = self.forward / self.work
        if per_work <= 0:  # no forward time measured: nothing to price by
            return
        fixed = self.left_count * self.besides / self.computed
        fits = int((self.seconds - self.spent - fixed) / (per_work * self.left))
        n = max(min(self.least, len(self.indices)), fits)
        if n < (1 - REDUCE_MIN) * len(self.indices):
            keep = stratified_sample(self.labels, n, self.seed)
            logger.info("ranking on %d of its %d images: the candidates left would overrun its %.0fs",
                        n, len(self.indices), self.seconds)
            self.indices, self.labels = self.indices[keep], self.labels[keep]


class FeatureRows:
    """One candidate's features on the images they were extracted for, selectable by a subset of them."""

    def __init__(self, fs: FeatureSet, indices: np.ndarray) -> None:
        self.fs, self.indices = fs, np.asarray(indices)

    def on(self, indices: np.ndarray) -> FeatureSet:
        """The features of ``indices`` (a subset of the extracted images; both sorted), with ``seconds`` and
        ``model_seconds`` scaled to them so that candidates' forward seconds compare on the same images."""
        return select_rows(self.fs, self.indices, indices)


def _memory_path(fingerprint: str, seed: int, image_size: int | None, drawn: np.ndarray) -> Path:
    h = hashlib.sha256(json.dumps([str(fingerprint), seed, image_size, CACHE_VERSION]).encode())
    h.update(np.asarray(drawn, dtype=np.int64).tobytes())
    return cache_dir() / "features" / "samples" / f"{h.hexdigest()}.json"


def remembered_sample(fingerprint: str, seed: int, image_size: int | None, drawn: np.ndarray,
                      seconds: float) -> np.ndarray | None:
    """The images an earlier time-limited ranking of the ``drawn`` sample reduced it to, when its limit was not
    meaningfully tighter than ``seconds`` (:data:`REDUCE_MIN`), else None. The size a limit affords follows the
    timing of its first candidate, so the same command run again would draw another size and recompute every
    candidate's features; starting from the remembered images it reads them from the cache, and prices only
    candidates it has not seen (a larger limit computes the images it now affords)."""
    path = _memory_path(fingerprint, seed, image_size, drawn)
    try:
        memory = json.loads(path.read_text())
        kept, limit = np.asarray(memory["indices"], dtype=np.int64), float(memory["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if seconds > (1 + REDUCE_MIN) * limit or not len(kept) or len(np.setdiff1d(kept, drawn)):
        return None
    mark_used(path)
    return np.sort(kept)


def remember_sample(fingerprint: str, seed: int, image_size: int | None, drawn: np.ndarray, seconds: float,
                    kept: np.ndarray) -> None:
    """Record that a ranking limited to ``seconds`` reduced ``drawn`` to ``kept`` (:func:`remembered_sample`)."""
    path = _memory_path(fingerprint, seed, image_size, drawn)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"seconds": seconds, "indices": [int(i) for i in kept], "drawn": len(drawn)}))
        os.replace(tmp, path)
    except OSError as err:  # a read-only cache: the next run draws its own size again
        warn_unwritable(path, err)
        return
    enforce_limit(keep=(path,))
