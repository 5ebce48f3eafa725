"""Optuna as an external peer, driven step by step through the ask/tell API on a finite pool.

Optuna samples from distributions, a tabular benchmark only knows its pool: each Optuna trial's
suggested values are mapped to the **nearest unused pool member** (per-hyperparameter [0, 1]
scaling, log scale where the pool spans more than two decades; categories 0/1 apart). That member
is trained one epoch per step; every epoch is ``trial.report``-ed and ``trial.should_prune()``
asked, as a user's training loop would. Variants (``make_optuna``):

* ``tpe-hyperband``: ``TPESampler(seed)`` + ``HyperbandPruner(1, max_epochs, 3)``
* ``random-median``: ``RandomSampler(seed)`` + ``MedianPruner()`` (Optuna defaults)

This peer is for benchmarking only: its ``state_dict`` holds the bookkeeping but cannot restore
the Optuna study (``load_state_dict`` raises).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from hf_quicktune.search.base import OK, Optimizer, Suggestion

logger = logging.getLogger(__name__)

VARIANTS = ("tpe-hyperband", "random-median")


@dataclass
class _Dim:
    name: str
    kind: str  # "float" | "int" | "cat"
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    choices: tuple[Any, ...] = ()


def infer_dims(pool: list[dict[str, Any]]) -> list[_Dim]:
    """Optuna distributions from the values present in the pool."""
    names = sorted({k for c in pool for k in c})
    dims = []
    for name in names:
        values = [c.get(name) for c in pool]
        numeric = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and v is not None]
        if len(numeric) == len(values) and len({float(v) for v in numeric}) > 10:
            lo, hi = float(min(numeric)), float(max(numeric))
            log = lo > 0 and hi / lo >= 100
            kind = "int" if all(float(v).is_integer() for v in numeric) else "float"
            dims.append(_Dim(name, kind, lo, hi, log))
        else:
            uniq = list(dict.fromkeys(_key(v) for v in values))
            dims.append(_Dim(name, "cat", choices=tuple(uniq)))
    return dims


def _key(v: Any) -> Any:
    """A hashable, Optuna-storable stand-in for a categorical value."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


class OptunaPeer(Optimizer):
    """An Optuna study (sampler + pruner) answering ask/tell on a finite pool."""

    def __init__(self, pool: list[dict[str, Any]], max_epochs: int, seed: int = 0, variant: str = "tpe-hyperband"):
        super().__init__(pool, max_epochs, seed)
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if variant == "tpe-hyperband":
            sampler = optuna.samplers.TPESampler(seed=self.seed)
            pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=self.max_epochs, reduction_factor=3)
        elif variant == "random-median":
            sampler = optuna.samplers.RandomSampler(seed=self.seed)
            pruner = optuna.pruners.MedianPruner()
        else:
            raise ValueError(f"unknown Optuna variant {variant!r}; choose from {VARIANTS}")
        self.variant = variant
        self._optuna = optuna
        self.study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
        self.dims = infer_dims(self.pool)
        self._matrix = self._scale_pool()
        self._used = np.zeros(len(self.pool), dtype=bool)
        self._current: tuple[Any, int] | None = None  # (optuna trial, pool id)

    # -- pool mapping ----------------------------------------------------------------------
    def _scale(self, dim: _Dim, v: Any) -> float:
        if dim.kind == "cat":
            return float(dim.choices.index(_key(v)))
        if dim.high == dim.low:
            return 0.0
        if dim.log:
            return (math.log(v) - math.log(dim.low)) / (math.log(dim.high) - math.log(dim.low))
        return (float(v) - dim.low) / (dim.high - dim.low)

    def _scale_pool(self) -> np.ndarray:
        return np.array([[self._scale(d, c.get(d.name)) for d in self.dims] for c in self.pool], dtype=float)

    def _nearest_unused(self, params: dict[str, Any]) -> int:
        x = np.array([self._scale(d, params[d.name]) for d in self.dims], dtype=float)
        diff = np.abs(self._matrix - x[None, :])
        cat = np.array([d.kind == "cat" for d in self.dims])
        if cat.any():
            diff[:, cat] = (diff[:, cat] > 0).astype(float)
        dist = (diff**2).sum(axis=1)
        dist[self._used] = np.inf
        return int(np.argmin(dist))

    def _suggest(self, trial: Any) -> dict[str, Any]:
        params = {}
        for d in self.dims:
            if d.kind == "cat":
                params[d.name] = trial.suggest_categorical(d.name, list(d.choices))
            elif d.kind == "int":
                params[d.name] = trial.suggest_int(d.name, int(d.low), int(d.high), log=d.log)
            else:
                params[d.name] = trial.suggest_float(d.name, d.low, d.high, log=d.log)
        return params

    # -- ask / tell ------------------------------------------------------------------------
    def ask(self) -> Suggestion | None:
        if self._current is None:
            if self._used.all():
                return None
            trial = self.study.ask()
            tid = self._nearest_unused(self._suggest(trial))
            self._used[tid] = True
            trial.set_user_attr("pool_id", tid)
            self._current = (trial, tid)
        _, tid = self._current
        st = self.trials.get(tid)
        return Suggestion(tid, dict(self.pool[tid]), (st.epochs if st else 0) + 1)

    def tell(self, trial_id: int, epoch: int, score: float | None, cost: float, status: str = OK) -> None:
        super().tell(trial_id, epoch, score, cost, status)
        if self._current is None or self._current[1] != trial_id:
            return
        trial, _ = self._current
        TS = self._optuna.trial.TrialState
        if status != OK:
            self.study.tell(trial, state=TS.FAIL)
            self._current = None
            return
        trial.report(float(score), epoch)
        if epoch >= self.max_epochs:
            self.study.tell(trial, float(score))
            self._current = None
        elif trial.should_prune():
            self.study.tell(trial, state=TS.PRUNED)
            self._current = None

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(variant=self.variant, used=np.flatnonzero(self._used).tolist())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise NotImplementedError("the Optuna peer is a benchmark-only optimizer and cannot resume a study")


def make_optuna(variant: str):
    """A factory ``(pool, max_epochs, seed) -> OptunaPeer`` for ``variant``."""

    def factory(pool: list[dict[str, Any]], max_epochs: int, seed: int = 0) -> OptunaPeer:
        return OptunaPeer(pool, max_epochs, seed=seed, variant=variant)

    return factory
