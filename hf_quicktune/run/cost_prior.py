"""Seconds-per-epoch predictions for the optimizer's cost model, before any trial has run (issue 7).

For each model of the pool, real SGD steps are timed on this device with the estimator's
:func:`hf_quicktune.estimate.estimator.measure_seconds_per_step` (forward + backward + update, random
inputs at the run's image size): with every parameter trainable at two batch sizes (``SMALL_BATCH``
and ``REFERENCE_BATCH``), and with the head only at the reference batch. A step then costs
``a + b x B`` (a per-step overhead ``a`` -- optimizer update, kernel launches, Python -- and a
per-sample ``b``; at batch 2 the overhead is most of it: one epoch of 240 steps of 2 images took
5x the 15 steps of 32 on the same images), and a configuration's epoch

    seconds/epoch = ceil(N / B) x (a + b x B) x [h + f x (1 - h)]

with N the training images per epoch, B its batch size, h the head-only share of a reference step
and f the fraction of backbone parameters its ``pct_to_freeze`` leaves trainable
(:mod:`hf_quicktune.zoo.freezing`; ``linear_probing`` is priced as full fine-tuning, what most of its
epochs are). Approximations: backward cost proportional to the trainable parameters; evaluation and
data loading are left out -- the optimizer's :class:`~hf_quicktune.search.cost.CostPrior` rescales all
predictions by the observed/predicted ratio once trials have run. The timings are stored in the run
directory (``cost_timings.json``, the pool's predictions in ``cost_prior.json``) so a resumed run
does not time again.
"""

from __future__ import annotations

import logging
import math
from typing import Any

logger = logging.getLogger(__name__)

REFERENCE_BATCH = 16
SMALL_BATCH = 2
DEFAULT_IMAGE_SIZE = 224


def native_size(candidate: Any) -> int:
    """The input size ``candidate`` was pretrained at (its data config's; :data:`DEFAULT_IMAGE_SIZE` if none)."""
    return int(candidate.data_config().get("input_size", (3, DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE))[-1])


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
                          seed: int = 0, small_batch: int = SMALL_BATCH) -> dict[str, dict[str, Any]]:
    """``{name: {"per_step": a, "per_sample": b, "head_share": h, "fraction": {pct: f}}}``: a step of every
    parameter at batch B costs ``a + b x B`` seconds (timed at ``small_batch`` and ``reference_batch``),
    a head-only step ``h`` of that."""
    import torch

    from hf_quicktune.estimate.estimator import measure_seconds_per_step
    from hf_quicktune.train.device import default_accelerator
    from hf_quicktune.train.layout import to_layout, use_channels_last
    from hf_quicktune.zoo import create_model
    from hf_quicktune.zoo.freezing import trainable_parameter_names

    device = default_accelerator().device  # timed where the trials train (a CPU timing would misprice a GPU run)
    channels_last = use_channels_last(device.type, False)  # the layout of a trial's fp32 steps, as these are timed
    out: dict[str, dict[str, Any]] = {}
    for name, cand in models.items():
        torch.manual_seed(seed)
        model = to_layout(create_model(cand, num_classes=num_classes, image_size=image_size).to(device), channels_last)
        size = image_size or native_size(cand)
        shape = (3, size, size)
        every = trainable_parameter_names(model, 0.0)
        full = measure_seconds_per_step(model, every, reference_batch, shape, num_classes)
        small = measure_seconds_per_step(model, every, small_batch, shape, num_classes)
        head = measure_seconds_per_step(model, trainable_parameter_names(model, 0.0, linear_probing=True),
                                        reference_batch, shape, num_classes)
        per_sample = max(0.0, (full - small) / max(1, reference_batch - small_batch))
        per_step = full - per_sample * reference_batch
        if per_step < 0:  # timing noise: all of it per sample
            per_step, per_sample = 0.0, full / reference_batch
        out[name] = {"per_step": per_step, "per_sample": per_sample, "head_share": min(1.0, head / full),
                     "fraction": {pct: _trainable_fraction(model, pct) for pct in pcts.get(name, {0.0})}}
        del model
        logger.info("cost prior: %s at %dpx: a step of B images costs %.4f + %.5f B s (all trainable); head only "
                    "%.0f %% of it", name, size, per_step, per_sample, 100 * out[name]["head_share"])
    return out


