"""The methods ``bench`` knows: name -> factory(task, seed) -> Optimizer.

A :class:`~hf_quicktune.bench.task.Task` is one target dataset of the replayed meta-dataset
(re-exported here). Factories import their optimizer lazily, so listing the methods stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hf_quicktune.bench.task import Task
from hf_quicktune.search.base import Optimizer

__all__ = ["DEFAULT_METHODS", "GRAY_BOX", "META_LEARNED", "METHODS", "NEEDS_ZERO_COST", "PEERS", "Factory", "Task"]


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


def _dehb(task: Task, seed: int) -> Optimizer:
    from hf_quicktune.bench.dehb_peer import DEHBPeer

    return DEHBPeer(task.pool, task.max_epochs, seed=seed)


def _syne_tune(variant: str) -> Factory:
    def make(task: Task, seed: int) -> Optimizer:
        from hf_quicktune.bench.synetune_peer import SyneTunePeer

        return SyneTunePeer(task.pool, task.max_epochs, seed=seed, variant=variant)

    return make


def _gray_box(meta_learned: bool, **kwargs: Any) -> Factory:
    """Quick-Tune (``meta_learned``: with the fold's prior) or DyHPO, with optimizer ``kwargs``."""

    def make(task: Task, seed: int) -> Optimizer:
        from hf_quicktune.bench.gray_box import make_quicktune

        return make_quicktune(task, seed, meta_learned=meta_learned, **kwargs)

    return make


def _recipe(task: Task, seed: int) -> Optimizer:
    """What ``hf-quicktune run`` does with a prior: Quick-Tune with the fold's prior, the zero-shot start and the
    prior's learnt ``initial_epochs`` (``hf_quicktune.meta.priors.prior_initial_epochs``)."""
    from hf_quicktune.bench.gray_box import make_quicktune
    from hf_quicktune.meta.priors import prior_initial_epochs

    return make_quicktune(task, seed, meta_learned=True, start="zero_shot",
                          initial_epochs=prior_initial_epochs(task.prior, task.max_epochs))


def _rank_then_tune(task: Task, seed: int) -> Optimizer:
    from hf_quicktune.bench.gray_box import make_rank_then_tune

    return make_rank_then_tune(task, seed)


METHODS: dict[str, Factory] = {
    "quicktune": _gray_box(True),
    "quicktune-recipe": _recipe,  # the run's recipe: shipped-style prior, zero-shot start, learnt initial_epochs
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
    "dehb": _dehb,  # the dehb package (Awad et al. 2021)
    "syne-tune-asha": _syne_tune("asha"),  # syne-tune 0.16's ASHA scheduler
    "syne-tune-bohb": _syne_tune("bohb"),  # syne-tune 0.16's BOHB scheduler
    "rank-then-tune": _rank_then_tune,
}
#: methods that need a prior meta-trained on the other datasets
META_LEARNED = {"quicktune", "quicktune-recipe", "quicktune-no-cost", "quicktune-init5", "rank-then-tune"}
#: methods built on the gray-box optimizer (they encode the pool with the benchmark's space)
GRAY_BOX = {"quicktune", "quicktune-recipe", "quicktune-no-cost", "quicktune-init5", "dyhpo", "dyhpo-init5",
            "rank-then-tune"}
#: external implementations driven through the replay harness (bench/*_peer.py)
PEERS = {"optuna-tpe-hyperband", "optuna-random-median", "dehb", "syne-tune-asha", "syne-tune-bohb"}
#: methods that need zero-cost scores in the meta-dataset
NEEDS_ZERO_COST = {"rank-then-tune"}
DEFAULT_METHODS = (
    "quicktune", "dyhpo", "random", "asha", "hyperband", "optuna-tpe-hyperband", "optuna-random-median",
    "rank-then-tune",
)
