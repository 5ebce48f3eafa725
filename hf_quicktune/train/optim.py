"""Optimizer and learning-rate schedule from a trial configuration, with timm's factories.

The schedule is defined over the trial's maximum budget (``max_epochs``, Quick-Tune §4: always
the 50-epoch schedule) and stepped once per epoch, so a trial continued from a checkpoint
follows exactly the schedule of an uninterrupted one.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import torch
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2

logger = logging.getLogger(__name__)


def build_optimizer(model: torch.nn.Module, config: dict[str, Any]) -> torch.optim.Optimizer:
    """timm ``create_optimizer_v2`` over every parameter of ``model`` (frozen ones get no grad).

    ``sgd`` is timm's Nesterov SGD and ``momentum`` classic heavy-ball SGD, both with
    ``config["momentum"]``; ``sgd`` with momentum 0 is plain SGD (Nesterov needs momentum).
    ``layer_decay`` scales the lr of each layer group by ``layer_decay ** depth-from-top``
    (timm's ``group_matcher``); the head keeps the full lr.
    """
    opt = config["opt"]
    kwargs: dict[str, Any] = {}
    if opt in ("sgd", "momentum"):
        if config["momentum"] == 0:
            opt = "momentum"  # nesterov requires momentum > 0
        kwargs["momentum"] = config["momentum"]
    elif opt in ("adam", "adamw", "adamp"):
        kwargs["betas"] = tuple(config["opt_betas"])
    # Parameters frozen by a strategy are still registered (linear probing unfreezes them later,
    # and the optimizer state must keep one layout for checkpoints): timm skips
    # requires_grad=False tensors, so build with everything trainable and restore afterwards.
    flags = {p: p.requires_grad for p in model.parameters()}
    for p in flags:
        p.requires_grad_(True)
    try:
        optimizer = create_optimizer_v2(
            model,
            opt=opt,
            lr=config["lr"],
            weight_decay=config["weight_decay"],
            layer_decay=config["layer_decay"],
            foreach=None,
            **kwargs,
        )
    finally:
        for p, flag in flags.items():
            p.requires_grad_(flag)
    return optimizer


def milestones(config: dict[str, Any], max_epochs: int) -> list[int]:
    """``multistep`` milestones: every ``decay_epochs`` inside the budget.

    (timm's default milestones 90/180/270 never fire within a 50-epoch budget.) timm's multistep
    decays when ``epoch + 1`` reaches a milestone, so milestones are shifted by one to make the lr
    drop after ``decay_epochs`` epochs, as with ``step``.
    """
    step = max(1, round(config["decay_epochs"]))
    return [m + 1 for m in range(step, max_epochs, step)] or [step + 1]


def _apply_lr_scale(optimizer: torch.optim.Optimizer) -> None:
    for group in optimizer.param_groups:
        group["lr"] = group["lr"] * group.get("lr_scale", 1.0)


def build_scheduler(optimizer: torch.optim.Optimizer, config: dict[str, Any], max_epochs: int):
    """timm ``create_scheduler_v2`` in epoch units; ``None`` for ``sched: none`` (constant lr). The train loop
    also steps it at fractional epochs after every update (:class:`~hf_quicktune.train.step.EpochLoop`).

    Leaves the optimizer at the epoch-0 learning rates, layer-decay scales (``lr_scale``) applied.
    """
    if config["sched"] == "none":
        _apply_lr_scale(optimizer)
        return None
    with warnings.catch_warnings():
        # timm deprecates plateau because its state_dict drops the patience counters; we save
        # the inner torch scheduler's full state instead (see scheduler_state).
        warnings.filterwarnings("ignore", message="PlateauLRScheduler is deprecated", category=FutureWarning)
        scheduler, _ = _create_scheduler(optimizer, config, max_epochs)
    if config["sched"] != "plateau":  # plateau applies its epoch-0 lr (and lr_scale) on construction
        scheduler.step(0)
    return scheduler


def _create_scheduler(optimizer, config: dict[str, Any], max_epochs: int):
    return create_scheduler_v2(
        optimizer,
        sched=config["sched"],
        num_epochs=max_epochs,
        decay_epochs=config["decay_epochs"],
        decay_milestones=milestones(config, max_epochs),
        decay_rate=config["decay_rate"],
        patience_epochs=config["patience_epochs"],
        warmup_epochs=config["warmup_epochs"],
        warmup_lr=config["warmup_lr"],
        min_lr=0.0,
        plateau_mode="max",  # stepped with validation top-1
        step_on_epochs=True,
    )


def scheduler_state(scheduler) -> dict[str, Any] | None:
    """Full scheduler state (timm's plateau state_dict drops its bad-epoch counter; keep it)."""
    if scheduler is None:
        return None
    state = scheduler.state_dict()
    inner = getattr(scheduler, "lr_scheduler", None)
    if inner is not None:
        state = {"timm": state, "torch": inner.state_dict()}
    return state


def load_scheduler_state(scheduler, state: dict[str, Any] | None) -> None:
    if scheduler is None or state is None:
        return
    inner = getattr(scheduler, "lr_scheduler", None)
    if inner is not None:
        scheduler.load_state_dict(state["timm"])
        inner.load_state_dict(state["torch"])
    else:
        scheduler.load_state_dict(state)


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    """The largest lr over parameter groups (the head's, under layer decay)."""
    return max(group["lr"] for group in optimizer.param_groups)
