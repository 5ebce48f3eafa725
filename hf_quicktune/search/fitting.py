"""The surrogate's data and its refitting for :class:`~hf_quicktune.search.quicktune.QuickTuneOptimizer`
(Arango et al., ICLR 2024, Alg. 1: after each observation the deep-kernel GP is refitted, warm-started
from the meta-learned prior, and the cost model updated): the observations in tell order, the rows the
GP is conditioned on (bounded by ``max_condition``, each trial's newest first), and the
:class:`RefitPolicy` deciding between a warm-started and a full refit. The refit runs when the next
decision needs the posterior (``ask``, ``predict``), once for all the observations told since the last one:
Alg. 1 observes one epoch per step, a job here reports several.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from hf_quicktune.search.features import SurrogateInputs

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hf_quicktune.search.base import TrialState
    from hf_quicktune.search.cost import CostModel
    from hf_quicktune.search.surrogate import DeepKernelSurrogate

logger = logging.getLogger(__name__)


@dataclass
class RefitPolicy:
    """When and how the surrogate and the cost model are refitted after an observation.

    The first ``full_refit_until`` observations and any refit whose per-point -mll rises by more than
    ``degrade_tol`` restart from the prior (or the seeded init) with ``full_refit_steps`` Adam steps;
    otherwise ``refit_steps`` warm-started steps at learning rate ``lr`` (None: 1e-2). After
    ``full_refit_until`` observations the weights are refitted once the number of observations has grown
    by the fraction ``refit_every`` since the last fit (0: after every observation); the posterior is
    conditioned on every new observation in any case (cheap, exact). Above ``fit_subset`` observations
    the Adam steps use the exact -mll of a subset (the newest half plus a seeded draw of the rest), so a
    refit stays O(fit_subset^3). ``cost_steps``: online cost-model steps per refit.
    """

    refit_steps: int = 10
    full_refit_steps: int = 100
    full_refit_until: int = 10
    degrade_tol: float = 0.5
    lr: float | None = None
    refit_every: float = 0.05
    fit_subset: int = 256
    cost_steps: int = 10


class SurrogateFitting:
    """Mixin of :class:`QuickTuneOptimizer`: observations -> training data -> conditioning -> refit."""

    # provided by the optimizer
    trials: dict[int, TrialState]
    surrogate: DeepKernelSurrogate
    cost_model: CostModel
    refit: RefitPolicy
    horizon: str
    acquisition: str
    initial_epochs: int
    max_condition: int
    has_prior: bool
    _obs: list[tuple[int, int]]
    _obs_inputs: list[SurrogateInputs]
    _fit_loss: float | None
    _fit_n: int
    n_refits: int
    n_full_refits: int

    def _encode(self, ids: Sequence[int], epochs: Sequence[int], curves: Sequence[Sequence[float]]) -> SurrogateInputs:
        raise NotImplementedError

    def _add_observation(self, trial_id: int, epoch: int) -> None:
        st = self.trials[trial_id]
        # epochs up to initial_epochs were asked for from scratch: the acquisition predicts them
        # from the configuration alone, so they are learnt from an empty curve
        inp = self._encode([trial_id], [epoch], [st.scores[: epoch - 1] if epoch > self.initial_epochs else []])
        self._obs.append((trial_id, epoch))
        self._obs_inputs.append(inp)

    def _training_data(self) -> tuple[SurrogateInputs, np.ndarray, np.ndarray]:
        """Every one-epoch-ahead observation (tell order), then with ``horizon="max"`` one
        configuration-only point per trial (its latest score from an empty curve)."""
        parts = list(self._obs_inputs)
        y = [self.trials[t].scores[e - 1] for t, e in self._obs]
        c = [self.trials[t].costs[e - 1] for t, e in self._obs]
        if self.horizon == "max" and self._obs:
            ids = sorted(t for t, st in self.trials.items() if st.scores)
            parts.append(self._encode(ids, [self.trials[i].epochs for i in ids], [[] for _ in ids]))
            y += [self.trials[i].scores[-1] for i in ids]
            c += [float("nan")] * len(ids)
        return SurrogateInputs.cat(parts), np.array(y, dtype=np.float32), np.array(c, dtype=np.float64)

    def _priority(self) -> np.ndarray:
        """Rows of :meth:`_training_data` by priority: each trial's newest observation and its
        configuration-only point first, then each trial's older observations, newest first."""
        age: list[int] = []
        seen: dict[int, int] = {}
        for t, _ in reversed(self._obs):
            age.append(seen.get(t, 0))
            seen[t] = seen.get(t, 0) + 1
        age.reverse()
        n = len(self._obs)
        rank = [2 * a for a in age]  # newest of a trial: 0; its older ones 2, 4, ...
        n_extra = len([t for t, st in self.trials.items() if st.scores]) if self.horizon == "max" and n else 0
        rank += [1] * n_extra  # configuration-only points right after each trial's newest observation
        recency = list(range(n)) + [n] * n_extra
        return np.lexsort((-np.asarray(recency), np.asarray(rank)))

    def _condition_rows(self, order: np.ndarray, n: int) -> np.ndarray | None:
        return np.sort(order[: self.max_condition]) if n > self.max_condition else None

    def _condition(self, X: SurrogateInputs | None = None, y: np.ndarray | None = None,
                   rows: np.ndarray | None = None) -> None:
        """Condition the GP on the (at most ``max_condition``) rows of the training data."""
        if X is None or y is None:
            X, y, _ = self._training_data()
            rows = self._condition_rows(self._priority(), len(y))
        if rows is None:
            self.surrogate.condition(X, y)
        else:
            self.surrogate.condition(X[torch.from_numpy(rows)], y[rows])

    def _refit(self) -> None:
        X, y, c = self._training_data()
        order = self._priority()
        cond = self._condition_rows(order, len(y))
        policy = self.refit
        lr = policy.lr
        assert lr is not None  # QuickTuneOptimizer.__init__ fills its default
        fit_rows = np.sort(order[: policy.fit_subset]) if len(y) > policy.fit_subset else None
        Xf, yf = (X, y) if fit_rows is None else (X[torch.from_numpy(fit_rows)], y[fit_rows])
        n = len(self._obs)
        full = self._fit_loss is None or n <= policy.full_refit_until
        due = full or n - self._fit_n >= max(1, round(policy.refit_every * n))
        loss = self._fit_loss
        if due and not full:
            previous = self._fit_loss
            assert previous is not None  # a refit is full while there is no loss yet
            loss = self.surrogate.fit(Xf, yf, steps=policy.refit_steps, lr=lr, warm_start=True)
            if not math.isfinite(loss) or loss > previous + policy.degrade_tol:
                logger.debug("surrogate fit degraded (%.3f -> %.3f); full refit", previous, loss)
                full = True
        if full:
            loss = self.surrogate.fit(Xf, yf, steps=policy.full_refit_steps, lr=lr, warm_start=False)
            self.n_full_refits += 1
        if due:
            self.n_refits += 1
            self._fit_n = n
            self._fit_loss = loss if loss is not None and math.isfinite(loss) else None
        self._condition(X, y, cond)
        if self.acquisition == "ei_per_cost" and policy.cost_steps > 0 and due:
            known = np.isfinite(c)
            rows = np.flatnonzero(known)
            if fit_rows is not None:
                rows = np.intersect1d(rows, fit_rows)
            self.cost_model.update(X[torch.from_numpy(rows)], c[rows], steps=policy.cost_steps,
                                   lr=1e-2 if not self.has_prior else 1e-3)
