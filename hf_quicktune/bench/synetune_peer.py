"""Syne Tune's ASHA and BOHB schedulers (``syne-tune`` 0.16) as external peers on a finite pool.

The scheduler object is driven the way Syne Tune's own ``Tuner`` drives it with one worker, on the
replay's simulated clock instead of a backend: ``suggest()`` starts a trial, ``on_trial_add``
registers it, every epoch is reported through ``on_trial_result(trial, {"accuracy", "epoch"})``; a
``STOP`` decision (ASHA's rung test, or ``max_t`` reached) ends it with ``on_trial_remove``, a run
that ended early in the meta-dataset with ``on_trial_error``. Then the next trial starts.

* ``asha``: ``syne_tune.optimizer.baselines.ASHA`` (random search, stopping-type asynchronous
  successive halving; Li et al., MLSys 2020), ``grace_period=1``, ``reduction_factor=3``,
  ``max_t=max_epochs``.
* ``bohb``: ``syne_tune.optimizer.baselines.BOHB`` (the same ASHA scheduling with the TPE-like
  kernel density searcher of Falkner et al., ICML 2018), same settings. Its densities are fitted only once the
  good and the bad set each hold more trials than the KDE has features, the good set being max(features, 15 % of
  the trials) with syne-tune's default ``num_min_data_points``; until then it samples at random, as ASHA does. On
  the quicktune space (41 features) that is 280 trials, more than any pool of the extended meta-dataset, so there
  BOHB replays exactly as ASHA (benchmarks/README, extended-set row); on small spaces the KDE is fitted and used.

Configuration space: one Syne Tune domain per hyperparameter of :meth:`Space.from_pool`
(``loguniform``/``uniform``, ``lograndint``/``randint``, ``ordinal(kind="equal")``, ``choice``), plus
an ``NAME:active`` choice for a hyperparameter that is sometimes ``None``; each suggestion maps to
the **nearest unused pool member** (:class:`~hf_quicktune.bench.pool_map.PoolMap`). The replay ends
("optimizer exhausted") when a new trial is due and every member is taken.

Seeding: syne-tune 0.16's ``RandomSearcher.suggest`` (used by ASHA once 5 trials reported) samples
with ``Domain.sample()`` from numpy's *global* generator, ignoring ``random_seed``. So that a seed
fixes a replay, each peer runs every scheduler call on its own global-generator state (seeded
with ``seed``) and puts the caller's state back afterwards.
"""

from __future__ import annotations

import datetime
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from hf_quicktune.bench.dehb_peer import INSTALL_HINT
from hf_quicktune.bench.pool_map import PoolMap
from hf_quicktune.errors import ConfigError
from hf_quicktune.search.base import OK, Optimizer, Suggestion
from hf_quicktune.search.distributions import Float, Int
from hf_quicktune.search.space import Space

VARIANTS = ("asha", "bohb")
METRIC, TIME_ATTR = "accuracy", "epoch"


def _st_value(v: Any, choices: list[Any]) -> Any:
    """The value Syne Tune sees for choice ``v``: its domains need one type per hyperparameter, so
    numbers become floats when the choices mix ints and floats, and anything else mixed becomes text."""
    types = {type(c) for c in choices}
    if types <= {int, float}:
        return float(v) if float in types else v
    if len(types) == 1 and isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def syne_tune_space(space: Space) -> tuple[dict[str, Any], dict[str, dict[Any, Any]]]:
    """(Syne Tune config space, {name: {choice key: value}} to decode categorical suggestions)."""
    from syne_tune.config_space import choice, lograndint, loguniform, ordinal, randint, uniform

    cs: dict[str, Any] = {}
    keys: dict[str, dict[Any, Any]] = {}
    for name in space.names:
        hp = space.hps[name]
        if hp.optional:
            cs[f"{name}:active"] = choice(["on", "off"])
        if hp.type in ("categorical", "ordinal"):
            keys[name] = {_st_value(c, hp.choices or []): c for c in hp.choices or []}
            values = list(keys[name])
            if len(values) == 1:
                cs[name] = values[0]  # a constant
            else:
                cs[name] = ordinal(values, kind="equal") if hp.type == "ordinal" else choice(values)
        elif isinstance(hp, Int):
            lo, hi = hp.bounds
            cs[name] = (lograndint if hp.log else randint)(int(lo), int(hi))
        else:
            assert isinstance(hp, Float), hp.type
            cs[name] = (loguniform if hp.log else uniform)(*hp.bounds)
    return cs, keys


