"""Factories for the gray-box BO methods in the bench: Quick-Tune (with the fold's prior) and
DyHPO-style (the same optimizer without meta-learning), plus "rank then tune"."""

from __future__ import annotations

from typing import Any

from hf_quicktune.bench.task import Task
from hf_quicktune.errors import ConfigError
from hf_quicktune.search.base import Optimizer


def make_quicktune(task: Task, seed: int, meta_learned: bool = True, **kwargs: Any) -> Optimizer:
    from hf_quicktune.search.quicktune import DyHPOOptimizer, QuickTuneOptimizer

    kwargs = {**task.extra, **kwargs}
    if task.model_features:
        kwargs.setdefault("model_features", task.model_features)
    if not meta_learned:
        return DyHPOOptimizer(task.pool, max_epochs=task.max_epochs, seed=seed, **kwargs)
    if task.prior is None:
        raise ConfigError("quicktune needs a prior meta-trained without the target dataset; none was built")
    return QuickTuneOptimizer(
        task.pool, max_epochs=task.max_epochs, prior=task.prior, meta_features=task.meta_features, seed=seed, **kwargs
    )


def make_rank_then_tune(task: Task, seed: int, score: str | None = None) -> Optimizer:
    """Pick the model with the best zero-cost score, then Quick-Tune over that model's configurations."""
    from hf_quicktune.bench.restricted import RestrictedPool

    zero_cost = task.zero_cost
    if not zero_cost:
        raise ConfigError("rank-then-tune needs zero-cost scores (zc.* columns) in the meta-dataset")
    names = sorted({k for v in zero_cost.values() for k in v})
    score = score or names[0]
    model = max(zero_cost, key=lambda m: zero_cost[m].get(score, float("-inf")))
    keep = [i for i, c in enumerate(task.pool) if str(c.get("model")) == model]
    if not keep:
        raise ConfigError(f"the top-ranked model {model!r} has no runs in the pool")
    sub = Task(task.dataset, [task.pool[i] for i in keep], task.max_epochs, task.meta_features, task.prior,
               extra=dict(task.extra), model_features=task.model_features)
    inner = make_quicktune(sub, seed, meta_learned=task.prior is not None)
    return RestrictedPool(task.pool, task.max_epochs, keep, inner, seed=seed)
