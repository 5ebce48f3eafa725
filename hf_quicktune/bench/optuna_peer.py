"""Optuna as an external peer, driven step by step through the ask/tell API on a finite pool.

Optuna samples from distributions, a tabular benchmark only knows its pool: the distributions
come from :meth:`Space.from_pool` (the inference the gray-box optimizers use: log scale where a
positive range spans more than two decades, ordinals for at most 12 distinct numbers, an
``NAME:active`` flag for a hyperparameter that is sometimes ``None``), and each Optuna trial's
values are mapped to the **nearest unused pool member** (:class:`~hf_quicktune.bench.pool_map.PoolMap`).
That member is trained one epoch per step; every epoch is ``trial.report``-ed and ``trial.should_prune()``
asked, as a user's training loop would. Variants (``make_optuna``):

* ``tpe-hyperband``: ``TPESampler(seed)`` + ``HyperbandPruner(1, max_epochs, 3)``
* ``random-median``: ``RandomSampler(seed)`` + ``MedianPruner()`` (Optuna defaults)

This peer is for benchmarking only: its ``state_dict`` holds the bookkeeping but cannot restore
the Optuna study (``load_state_dict`` raises).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from hf_quicktune.bench.pool_map import PoolMap
from hf_quicktune.search.base import OK, Optimizer, Suggestion
from hf_quicktune.search.distributions import Float, Int
from hf_quicktune.search.space import Space

logger = logging.getLogger(__name__)

VARIANTS = ("tpe-hyperband", "random-median")


def suggest_params(trial: Any, space: Space) -> dict[str, Any]:
    """Define-by-run Optuna parameters for every hyperparameter of ``space`` (None where inactive)."""
    params: dict[str, Any] = {}
    for name in space.names:
        hp = space.hps[name]
        if hp.optional and not trial.suggest_categorical(f"{name}:active", [True, False]):
            params[name] = None
        elif hp.type in ("categorical", "ordinal"):
            keys = {_key(c): c for c in hp.choices or []}
            params[name] = keys[trial.suggest_categorical(name, list(keys))]
        elif isinstance(hp, Int):
            lo, hi = hp.bounds
            params[name] = trial.suggest_int(name, int(lo), int(hi), log=hp.log)
        else:
            assert isinstance(hp, Float), hp.type
            params[name] = trial.suggest_float(name, *hp.bounds, log=hp.log)
    return params


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
        # a fixed study name: the Hyperband pruner assigns brackets by a hash of the study name and trial
        # number, so Optuna's random default name made the same seed prune differently (found by the contract)
        self.study = optuna.create_study(study_name=f"hf-quicktune-{variant}-{self.seed}", direction="maximize",
                                         sampler=sampler, pruner=pruner)
        self.map = PoolMap(self.pool)
        self._open: dict[int, Any] = {}  # pool id -> its running Optuna trial (one per busy worker), oldest first

    # -- ask / tell ------------------------------------------------------------------------
    def _next(self, tid: int) -> Suggestion:
        st = self.trials.get(tid)
        return Suggestion(tid, dict(self.pool[tid]), (st.epochs if st else 0) + 1)

    def _ask(self) -> Suggestion | None:
        for tid in self._open:
            if tid not in self.in_flight:
                return self._next(tid)
        if self.map.used.all():
            return None
        trial = self.study.ask()
        taken = self.map.take_nearest_unused(suggest_params(trial, self.map.space))
        assert taken is not None  # a free pool member exists (checked above)
        trial.set_user_attr("pool_id", taken)
        self._open[taken] = trial
        return self._next(taken)

    def tell(self, trial_id: int, epoch: int, score: float | None, cost: float, status: str = OK) -> None:
        super().tell(trial_id, epoch, score, cost, status)
        trial = self._open.get(trial_id)
        if trial is None:
            return
        TS = self._optuna.trial.TrialState
        if status != OK:
            self.study.tell(trial, state=TS.FAIL)
            del self._open[trial_id]
            return
        assert score is not None  # an ok epoch has its validation score
        trial.report(float(score), epoch)
        if epoch >= self.max_epochs:
            self.study.tell(trial, float(score))
            del self._open[trial_id]
        elif trial.should_prune():
            self.study.tell(trial, state=TS.PRUNED)
            del self._open[trial_id]

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(variant=self.variant, used=np.flatnonzero(self.map.used).tolist())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise NotImplementedError("the Optuna peer is a benchmark-only optimizer and cannot resume a study")


def make_optuna(variant: str):
    """A factory ``(pool, max_epochs, seed) -> OptunaPeer`` for ``variant``."""

    def factory(pool: list[dict[str, Any]], max_epochs: int, seed: int = 0) -> OptunaPeer:
        return OptunaPeer(pool, max_epochs, seed=seed, variant=variant)

    return factory
