"""The methods ``bench`` knows: name -> factory(task, seed) -> Optimizer.

A :class:`Task` is one target dataset of the replayed meta-dataset: its pool (one configuration
per recorded run, ``model`` merged in when the meta-dataset has models), meta-features, zero-cost
scores and — for meta-learned methods — the prior meta-trained *without* this dataset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hf_quicktune.search.base import Optimizer


@dataclass
class Task:
    dataset: str
    pool: list[dict[str, Any]]
    max_epochs: int
    meta_features: dict[str, float]
    prior: Any = None  # hf_quicktune.search.prior.Prior for meta-learned methods
    zero_cost: dict[str, dict[str, float]] | None = None  # model -> {score name: value}
    extra: dict[str, Any] = field(default_factory=dict)


Factory = Callable[[Task, int], Optimizer]


def _random(task: Task, seed: int) -> Optimizer:
    from hf_quicktune.search.baselines import RandomSearch

    return RandomSearch(task.pool, task.max_epochs, seed=seed)


def _sh(task: Task, seed: int) -> Optimizer:
    from hf_quicktune.search.baselines import SuccessiveHalving

    return SuccessiveHalving(task.pool, task.max_epochs, seed=seed)


def _asha(task: Task, seed: int) -> Optimizer:
    from hf_quicktune.search.baselines import ASHA

    return ASHA(task.pool, task.max_epochs, seed=seed)


def _hyperband(task: Task, seed: int) -> Optimizer:
    from hf_quicktune.search.baselines import Hyperband

    return Hyperband(task.pool, task.max_epochs, seed=seed)


def _optuna(variant: str) -> Factory:
    def make(task: Task, seed: int) -> Optimizer:
        from hf_quicktune.bench.optuna_peer import OptunaPeer

        return OptunaPeer(task.pool, task.max_epochs, seed=seed, variant=variant)

    return make


def _gray_box(meta_learned: bool, **kwargs: Any) -> Factory:
    """Quick-Tune (``meta_learned``: with the fold's prior) or DyHPO, with optimizer ``kwargs``."""

    def make(task: Task, seed: int) -> Optimizer:
        from hf_quicktune.bench.gray_box import make_quicktune

        return make_quicktune(task, seed, meta_learned=meta_learned, **kwargs)

    return make


def _rank_then_tune(task: Task, seed: int) -> Optimizer:
    from hf_quicktune.bench.gray_box import make_rank_then_tune

    return make_rank_then_tune(task, seed)


METHODS: dict[str, Factory] = {
    "quicktune": _gray_box(True),
    "quicktune-no-cost": _gray_box(True, acquisition="ei"),  # ablation: plain EI, no division by the predicted cost
    "dyhpo": _gray_box(False),
    # new trials train 5 epochs before the acquisition compares them (QuickTuneOptimizer.initial_epochs)
    "quicktune-init5": _gray_box(True, initial_epochs=5),
    "dyhpo-init5": _gray_box(False, initial_epochs=5),
    "random": _random,
    "sh": _sh,
    "asha": _asha,
    "hyperband": _hyperband,
    "optuna-tpe-hyperband": _optuna("tpe-hyperband"),
    "optuna-random-median": _optuna("random-median"),
    "rank-then-tune": _rank_then_tune,
}
#: methods that need a prior meta-trained on the other datasets
META_LEARNED = {"quicktune", "quicktune-no-cost", "quicktune-init5", "rank-then-tune"}
#: methods built on the gray-box optimizer (they encode the pool with the benchmark's space)
GRAY_BOX = {"quicktune", "quicktune-no-cost", "quicktune-init5", "dyhpo", "dyhpo-init5", "rank-then-tune"}
#: methods that need zero-cost scores in the meta-dataset
NEEDS_ZERO_COST = {"rank-then-tune"}
DEFAULT_METHODS = (
    "quicktune", "dyhpo", "random", "asha", "hyperband", "optuna-tpe-hyperband", "optuna-random-median",
    "rank-then-tune",
)
