"""Quick-Tune: meta-learned, cost-aware, gray-box (freeze-thaw) BO over a finite pool.

Over 400 lines on purpose: one class, the optimizer of Alg. 1; fitting, cost, acquisition and calibration are apart.

Arango et al., ICLR 2024, Alg. 1: start with one random configuration at epoch 1; after each
observation refit the deep-kernel GP surrogate (warm-started from the meta-learned prior) and the
cost model; score every unfinished pool member at its next epoch with EI / predicted cost
(§4.3) and train the argmax one more epoch. :class:`DyHPOOptimizer` is the same loop without a
prior (Wistuba et al., NeurIPS 2022). The surrogate's data and refitting are in :mod:`.fitting`, the
pending evaluations of trials in flight (several workers) in :mod:`.believer`.
Two additions to Alg. 1: the acquisition's std is recalibrated by the surrogate's own forecast errors on
this dataset (:mod:`.calibration`), and ``ask(max_cost=budget left)`` only
suggests steps predicted to fit.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from hf_quicktune.errors import MetaError, SpaceError
from hf_quicktune.search.acquisition import (
    MODES,
    acquisition_scores,
    argmax,
    cooled_cost_exponent,
    incumbent_at,
    incumbents_by_budget,
)
from hf_quicktune.search.base import OK, Optimizer, Suggestion
from hf_quicktune.search.believer import KrigingBeliever
from hf_quicktune.search.calibration import FORECAST_KINDS, ForecastCalibration
from hf_quicktune.search.cost import CostModel, CostPrior, step_seconds
from hf_quicktune.search.features import FeatureEncoder, SurrogateInputs
from hf_quicktune.search.fitting import RefitPolicy, SurrogateFitting
from hf_quicktune.search.prior import Prior
from hf_quicktune.search.space import Space
from hf_quicktune.search.surrogate import DeepKernelSurrogate
from hf_quicktune.search.threads import torch_threads
from hf_quicktune.search.zero_shot import zero_shot_features

logger = logging.getLogger(__name__)

HORIZONS = ("next", "max")
STARTS = ("auto", "zero_shot", "random", "first")
START_BATCHES = ("start", "believer", "distinct")
#: with a prior meta-trained on P-epoch runs and a run's schedule of S != P epochs, read epoch e as the point e/S of
#: the schedule (and the curve on the prior's grid: ``FeatureEncoder.encode(schedule_epochs=)``) rather than as
#: epoch e of P; the default of ``QuickTuneOptimizer(relative_budget=)``. Off: measured on real 5-minute runs of a
#: 100-image set (S = 82-162, P = 50; benchmarks/README, ``finish_margin.py`` and ``schedule_forecast.py`` rows,
#: session 40) it kept every forecast of a trial's end within [0, 1] (read as e/P, 21 of 111 were above 1), yet
#: ranked the trials' ends no better (a frozen body's plateau is foreseen by neither) and its runs lost all three
#: pairs (89.1 / 70.5 / 83.8 % against 93.0 / 88.9 / 85.0 %)
RELATIVE_BUDGET = False


def pool_fingerprint(pool: Sequence[Mapping[str, Any]]) -> str:
    text = json.dumps([dict(c) for c in pool], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class QuickTuneOptimizer(KrigingBeliever, SurrogateFitting, Optimizer):
    """Ask/tell Quick-Tune over ``pool_or_space`` (a list of configurations, or a :class:`Space`
    from which ``pool_size`` configurations are sampled with ``seed``).

    Args:
        max_epochs: epochs of a full trial (trials are never suggested past it).
        prior: the meta-learned :class:`Prior` (copied; never modified). None = DyHPO-style.
        meta_features: this dataset's meta-features ({name: value}, the prior's names).
        model_features: {model name: {feature: value}} (parameter count, zero-cost scores ...).
        acquisition: ``ei``, ``ei_per_cost`` or ``ucb``; ``exploration`` its one exploration factor.
        horizon: the budget each candidate is scored at. ``"next"`` (the paper, §4.3): its next epoch,
            against the best score observed at that epoch. ``"max"``: its accuracy at ``max_epochs``
            predicted from the curve observed so far, against the best score observed at any epoch
            (the extrapolating acquisition of DPL, Kadra et al. 2023); the step taken is still one
            epoch and ``ei_per_cost`` still divides by that epoch's predicted seconds. Needs a
            surrogate that can predict several epochs ahead (a prior meta-trained with
            ``extrapolate > 0``); the GP is then also conditioned on one configuration-only point
            per trial (its latest score predicted from the configuration alone).
        initial_epochs: epochs a new trial trains before the acquisition sees it again (the paper
            and DyHPO: 1). Its first observations are learnt from the configuration alone (that is
            what the acquisition predicts for a new trial) and ``ei_per_cost`` divides by the
            predicted seconds of all of them. Meant for tables whose first epochs say little about
            the final ranking (LCBench, where epoch 1 is close to the untrained network: Spearman
            of epoch-1 with final accuracy -0.004 mean over the 34 tasks, epoch 2 0.61, epoch 5
            0.80; ``benchmarks/quicktune_diagnostics.py fidelity``).
        space: the space to encode a list pool with (default: the prior's, else inferred from the pool).
        refit: the :class:`RefitPolicy` (when and how the surrogate and the cost model are refitted);
            its fields may also be given as keywords (``refit_steps=``, ``full_refit_steps=``,
            ``full_refit_until=``, ``degrade_tol=``, ``lr=``, ``refit_every=``, ``fit_subset=``,
            ``cost_steps=``), which override ``refit``'s.
        max_condition: the GP is conditioned on at most this many points: each trial's newest
            observations first (a curve's recent epochs carry its continuation; the curve encoder
            already sees the older ones), then older ones by recency. Bounds ask at O(max_condition^2
            x pool) whatever the length of the search.
        cost_prior: seconds-per-epoch predictions made outside the search (a :class:`CostPrior`, e.g.
            from timed training steps or the linearized estimator), used for a model's trials until
            the cost model has observed a cost of that model.
        threads: torch intra-op threads while asking/telling (None: leave torch's setting).
        start: the first trial. ``"zero_shot"``: the pool member whose final accuracy the prior predicts
            highest from the configuration, the model and the dataset's meta-features alone
            (:meth:`zero_shot`; needs a prior); ``"random"`` (the paper and DyHPO: a seeded draw);
            ``"first"``: pool member 0 (the caller ordered the pool: ``hf_quicktune.run.search_setup``
            puts the prior's best prediction or the robust default there); ``"auto"``: zero-shot with a
            prior, else random.
        start_batch: the asks made while trials are in flight and none has reported (several workers at the
            start of a search). ``"distinct"`` (default): the start rule's next choice whose model no start in
            flight has, while there is one (the next zero-shot pick; with ``start="first"`` the pool's next
            member, the ``initial_design`` kept in its order): four workers otherwise began with the prior's four
            best picks, often of one model, and met the other models' winners late. Replayed at 4 workers on the
            extended meta-dataset (benchmarks/README, parallel row; two replays of 26 datasets): time to the
            one-worker run's final regret shorter by a median 3.59 / 3.84x against 2.36 / 2.68x for ``"start"``,
            regret at 10 % 0.075 vs 0.084, at 100 % 0.0089 vs 0.0090. ``"start"``: the start rule's next choice.
            ``"believer"``: with a prior, as if the trials in flight had reported: the ``initial_design``'s next
            member, else the acquisition with their outcomes believed (:mod:`.believer`: the prior's mean and
            kernel conditioned on them); in one replay it tied at 10 % and lost at 100 % (0.0125 vs 0.0074),
            speed-up median 2.32 vs 2.36; without a prior ``"start"`` applies. One worker: no effect.
        relative_budget: with a prior meta-trained on runs of another schedule length than ``max_epochs``, encode
            epoch e as the point e / ``max_epochs`` of the schedule and the curve on the prior's epoch grid
            (:meth:`~hf_quicktune.search.features.FeatureEncoder.encode`'s ``schedule_epochs``) instead of as epoch
            e of the prior's schedule. None: :data:`RELATIVE_BUDGET` (off; measured there). The length the told
            epochs belong to is the constructor's ``max_epochs``, kept across :meth:`set_max_epochs` and resume.
        zero_shot_trees: :meth:`zero_shot` predicts by the prior's zero-shot trees when it has them
            (:mod:`~hf_quicktune.search.zero_shot`); False: by the surrogate's mean (an ablation).
        initial_design: pool members tried (each to ``initial_epochs``) before the acquisition takes over, in
            order, after the start (BO's initial design; ``hf_quicktune.run.search_setup`` puts the prior's
            zero-shot choice and the configuration a practitioner would run by hand there).
        cost_cooling: with ``ei_per_cost``, divide EI by cost ** alpha, alpha the fraction of the budget left
            (CArBO's cost cooling, :func:`~hf_quicktune.search.acquisition.cooled_cost_exponent`); the total
            budget is the largest ``max_cost`` an ``ask`` was given (the first one's, saved with the state).
            Without ``max_cost`` (no budget known) alpha is 1, the paper's EI per cost. Off by default: on the
            extended meta-dataset it raised the recipe's regret at 100 % from 0.066 to 0.079 (benchmarks/README).
        scale_anchor: with a prior, fit the kernel's outputscale under a log-normal hyperprior centred on the
            prior's, of this width in log units (0: keep the prior's;
            :meth:`~hf_quicktune.search.surrogate.DeepKernelSurrogate.anchor_scale`). None (default): type-II ML,
            the paper. Off by default: measured before ``freeze_mean`` (the mean refitted), 0.5 fixed the extended
            set's worst dataset (PLT_NET 0.392 -> 0.014 at 100 %), tied on the set (0.058 vs 0.066) and raised
            LCBench's regret (0.033 vs 0.021; benchmarks/README).
        freeze_mean: with a prior meta-trained with a learned mean (``mean="mlp"``), keep that mean as
            meta-trained while the search refits the kernel, its feature extractor and the constant level: the
            GP models this dataset's residual from the prior's prediction (a GP prior mean meta-learned on other
            tasks, as in Wang et al., NeurIPS 2018, "Regret bounds for meta Bayesian optimization"). Refitting
            the mean too (the reference code fine-tunes every weight) taught it, from the first trials a search
            chose, that every configuration of the dataset scores like them: on the extended meta-dataset's
            PLT_NET the five best configurations, never tried, were predicted 0.07-0.26 for a recorded 0.95-0.97
            (``benchmarks/acquisition_trace.py``). Measured (benchmarks/README, extended-set row): the recipe's
            regret at 10/25/50/100 % 0.238/0.127/0.088/0.047 against 0.265/0.201/0.109/0.066 on the extended
            set, 0.137/0.087/0.053/0.015 against 0.155/0.079/0.038/0.021 on LCBench. No effect without such a
            prior.
        score_floor: a trial whose best score after ``max(2, initial_epochs)`` epochs is not above this
            value (e.g. chance level) is not continued: it cannot be a useful incumbent.
        score_ceiling: the largest score possible (accuracy: 1); EI then counts improvement only up to it
            (:func:`~hf_quicktune.search.acquisition.expected_improvement`). None (default): the paper's EI. Off
            by default: measured (benchmarks/README, extended-set and parallel rows) it tied at one worker on
            both meta-datasets and, at 4 workers, lowered the regret at 100 % (0.0077 vs 0.0097, two replays
            each) but raised it at 10 % (0.095 vs 0.084) and the speed-up fell (2.2 vs 2.5 / 2.9).

    ``overhead_seconds`` is the total time spent in ask + tell; ``last_overhead_seconds`` that of
    the last ask/tell pair (what a benchmark charges to the optimizer).
    """

    def __init__(
        self,
        pool_or_space: Space | Sequence[Mapping[str, Any]],
        *,
        max_epochs: int = 50,
        prior: Prior | None = None,
        meta_features: Mapping[str, float] | None = None,
        model_features: Mapping[str, Mapping[str, float]] | None = None,
        acquisition: str = "ei_per_cost",
        exploration: float | None = None,
        horizon: str = "next",
        pool_size: int = 1000,
        seed: int = 0,
        space: Space | None = None,
        cost_prior: CostPrior | None = None,
        max_condition: int = 384,
        threads: int | None = 1,
        initial_epochs: int = 1,
        start: str = "auto",
        score_floor: float | None = None,
        score_ceiling: float | None = None,
        initial_design: Sequence[int] = (),
        cost_cooling: bool = False,
        scale_anchor: float | None = None,
        freeze_mean: bool = True,
        zero_shot_trees: bool = True,
        start_batch: str = "distinct",
        relative_budget: bool | None = None,
        refit: RefitPolicy | None = None,
        **refit_options: Any,
    ):
        if acquisition not in MODES:
            raise ValueError(f"acquisition must be one of {MODES}, got {acquisition!r}")
        if horizon not in HORIZONS:
            raise ValueError(f"horizon must be one of {HORIZONS}, got {horizon!r}")
        if isinstance(pool_or_space, Space):
            space = pool_or_space
            pool = space.sample(pool_size, seed=seed)
        else:
            pool = [dict(c) for c in pool_or_space]
        super().__init__(pool, max_epochs, seed)
        self.acquisition = acquisition
        self.exploration = exploration
        self.horizon = horizon
        if not 1 <= int(initial_epochs) <= max_epochs:
            raise ValueError(f"initial_epochs must be in 1..max_epochs={max_epochs}, got {initial_epochs}")
        self.initial_epochs = int(initial_epochs)
        self.relative_budget = RELATIVE_BUDGET if relative_budget is None else bool(relative_budget)
        # the schedule the told epochs belong to (set_max_epochs moves max_epochs, not this: a finishing trial's
        # re-fitted schedule does not re-read the other trials' curves)
        self.schedule_epochs = int(max_epochs)
        if start not in STARTS:
            raise ValueError(f"start must be one of {STARTS}, got {start!r}")
        if start == "zero_shot" and prior is None:
            raise ValueError("start='zero_shot' needs a prior")
        self.start = ("zero_shot" if prior is not None else "random") if start == "auto" else start
        if start_batch not in START_BATCHES:
            raise ValueError(f"start_batch must be one of {START_BATCHES}, got {start_batch!r}")
        self.start_batch = start_batch
        self.initial_design = [int(i) for i in initial_design]
        self.score_floor = None if score_floor is None else float(score_floor)
        self.score_ceiling = None if score_ceiling is None else float(score_ceiling)
        self.cost_cooling = bool(cost_cooling)
        self.budget_total: float | None = None  # the largest max_cost seen (cost_cooling)
        unknown = sorted(set(refit_options) - {f.name for f in dataclasses.fields(RefitPolicy)})
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword arguments {unknown}")
        self.refit = dataclasses.replace(refit or RefitPolicy(), **refit_options)
        # 1e-2 with or without a prior: with 1e-3 the ten warm-started steps barely moved the prior's
        # kernel towards the target dataset and searches stalled on LCBench (4 fold-0 tasks, plain EI,
        # regret at 100 % of the budget: 0.082 with 1e-3 (3 seeds) vs 0.032 with 1e-2 (2 seeds)). Re-measured
        # for the recipe on 2026-12-01 (benchmarks/README.md, extended-set row): 1e-3 lowers the extended
        # set's regret (0.066 -> 0.050 at 100 %) and raises LCBench's (0.021 -> 0.046): no default for both
        if self.refit.lr is None:
            self.refit.lr = 1e-2
        self.max_condition = int(max_condition)
        self.meta_features = dict(meta_features) if meta_features else None
        self.model_features = {str(k): dict(v) for k, v in model_features.items()} if model_features else None
        self.cost_prior = cost_prior
        self.threads = threads
        self.has_prior = prior is not None
        self.zero_shot_model = getattr(prior, "zero_shot", None) if zero_shot_trees else None

        if prior is not None:
            self.surrogate: DeepKernelSurrogate = copy.deepcopy(prior.surrogate)
            self.surrogate.clear_condition()  # whatever meta-training last conditioned on is not this dataset
            self.surrogate.mark_initial()
            encoder = self.surrogate.encoder
            if prior.cost_model is not None:
                self.cost_model = copy.deepcopy(prior.cost_model)
                self.cost_model.encoder = encoder
            else:
                self.cost_model = CostModel(encoder, seed=seed)
            self.cost_model.mark_initial()
            if encoder.max_epochs != self.max_epochs:  # debug: a run builds several (it says so once)
                logger.debug("the prior was meta-trained with max_epochs=%d, this search uses %d; budgets are "
                             "scaled by the prior's", encoder.max_epochs, self.max_epochs)
        else:
            space = space or Space.from_pool(pool)
            model_key = "model"
            names = sorted({str(c.get(model_key)) for c in pool}) if model_key in space else []
            mf = {n: self.model_features[n] for n in names if self.model_features and n in self.model_features}
            encoder = FeatureEncoder.fit(space, max_epochs, model_names=names, model_features=mf or None)
            self.surrogate = DeepKernelSurrogate(encoder, seed=seed)
            self.cost_model = CostModel(encoder, seed=seed)
        if scale_anchor is not None:
            if prior is None:
                raise ValueError("scale_anchor centres the outputscale's hyperprior on a prior's; pass prior=")
            self.surrogate.anchor_scale(float(scale_anchor))
        mean_net = self.surrogate.mean_net
        self.freeze_mean = bool(freeze_mean) and prior is not None and mean_net is not None
        if self.freeze_mean and mean_net is not None:
            mean_net.requires_grad_(False)
        self.encoder = encoder
        try:
            self._encoded = encoder.space.encode(pool, exclude=encoder.excluded)
        except SpaceError as e:
            where = "the prior's space" if prior is not None else "the search space"
            raise SpaceError(f"the candidate pool does not fit {where}: {e}") from e
        if prior is not None and encoder.meta_dim and not self.meta_features:
            logger.warning("the prior uses dataset meta-features %s but none were given; pass meta_features=",
                           encoder.meta_scaler.names)
        self.fingerprint = pool_fingerprint(pool)

        # observations, in tell order: (trial_id, epoch)
        self._obs: list[tuple[int, int]] = []
        self._obs_inputs: list[SurrogateInputs] = []
        self._fit_loss: float | None = None
        self._fit_n = 0  # observations at the last weight fit
        self._stale = False  # observations told since the surrogate was last fitted and conditioned
        self.n_refits = 0
        self.n_full_refits = 0
        self.overhead_seconds = 0.0
        self.last_overhead_seconds = 0.0
        self.overhead_history: list[float] = []
        self._ask_seconds = 0.0
        self._fantasies: dict[int, tuple[int, float]] = {}  # trial in flight -> (epoch, believed score)
        self.calibration = ForecastCalibration()  # the acquisition's std factor (uncertainty_scale)

    # -- ask -----------------------------------------------------------------------------
    def candidates(self) -> list[int]:
        """Pool members that may still be suggested (not in flight, not failed/diverged, not at max_epochs,
        not stuck at or below ``score_floor``)."""
        return [i for i in range(len(self.pool))
                if i not in self.in_flight and not self.is_done(i) and not self.below_floor(i)]

    def below_floor(self, trial_id: int) -> bool:
        """True when the trial trained ``max(2, initial_epochs)`` epochs without beating ``score_floor``."""
        st = self.trials.get(trial_id)
        if self.score_floor is None or st is None or st.epochs < max(2, self.initial_epochs):
            return False
        return max(st.scores) <= self.score_floor

    def _encode(self, ids: Sequence[int], epochs: Sequence[int], curves: Sequence[Sequence[float]]) -> SurrogateInputs:
        """Surrogate inputs of pool members ``ids`` queried at ``epochs`` with the observed ``curves``
        (this dataset's meta-features, the model features, the pool's cached configuration encoding)."""
        return self.encoder.encode(
            [self.pool[i] for i in ids], list(epochs), [list(c) for c in curves],
            meta_features=self.meta_features, model_features=self.model_features,
            encoded_configs=self._encoded[list(ids)],
            schedule_epochs=self.schedule_epochs if self.relative_budget else None,
        )

    def _curves(self, ids: Sequence[int]) -> list[list[float]]:
        return [self.trials[i].scores if i in self.trials else [] for i in ids]

    def zero_shot(self, ids: Sequence[int]) -> np.ndarray:
        """The prior's configuration-only prediction of each pool member's accuracy (before any observation of this
        dataset): its zero-shot trees' when it has them (:mod:`~hf_quicktune.search.zero_shot`: a run's best accuracy
        over its whole curve, or within ``max_epochs`` epochs for trees fitted with a horizon), else the meta-learned
        mean at ``max_epochs``."""
        inputs = self._encode(ids, [self.max_epochs] * len(ids), [[] for _ in ids])
        if self.zero_shot_model is not None:
            return self.zero_shot_model.predict(zero_shot_features(inputs), horizon=self.max_epochs)
        with torch_threads(self.threads):
            self._fit_if_stale()
            mean, _ = self.surrogate.predict(inputs, noise=False)
        return mean

    def zero_shot_order(self, ids: Sequence[int]) -> list[int]:
        """``ids`` best first for a start before any observation. The members whose predicted cost of their
        first suggestion (``initial_epochs`` epochs, by the cost model or ``cost_prior``) is at most the
        median of ``ids`` come first, then the others; each group by :meth:`zero_shot` accuracy.

        Cost matters most at the start of a cost-aware search (CArBO, Lee et al. 2020, §3: the cost
        exponent of EI/cost^alpha cools from 1 to 0 as the budget is spent), yet pure EI per cost favours
        cheap configurations the prior predicts poor (linear probing). The median cut keeps the prior's
        choice among the configurations that cost no more than a typical one: accuracy alone spent 40 %
        of a 16-hour budget on one 384-px model's first epochs (extended meta-dataset, PLT_NET) and all of
        a 90 s run on one epoch at batch size 2."""
        ids = list(ids)
        if not ids:
            return []
        mean = np.asarray(self.zero_shot(ids))
        _, _, cost = self.predict(ids, noise=False)
        cost = np.asarray(cost, dtype=float)
        costly = ~(cost <= np.median(cost))
        return [ids[j] for j in np.lexsort((-mean, costly))]

    def next_epoch(self, trial_id: int) -> int:
        """The epoch a suggestion of ``trial_id`` trains to: a new trial to ``initial_epochs``
        (the paper: 1), a paused one one epoch further."""
        st = self.trials.get(trial_id)
        return max(self.initial_epochs, 1 if st is None else st.epochs + 1)

    def ask(self, max_cost: float | None = None) -> Suggestion | None:
        """The next step (Alg. 1). ``max_cost``: the budget left, in told-cost units; once a cost of this
        dataset was observed, members whose next step is predicted to cost more (:meth:`step_costs`) are not
        suggested, and None is returned when no member fits (a step that ends past the budget only spends
        it). The first step ignores it: its cost is then the prior's guess, made on other datasets' scale."""
        t0 = time.perf_counter()
        if max_cost is not None and math.isfinite(max_cost) and max_cost > (self.budget_total or 0.0):
            self.budget_total = float(max_cost)
        try:
            with torch_threads(self.threads):
                self._fit_if_stale()
                return super().ask(max_cost)
        finally:
            self._ask_seconds += time.perf_counter() - t0

    def _ask(self) -> Suggestion | None:
        cands = self.candidates()
        if cands and self._max_cost is not None and self._obs:  # before any: costs are the prior's guess
            cands = [i for i, c in zip(cands, self.step_costs(cands)) if c <= self._max_cost]
        if not cands:
            return None
        design = [i for i in self.initial_design if i in set(cands) and i not in self.trials]
        # start_batch="believer": an ask beside trials in flight is made as if they had reported (believed)
        reported = bool(self._obs) or bool(self.in_flight and self.start_batch == "believer" and self.has_prior)
        if design and reported:
            tid = design[0]
        elif not reported and self.start == "zero_shot":
            tid = int(self._distinct_models(self.zero_shot_order(cands))[0])
        elif not reported and self.start == "first":
            tid = int(self._distinct_models(cands, keep=design)[0])
        elif not reported:
            rng = np.random.default_rng(self.seed)
            tid = int(cands[int(rng.integers(len(cands)))])
        else:
            with self._believing():
                scores = self.acquisition_values(cands)
            tid = int(cands[argmax(scores)])
        epoch = self.next_epoch(tid)
        mean, std = self.surrogate.predict(self._encode([tid], [epoch], self._curves([tid])), noise=True)
        self.calibration.record(tid, epoch, float(mean[0]), float(std[0]), self._forecast_kind(tid))
        return Suggestion(tid, dict(self.pool[tid]), epoch)

    def _distinct_models(self, order: list[int], keep: Sequence[int] = ()) -> list[int]:
        """With ``start_batch="distinct"``, ``order`` without the members whose model is that of a trial in flight
        (but for ``keep``: the initial design), or all of it when that leaves none; else ``order``."""
        if self.start_batch != "distinct" or not self.in_flight:
            return order
        running = {self.pool[i].get("model") for i in self.in_flight}
        return [i for i in order if i in keep or self.pool[i].get("model") not in running] or order

    def _forecast_kind(self, trial_id: int) -> str:
        st = self.trials.get(trial_id)
        return "continued" if st is not None and st.epochs else "new"

    def uncertainty_scale(self, kind: str = "new") -> float:
        """Factor on the surrogate's posterior std in the acquisition for a forecast of ``kind``
        (:data:`~hf_quicktune.search.calibration.FORECAST_KINDS`): the RMS of the standardized errors of its
        own recent forecasts of the epochs it asked for, never below 1 (:mod:`.calibration`)."""
        return self.calibration.scale(kind)

    def target_epoch(self, trial_id: int) -> int:
        """The epoch the acquisition scores ``trial_id`` at (see ``horizon``)."""
        return self.max_epochs if self.horizon == "max" else self.next_epoch(trial_id)

    def _inputs(self, ids: Sequence[int]) -> SurrogateInputs:
        return self._encode(ids, [self.target_epoch(i) for i in ids], self._curves(ids))

    def predict(self, ids: Sequence[int], noise: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean, std) of the accuracy of each pool member in ``ids`` at its :meth:`target_epoch`
        (``std`` of a new observation with ``noise``, of the latent accuracy without), and the
        predicted seconds of its next epoch."""
        with torch_threads(self.threads):
            self._fit_if_stale()
        inputs = self._inputs(ids)
        mean, std = self.surrogate.predict(inputs, noise=noise)
        return mean, std, self.step_costs(ids, inputs if self.horizon == "next" else None)

    def predict_final(self, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) of the latent accuracy of each pool member in ``ids`` at ``max_epochs``, the end of its
        schedule, from the curve observed so far (freeze-thaw's forecast of where a paused trial ends; the prior is
        meta-trained to predict epochs ahead, ``extrapolate``). Not what a run's end chooses the trial to finish
        by: on the extended meta-dataset the best observed score chose as well or better
        (``benchmarks/finish_choice.py``)."""
        with torch_threads(self.threads):
            self._fit_if_stale()
            ids = list(ids)
            return self.surrogate.predict(self._encode(ids, [self.max_epochs] * len(ids), self._curves(ids)),
                                          noise=False)

    def step_costs(self, ids: Sequence[int], inputs: SurrogateInputs | None = None) -> np.ndarray:
        """Predicted seconds of each pool member's next suggestion, all its epochs (a new trial's
        ``initial_epochs``): the cost model's, refined as :func:`~hf_quicktune.search.cost.step_seconds` says.
        ``inputs``: the members' encoding at their next epoch, when the caller has it."""
        ids = list(ids)
        with torch_threads(self.threads):
            self._fit_if_stale()
        if inputs is None:
            inputs = self._encode(ids, [self.next_epoch(i) for i in ids], self._curves(ids))
        epochs = None
        if self.initial_epochs > 1:  # a new trial's suggestion trains initial_epochs epochs
            epochs = [self.next_epoch(i) - (self.trials[i].epochs if i in self.trials else 0) for i in ids]
        return step_seconds(ids, self.cost_model.predict(inputs), {t: st.costs for t, st in self.trials.items()},
                            min_seconds=self.cost_model.min_seconds, cost_prior=self.cost_prior, epochs=epochs)

    def acquisition_values(self, ids: Sequence[int]) -> np.ndarray:
        """Acquisition of each pool member at its next epoch. EI / UCB use the posterior of the latent
        accuracy: with the observation noise in sigma, a trial whose curve has flattened below the
        incumbent keeps a spurious chance of improving and the search keeps deepening it."""
        mean, std, cost = self.predict(ids, noise=False)
        scale = {k: self.uncertainty_scale(k) for k in FORECAST_KINDS}
        std = std * np.array([scale[self._forecast_kind(i)] for i in ids])
        fantasies = self._fantasies  # believed outcomes of trials in flight (see _believing)
        if self.horizon == "max":
            top = self.best()
            top_score = max([top[2] if top is not None else -math.inf] + [y for _, y in fantasies.values()])
            best = np.full(len(ids), top_score)
        else:
            best_by_budget = incumbents_by_budget({t: st.scores for t, st in self.trials.items()})
            for e, y in fantasies.values():
                best_by_budget[e] = max(best_by_budget.get(e, -math.inf), y)
            best = np.array([incumbent_at(best_by_budget, self.next_epoch(i)) for i in ids])
        alpha = cooled_cost_exponent(self._max_cost, self.budget_total) if self.cost_cooling else 1.0
        return acquisition_scores(self.acquisition, mean, std, best, cost, self.exploration, cost_exponent=alpha,
                                  ceiling=self.score_ceiling)

    def release(self, trial_id: int) -> bool:
        self.calibration.discard(trial_id)
        return super().release(trial_id)

    # -- tell ----------------------------------------------------------------------------
    def tell(self, trial_id: int, epoch: int, score: float | None, cost: float, status: str = OK) -> None:
        t0 = time.perf_counter()
        super().tell(trial_id, epoch, score, cost, status)
        self.calibration.observe(trial_id, epoch, score, ok=status == OK)
        if status == OK:
            self._add_observation(trial_id, epoch)
            self._stale = True  # fitted when next needed (_fit_if_stale): several tells, one fit
        dt = time.perf_counter() - t0 + self._ask_seconds
        self._ask_seconds = 0.0
        self.overhead_seconds += dt
        self.last_overhead_seconds = dt
        self.overhead_history.append(dt)

    def _fit_if_stale(self) -> None:
        """Fit the surrogate (and cost model) to what was told since the last fit, once, when a decision
        needs the posterior (ask, predict). A job of k epochs is told k times before the next ask: fitting
        at every tell spent k fits where one is used, about a second each while the fits are full ones
        (a tenth of a 90 s run that never searched)."""
        if self._stale:
            self._refit()
            self._stale = False

    # -- state ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict; ``state["tensors"]`` holds the surrogate and cost-model weights
        (save with :func:`hf_quicktune.search.serialization.save_state`)."""
        state = super().state_dict()
        state.update(
            pool_size=len(self.pool),
            fingerprint=self.fingerprint,
            acquisition=self.acquisition,
            observations=[list(o) for o in self._obs],
            fit_loss=self._fit_loss,
            fit_n=self._fit_n,
            stale=self._stale,
            horizon=self.horizon,
            initial_epochs=self.initial_epochs,
            schedule_epochs=self.schedule_epochs,
            budget_total=self.budget_total,
            n_refits=self.n_refits,
            n_full_refits=self.n_full_refits,
            overhead_seconds=self.overhead_seconds,
            overhead_history=list(self.overhead_history),
            **self.calibration.state_dict(),
        )
        tensors = {f"surrogate.{k}": v for k, v in self.surrogate.tensors().items()}
        tensors.update({f"cost_model.{k}": v for k, v in self.cost_model.tensors().items()})
        state["tensors"] = tensors
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("fingerprint") not in (None, self.fingerprint):
            raise MetaError("this optimizer state was saved for a different candidate pool; construct the optimizer "
                            "with the same space/pool, seed and pool_size as the saved run.")
        if int(state.get("initial_epochs", 1)) != self.initial_epochs:
            raise MetaError(f"this optimizer state was saved with initial_epochs={state.get('initial_epochs', 1)}; "
                            "construct the optimizer with the same value to resume it.")
        super().load_state_dict(state)
        self.schedule_epochs = int(state.get("schedule_epochs", self.schedule_epochs))
        self._obs, self._obs_inputs = [], []
        for t, e in state.get("observations", []):
            self._add_observation(int(t), int(e))
        self._fit_loss = state.get("fit_loss")
        self._fit_n = int(state.get("fit_n", len(self._obs)))
        self._stale = bool(state.get("stale", False))  # states saved before lazy fitting were always fitted
        self.budget_total = state.get("budget_total")
        self.n_refits = int(state.get("n_refits", 0))
        self.n_full_refits = int(state.get("n_full_refits", 0))
        self.overhead_seconds = float(state.get("overhead_seconds", 0.0))
        self.overhead_history = list(state.get("overhead_history", []))
        self.calibration.load_state_dict(state)
        tensors = state.get("tensors") or {}
        sur = {k[len("surrogate."):]: torch.as_tensor(v) for k, v in tensors.items() if k.startswith("surrogate.")}
        cm = {k[len("cost_model."):]: torch.as_tensor(v) for k, v in tensors.items() if k.startswith("cost_model.")}
        if sur:
            self.surrogate.load_tensors(sur)
        if cm:
            self.cost_model.load_tensors(cm)
        if self._obs:
            self._condition()


class DyHPOOptimizer(QuickTuneOptimizer):
    """The same gray-box, cost-aware BO without meta-learning (DyHPO-style; Wistuba et al., 2022)."""

    def __init__(self, pool_or_space: Space | Sequence[Mapping[str, Any]], *, max_epochs: int = 50,
                 model_features: Mapping[str, Mapping[str, float]] | None = None, **kwargs: Any):
        if kwargs.pop("prior", None) is not None:
            raise ValueError("DyHPOOptimizer does not take a prior; use QuickTuneOptimizer")
        kwargs.pop("meta_features", None)
        super().__init__(pool_or_space, max_epochs=max_epochs, prior=None, model_features=model_features, **kwargs)