class SyneTunePeer(Optimizer):
    """A Syne Tune multi-fidelity scheduler answering ask/tell on a finite pool."""

    def __init__(self, pool: list[dict[str, Any]], max_epochs: int, seed: int = 0, variant: str = "asha"):
        super().__init__(pool, max_epochs, seed)
        if variant not in VARIANTS:
            raise ValueError(f"unknown Syne Tune variant {variant!r}; choose from {VARIANTS}")
        try:
            from syne_tune.backend.trial_status import Trial
            from syne_tune.optimizer.baselines import ASHA, BOHB
            from syne_tune.optimizer.scheduler import SchedulerDecision
        except ImportError as e:
            raise ConfigError(f"the Syne Tune peers need syne-tune 0.16 ({e}); {INSTALL_HINT}") from e
        logging.getLogger("syne_tune").setLevel(logging.ERROR)  # it warns about unset points_to_evaluate
        self.variant = variant
        self.map = PoolMap(self.pool)
        self.config_space, self._keys = syne_tune_space(self.map.space)
        cls = ASHA if variant == "asha" else BOHB
        self.scheduler = cls(self.config_space, metric=METRIC, time_attr=TIME_ATTR, max_t=self.max_epochs,
                             do_minimize=False, random_seed=self.seed, grace_period=1, reduction_factor=3)
        self._Trial, self._STOP = Trial, SchedulerDecision.STOP
        self._np_state = np.random.RandomState(self.seed).get_state()
        self._current: tuple[Any, int] | None = None  # (Syne Tune trial, pool id)
        self._started = 0
        self.stopped_early = 0  # trials the scheduler stopped before max_epochs

    @contextmanager
    def _own_global_rng(self) -> Iterator[None]:
        outer = np.random.get_state()
        np.random.set_state(self._np_state)
        try:
            yield
        finally:
            self._np_state = np.random.get_state()
            np.random.set_state(outer)

    def decode(self, config: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.map.space.names:
            if config.get(f"{name}:active") == "off":
                out[name] = None
            elif name in self._keys:
                out[name] = self._keys[name][config[name]]
            else:
                out[name] = config[name]
        return out

    def _ask(self) -> Suggestion | None:
        if self._current is not None and self._current[1] in self.in_flight:
            return None  # driven like its Tuner with one worker: wait for the running trial
        if self._current is None:
            if self.map.used.all():
                return None
            with self._own_global_rng(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # statsmodels/pandas deprecation noise in the KDE fit
                suggestion = self.scheduler.suggest()
                if suggestion is None:
                    return None
                trial = self._Trial(trial_id=self._started, config=suggestion.config,
                                    creation_time=datetime.datetime.now())
                self.scheduler.on_trial_add(trial)
            taken = self.map.take_nearest_unused(self.decode(suggestion.config))
            assert taken is not None  # a free pool member exists (checked above)
            self._started += 1
            self._current = (trial, taken)
        _, tid = self._current
        st = self.trials.get(tid)
        return Suggestion(tid, dict(self.pool[tid]), (st.epochs if st else 0) + 1)

    def tell(self, trial_id: int, epoch: int, score: float | None, cost: float, status: str = OK) -> None:
        super().tell(trial_id, epoch, score, cost, status)
        if self._current is None or self._current[1] != trial_id:
            return
        trial, _ = self._current
        with self._own_global_rng():
            if status != OK:
                self.scheduler.on_trial_error(trial)
                self._current = None
                return
            decision = self.scheduler.on_trial_result(trial, {METRIC: float(score), TIME_ATTR: epoch})  # type: ignore[arg-type]
            if decision == self._STOP:
                self.scheduler.on_trial_remove(trial)
        if decision == self._STOP:
            self.stopped_early += int(epoch < self.max_epochs)
            self._current = None

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(variant=self.variant, started=self._started, stopped_early=self.stopped_early)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise NotImplementedError("the Syne Tune peers are benchmark-only optimizers and cannot resume a scheduler")
