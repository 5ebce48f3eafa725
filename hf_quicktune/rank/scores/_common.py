"""Input checks shared by the score functions (features: ``(n, d)`` float, labels: ``(n,)`` int)."""

from __future__ import annotations

import numpy as np

from hf_quicktune.errors import QuickTuneError


def as_features(features, name: str = "features") -> np.ndarray:
    """Return a finite float64 ``(n, d)`` array or raise with what to fix."""
    arr = np.asarray(features, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 1:
        raise QuickTuneError(
            f"{name} must be a 2-D array (n >= 2 samples, d >= 1 dims); got shape {arr.shape}."
        )
    if not np.all(np.isfinite(arr)):
        raise QuickTuneError(
            f"{name} contain NaN or inf values (the model diverged or the images are corrupt); "
            "check the candidate on a few images or remove it from the zoo."
        )
    return arr


def as_labels(labels, n: int) -> np.ndarray:
    """Return integer labels of length ``n`` or raise with what to fix."""
    arr = np.asarray(labels)
    if arr.shape != (n,):
        raise QuickTuneError(
            f"labels must be a 1-D array with one entry per sample ({n}); got shape {arr.shape}."
        )
    if not np.issubdtype(arr.dtype, np.integer):
        if np.any(arr != np.round(arr)):
            raise QuickTuneError("labels must be integer class ids; map class names to ids first.")
        arr = arr.astype(np.int64)
    if arr.min() < 0:
        raise QuickTuneError(f"labels must be non-negative class ids; found {int(arr.min())}.")
    return arr.astype(np.int64)


def one_hot(labels: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """``(n, C)`` float64 one-hot matrix of the classes present (or ``num_classes`` columns)."""
    classes = int(labels.max()) + 1 if num_classes is None else num_classes
    out = np.zeros((labels.shape[0], classes), dtype=np.float64)
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out
