"""Turning raw observations into surrogate inputs — one code path for meta-training and search.

The reference Quick-Tune code scaled dataset meta-features by 1/1000 when meta-training and by
1/10000 at search time. Here a single :class:`FeatureScaler` (fitted once, saved with the prior)
is applied by :meth:`FeatureEncoder.encode`, which both meta-training and the optimizer call.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

from hf_quicktune.search.space import Space

logger = logging.getLogger(__name__)

UNKNOWN_MODEL = "<unknown>"
#: z-score bound of model features (see :class:`FeatureScaler`)
MODEL_FEATURE_CLIP = 3.0


class FeatureScaler:
    """``(log1p(x) if log else x) - mean) / std`` per named feature; missing values -> 0 (the mean).

    Fit once (meta-training, or on the pool at search time) and stored with the prior. ``clip``
    bounds the z-scores: a model far outside the meta-training range (a 32 px run of a 224 px
    model, random init among pretrained models) is seen as the most extreme one the prior knows
    instead of an extrapolation the MLPs were never trained on.
    """

    def __init__(self, names: Sequence[str], mean: Sequence[float] | np.ndarray, std: Sequence[float] | np.ndarray,
                 log: bool = True,
                 clip: float | None = None):
        self.names = list(names)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)
        self.log = bool(log)
        self.clip = None if clip is None else float(clip)

    @classmethod
    def fit(cls, rows: Sequence[Mapping[str, float]], names: Sequence[str] | None = None, log: bool = True,
            clip: float | None = None) -> FeatureScaler:
        """Fit on a list of {name: value} rows (``names``: which features, default all seen, sorted)."""
        if names is None:
            names = sorted({k for r in rows for k in r})
        raw = np.array([[_num(r.get(n)) for n in names] for r in rows], dtype=np.float64).reshape(len(rows), len(names))
        x = cls._pre(raw, log)
        mean = np.nanmean(x, axis=0) if len(rows) else np.zeros(len(names))
        std = np.nanstd(x, axis=0) if len(rows) else np.ones(len(names))
        mean = np.where(np.isfinite(mean), mean, 0.0)
        std = np.where(np.isfinite(std) & (std > 1e-8), std, 1.0)
        return cls(names, mean, std, log, clip)

    @staticmethod
    def _pre(raw: np.ndarray, log: bool) -> np.ndarray:
        return np.sign(raw) * np.log1p(np.abs(raw)) if log else raw

    def transform(self, rows: Sequence[Mapping[str, float] | None]) -> np.ndarray:
        raw = np.array([[_num((r or {}).get(n)) for n in self.names] for r in rows], dtype=np.float64)
        raw = raw.reshape(len(rows), len(self.names))
        z = (self._pre(raw, self.log) - self.mean) / self.std
        if self.clip is not None:
            z = np.clip(z, -self.clip, self.clip)
        return np.nan_to_num(z, nan=0.0).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"names": self.names, "mean": self.mean.tolist(), "std": self.std.tolist(), "log": self.log,
                "clip": self.clip}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureScaler:
        return cls(d["names"], d["mean"], d["std"], d.get("log", True), d.get("clip"))

    def __len__(self) -> int:
        return len(self.names)


def _num(v: Any) -> float:
    try:
        return float(v) if v is not None else float("nan")
    except (TypeError, ValueError):
        return float("nan")


def schedule_grid(curve: Sequence[float], schedule_epochs: int, grid_epochs: int) -> np.ndarray:
    """The observed scores ``curve`` (epochs 1 .. k of a ``schedule_epochs``-epoch schedule) read on a
    ``grid_epochs``-epoch schedule's epochs: slot j (1-based) is the score at the same point of the schedule,
    epoch j * schedule_epochs / grid_epochs, linearly interpolated between observed epochs (the first epoch's
    score before it), for the slots j whose point the k observed epochs reach (``floor(k * grid / schedule)``,
    at most ``grid_epochs``)."""
    k = len(curve)
    slots = min(grid_epochs, int(math.floor(k * grid_epochs / schedule_epochs + 1e-9)))
    if slots <= 0:
        return np.zeros(0, dtype=np.float32)
    at = np.arange(1, slots + 1, dtype=np.float64) * schedule_epochs / grid_epochs
    return np.interp(at, np.arange(1, k + 1, dtype=np.float64), np.asarray(curve, dtype=np.float64)).astype(np.float32)


@dataclass
class SurrogateInputs:
    """A batch of surrogate inputs (all float32 unless noted).

    config: (n, d_config) encoded hyperparameters (``model`` excluded); model_index: (n,) int64
    into the model vocabulary (0 = unknown); model_features: (n, d_model) scaled; budget: (n,)
    target epoch / max_epochs; curve: (n, max_epochs) the observed scores (epochs 1 .. k, k <
    target epoch), zero-padded; seen: (n,) k / max_epochs (k = target - 1 for a one-epoch-ahead
    query, smaller when predicting further ahead); meta: (n, d_meta) scaled dataset meta-features.
    """

    config: torch.Tensor
    model_index: torch.Tensor
    model_features: torch.Tensor
    budget: torch.Tensor
    curve: torch.Tensor
    seen: torch.Tensor
    meta: torch.Tensor

    def __len__(self) -> int:
        return self.config.shape[0]

    def __getitem__(self, idx: Any) -> SurrogateInputs:
        return SurrogateInputs(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    @staticmethod
    def cat(parts: Sequence[SurrogateInputs]) -> SurrogateInputs:
        return SurrogateInputs(**{f.name: torch.cat([getattr(p, f.name) for p in parts]) for f in fields(SurrogateInputs)})


class FeatureEncoder:
    """Raw (configuration, target epoch, curve so far, model, dataset) -> :class:`SurrogateInputs`.

    ``space`` encodes the configuration without ``model_key``; the model enters through a
    vocabulary index (a learned embedding; unseen names map to index 0) and/or numeric model
    features (parameter count, zero-cost scores ...) so that unseen models are supported.
    """

    def __init__(
        self,
        space: Space,
        max_epochs: int,
        model_names: Sequence[str] = (),
        model_scaler: FeatureScaler | None = None,
        meta_scaler: FeatureScaler | None = None,
        model_key: str = "model",
    ):
        self.space = space
        self.max_epochs = int(max_epochs)
        self.model_key = model_key
        self.model_names = list(model_names)
        self.model_scaler = model_scaler or FeatureScaler([], [], [])
        self.meta_scaler = meta_scaler or FeatureScaler([], [], [])
        self._model_index = {n: i + 1 for i, n in enumerate(self.model_names)}
        self._warned: set[str] = set()

    @classmethod
    def fit(
        cls,
        space: Space,
        max_epochs: int,
        *,
        model_names: Sequence[str] | None = None,
        model_features: Mapping[str, Mapping[str, float]] | None = None,
        meta_features: Sequence[Mapping[str, float]] | None = None,
        model_key: str = "model",
    ) -> FeatureEncoder:
        """Build an encoder: vocabulary = ``model_names`` (default: the space's model choices),
        scalers fitted on the given model features (one row per model) and dataset meta-features
        (one row per dataset)."""
        if model_names is None:
            model_names = list(space.hps[model_key].choices or []) if model_key in space else []
        model_scaler = FeatureScaler.fit(list(model_features.values()), clip=MODEL_FEATURE_CLIP) if model_features else None
        meta_scaler = FeatureScaler.fit(list(meta_features)) if meta_features else None
        return cls(space, max_epochs, [str(m) for m in model_names], model_scaler, meta_scaler, model_key)

    # dims -----------------------------------------------------------------------------
    @property
    def excluded(self) -> tuple[str, ...]:
        return (self.model_key,) if self.model_key in self.space else ()

    @property
    def config_dim(self) -> int:
        return self.space.dim - sum(self.space.hps[k].width for k in self.excluded)

    @property
    def n_models(self) -> int:
        """Vocabulary size including the unknown-model slot 0; 0 when the space has no model."""
        return len(self.model_names) + 1 if self.model_names else 0

    @property
    def model_feature_dim(self) -> int:
        return len(self.model_scaler)

    @property
    def meta_dim(self) -> int:
        return len(self.meta_scaler)

    # encoding -------------------------------------------------------------------------
    def encode(
        self,
        configs: Sequence[Mapping[str, Any]],
        epochs: Sequence[int],
        curves: Sequence[Sequence[float]],
        *,
        meta_features: Mapping[str, float] | Sequence[Mapping[str, float]] | None = None,
        model_features: Mapping[str, Mapping[str, float]] | None = None,
        encoded_configs: np.ndarray | None = None,
        schedule_epochs: int | None = None,
    ) -> SurrogateInputs:
        """Inputs for predicting the score at ``epochs[i]`` given ``curves[i]``, the observed scores of
        epochs ``1 .. k``: ``k = epochs[i] - 1`` for the next epoch (longer curves are cut to that),
        shorter to predict further ahead (``k = 0``: from the configuration alone). ``meta_features``: one dict
        for all rows or one per row; ``model_features``: {model name: {feature: value}}.
        ``encoded_configs`` skips re-encoding when the caller caches ``space.encode``.

        ``schedule_epochs``: the length S of the schedule the epochs and curves belong to, when it is not the
        encoder's ``max_epochs`` P (a run whose schedule was fitted to its budget, with a prior meta-trained on
        P-epoch runs). Epoch e of S is then the point e/S of the schedule (the budget input), and the curve is
        read on the encoder's grid: its slot j is the observed curve at epoch j*S/P (linearly interpolated;
        before the first epoch, the first epoch's score), over the slots the observed epochs reach
        (:func:`schedule_grid`). Without it, epoch e is e/P, past 1 for e > P (outside everything
        meta-training saw)."""
        n = len(configs)
        if encoded_configs is None:
            encoded_configs = self.space.encode(configs, exclude=self.excluded)
        ep = np.asarray(epochs, dtype=np.int64).reshape(n)
        curve = np.zeros((n, self.max_epochs), dtype=np.float32)
        seen = np.zeros(n, dtype=np.float32)
        schedule = self.max_epochs if schedule_epochs is None else int(schedule_epochs)
        relative = schedule != self.max_epochs
        for i, c in enumerate(curves):
            if relative:
                k = max(0, min(int(ep[i]) - 1, len(c)))
                grid = schedule_grid(c[:k], schedule, self.max_epochs)
                k = len(grid)
                curve[i, :k] = grid
            else:
                k = max(0, min(int(ep[i]) - 1, len(c), self.max_epochs))
                if k > 0:
                    curve[i, :k] = np.asarray(c[:k], dtype=np.float32)
            seen[i] = k / self.max_epochs
        budget = ep / schedule
        if self.n_models:
            idx = np.array([self._index_of(cfg.get(self.model_key)) for cfg in configs], dtype=np.int64)
        else:
            idx = np.zeros(n, dtype=np.int64)
        if self.model_feature_dim:
            model_features = model_features or {}
            rows = [model_features.get(str(cfg.get(self.model_key))) for cfg in configs]
            missing = {str(cfg.get(self.model_key)) for cfg, r in zip(configs, rows) if r is None}
            if missing - self._warned:
                logger.warning("no model features for %s; using the meta-training mean", sorted(missing))
                self._warned |= missing
            mf = self.model_scaler.transform(rows)
        else:
            mf = np.zeros((n, 0), dtype=np.float32)
        if self.meta_dim:
            if meta_features is None:
                if "__meta__" not in self._warned:
                    logger.warning("no dataset meta-features given; using the meta-training mean")
                    self._warned.add("__meta__")
                meta_rows: Sequence[Mapping[str, float] | None] = [None] * n
            elif isinstance(meta_features, Mapping):
                meta_rows = [meta_features] * n
            else:
                meta_rows = list(meta_features)
            meta = self.meta_scaler.transform(meta_rows)
        else:
            meta = np.zeros((n, 0), dtype=np.float32)
        return SurrogateInputs(
            config=torch.from_numpy(np.asarray(encoded_configs, dtype=np.float32)),
            model_index=torch.from_numpy(idx),
            model_features=torch.from_numpy(mf),
            budget=torch.from_numpy(budget.astype(np.float32)),
            curve=torch.from_numpy(curve),
            seen=torch.from_numpy(seen),
            meta=torch.from_numpy(meta),
        )

    def _index_of(self, name: Any) -> int:
        i = self._model_index.get(str(name), 0)
        if i == 0 and str(name) not in self._warned:
            logger.info("model %r was not seen in meta-training; using the unknown-model embedding", name)
            self._warned.add(str(name))
        return i

    def to_dict(self) -> dict[str, Any]:
        return {
            "space": self.space.to_dict(),
            "max_epochs": self.max_epochs,
            "model_key": self.model_key,
            "model_names": self.model_names,
            "model_scaler": self.model_scaler.to_dict(),
            "meta_scaler": self.meta_scaler.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureEncoder:
        return cls(
            Space.from_dict(d["space"], source="<prior>"),
            d["max_epochs"],
            d["model_names"],
            FeatureScaler.from_dict(d["model_scaler"]),
            FeatureScaler.from_dict(d["meta_scaler"]),
            d.get("model_key", "model"),
        )
