"""Seconds-per-epoch predictions for the optimizer's cost model, before any trial has run (issue 7).

For each model of the pool, one real SGD step is timed on this device with the estimator's
:func:`hf_quicktune.estimate.estimator.measure_seconds_per_step` (forward + backward + update at
a reference batch size, random inputs at the run's image size), twice: with every parameter
trainable and with the head only. A configuration's epoch then costs

    seconds/epoch = ceil(N / B) x (B / B_ref) x [t_head + f x (t_full - t_head)]

with N the training images per epoch, B its batch size, and f the fraction of backbone parameters
its ``pct_to_freeze`` leaves trainable (:mod:`hf_quicktune.zoo.freezing`; ``linear_probing`` is
priced as full fine-tuning, what most of its epochs are). Approximations: per-sample time constant
in B (true on CPU, pessimistic for small B on a GPU) and backward cost proportional to the
trainable parameters; evaluation and data loading are left out -- the optimizer's
:class:`~hf_quicktune.search.cost.CostPrior` rescales all predictions by the observed/predicted
ratio once trials have run. The predictions are stored in the run directory (``cost_prior.json``)
so a resumed run does not time again.
"""

from __future__ import annotations

import logging
import math
from typing import Any

logger = logging.getLogger(__name__)

REFERENCE_BATCH = 8
DEFAULT_IMAGE_SIZE = 224


def _trainable_fraction(model, pct_to_freeze: float) -> float:
    from hf_quicktune.zoo.freezing import backbone_parameter_names, frozen_parameter_names

    sizes = dict((name, p.numel()) for name, p in model.named_parameters())
    backbone = backbone_parameter_names(model)
    total = sum(sizes[n] for n in backbone)
    if total == 0:
        return 0.0
    frozen = frozen_parameter_names(model, pct_to_freeze)
    return 1.0 - sum(sizes[n] for n in frozen) / total


def step_seconds_by_model(models: dict[str, Any], pcts: dict[str, set[float]], num_classes: int,
                          image_size: int | None, reference_batch: int = REFERENCE_BATCH,
                          seed: int = 0) -> dict[str, dict[str, Any]]:
    """``{name: {"full": s, "head": s, "fraction": {pct: f}}}``: timed steps and trainable fractions."""
    import torch

    from hf_quicktune.estimate.estimator import measure_seconds_per_step
    from hf_quicktune.zoo import create_model
    from hf_quicktune.zoo.freezing import trainable_parameter_names

    out: dict[str, dict[str, Any]] = {}
    for name, cand in models.items():
        torch.manual_seed(seed)
        model = create_model(cand, num_classes=num_classes)
        size = image_size or int(cand.data_config().get("input_size", (3, DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE))[-1])
        shape = (3, size, size)
        full = measure_seconds_per_step(model, trainable_parameter_names(model, 0.0), reference_batch, shape,
                                        num_classes)
        head = measure_seconds_per_step(model, trainable_parameter_names(model, 0.0, linear_probing=True),
                                        reference_batch, shape, num_classes)
        out[name] = {"full": full, "head": min(head, full),
                     "fraction": {pct: _trainable_fraction(model, pct) for pct in pcts.get(name, {0.0})}}
        del model
        logger.info("cost prior: %s step at B=%d, %dpx: %.4fs all trainable, %.4fs head only",
                    name, reference_batch, size, full, head)
    return out


def _pct(cfg: dict[str, Any]) -> float:
    return 0.0 if cfg.get("linear_probing") else float(cfg.get("pct_to_freeze") or 0.0)


def epoch_seconds(pool: list[dict[str, Any]], candidates: dict[str, Any], num_classes: int, train_size: int,
                  image_size: int | None, reference_batch: int = REFERENCE_BATCH, seed: int = 0) -> dict[int, float]:
    """Predicted seconds of one training epoch of every pool member (index -> seconds)."""
    pcts: dict[str, set[float]] = {}
    for cfg in pool:
        if cfg.get("model") in candidates:
            pcts.setdefault(cfg["model"], set()).add(_pct(cfg))
    timed = step_seconds_by_model({n: candidates[n] for n in sorted(pcts)}, pcts, num_classes, image_size,
                                  reference_batch, seed)
    out: dict[int, float] = {}
    for i, cfg in enumerate(pool):
        model = cfg.get("model")
        t = timed.get(model) if model is not None else None
        if t is None:
            continue
        batch = int(cfg.get("batch_size") or 32)
        per_step = batch / reference_batch * (t["head"] + t["fraction"][_pct(cfg)] * (t["full"] - t["head"]))
        out[i] = math.ceil(train_size / batch) * per_step
    return out


def load_or_compute(state, pool: list[dict[str, Any]], candidates: dict[str, Any], num_classes: int,
                    train_size: int, image_size: int | None, seed: int = 0):
    """The run's :class:`~hf_quicktune.search.cost.CostPrior`, from ``cost_prior.json`` or timed now."""
    from hf_quicktune.search.cost import CostPrior

    path = state.dir / "cost_prior.json"
    saved = state.load_json(path)
    if saved is not None:
        return CostPrior.from_state(saved)
    prior = CostPrior.from_pool(pool, epoch_seconds(pool, candidates, num_classes, train_size, image_size,
                                                    seed=seed))
    state.save_json(path, prior.state_dict())
    return prior