def step_seconds(timing: dict[str, Any], batch_size: int, trainable: float = 1.0) -> float:
    """Seconds of one step at ``batch_size`` with ``trainable`` of the backbone trained (:func:`step_seconds_by_model`)."""
    h = float(timing["head_share"])
    return (float(timing["per_step"]) + float(timing["per_sample"]) * batch_size) * (h + trainable * (1.0 - h))


def _pct(cfg: dict[str, Any]) -> float:
    return 0.0 if cfg.get("linear_probing") else float(cfg.get("pct_to_freeze") or 0.0)


def pool_fractions(pool: list[dict[str, Any]], candidates: dict[str, Any]) -> dict[str, set[float]]:
    """The ``pct_to_freeze`` values each candidate model of ``pool`` is trained with."""
    pcts: dict[str, set[float]] = {}
    for cfg in pool:
        model = cfg.get("model")
        if model is not None and model in candidates:
            pcts.setdefault(model, set()).add(_pct(cfg))
    return pcts


def time_models(pool: list[dict[str, Any]], candidates: dict[str, Any], num_classes: int, image_size: int | None,
                seed: int = 0) -> dict[str, dict[str, Any]]:
    """:func:`step_seconds_by_model` for every candidate model of ``pool`` at every freezing level it uses."""
    pcts = pool_fractions(pool, candidates)
    return step_seconds_by_model({n: candidates[n] for n in sorted(pcts)}, pcts, num_classes, image_size, seed=seed)


def epoch_seconds(pool: list[dict[str, Any]], candidates: dict[str, Any], num_classes: int, train_size: int,
                  image_size: int | None, seed: int = 0, timed: dict[str, dict[str, Any]] | None = None
                  ) -> dict[int, float]:
    """Predicted seconds of one training epoch of every pool member (index -> seconds); ``timed``: timings
    already made (:func:`time_models`), else timed now."""
    timed = timed if timed is not None else time_models(pool, candidates, num_classes, image_size, seed)
    out: dict[int, float] = {}
    for i, cfg in enumerate(pool):
        model = cfg.get("model")
        t = timed.get(model) if model is not None else None
        if t is None:
            continue
        pct = _pct(cfg)
        fraction = t["fraction"].get(pct, t["fraction"].get(str(pct), 1.0))
        batch = int(cfg.get("batch_size") or 32)
        out[i] = math.ceil(train_size / batch) * step_seconds(t, batch, fraction)
    return out


def load_or_time(state, pool: list[dict[str, Any]], candidates: dict[str, Any], num_classes: int,
                 image_size: int | None, seed: int = 0) -> dict[str, dict[str, Any]]:
    """The timings of ``pool``'s models, from ``cost_timings.json`` or timed now (and stored)."""
    path = state.dir / "cost_timings.json"
    saved = state.load_json(path)
    if saved is not None:
        return {name: dict(t, fraction={float(k): v for k, v in t["fraction"].items()}) for name, t in saved.items()}
    timed = time_models(pool, candidates, num_classes, image_size, seed)
    state.save_json(path, {name: dict(t, fraction={str(k): v for k, v in t["fraction"].items()})
                           for name, t in timed.items()})
    return timed


def load_or_compute(state, pool: list[dict[str, Any]], candidates: dict[str, Any], num_classes: int,
                    train_size: int, image_size: int | None, seed: int = 0,
                    timed: dict[str, dict[str, Any]] | None = None):
    """The run's :class:`~hf_quicktune.search.cost.CostPrior`, from ``cost_prior.json`` or predicted now
    (from ``timed``, else timed now)."""
    from hf_quicktune.search.cost import CostPrior

    path = state.dir / "cost_prior.json"
    saved = state.load_json(path)
    if saved is not None:
        return CostPrior.from_state(saved)
    prior = CostPrior.from_pool(pool, epoch_seconds(pool, candidates, num_classes, train_size, image_size,
                                                    seed=seed, timed=timed))
    state.save_json(path, prior.state_dict())
    return prior
