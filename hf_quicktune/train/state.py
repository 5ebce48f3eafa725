"""A trial's in-memory training state: the model, optimizer, scheduler, regularizers and RNG, built
fresh (seeded) or restored from the newest checkpoint, and what of it a checkpoint keeps.

The loss scaler is Accelerate's (one per process, see :mod:`~hf_quicktune.train.device`); each trial
keeps its own copy of the scaler's state and loads it before it trains, so interleaved trials do not
share a loss scale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from torch import nn

from hf_quicktune.train import checkpoint as ckpt
from hf_quicktune.train import device
from hf_quicktune.train.loaders import data_config_for
from hf_quicktune.train.optim import build_optimizer, build_scheduler, load_scheduler_state, scheduler_state
from hf_quicktune.train.regularizers import DeltaRegularizer, FeatureTap, SPRegularizer

if TYPE_CHECKING:
    from accelerate import Accelerator

    from hf_quicktune.zoo.candidate import Candidate

#: ``f(num_classes=..., drop_rate=...) -> timm model``: a custom model instead of a zoo Candidate.
ModelFactory = Callable[..., nn.Module]


@dataclass
class TrainState:
    """Everything that lives in memory while a trial trains (rebuilt from the checkpoint)."""

    model: nn.Module  # as prepared by the Accelerator (possibly wrapped)
    raw_model: nn.Module
    optimizer: Any  # accelerate's AcceleratedOptimizer
    scheduler: Any  # a timm scheduler or None
    sp: SPRegularizer | None
    delta: DeltaRegularizer | None
    tap: FeatureTap | None
    rng: dict[str, Any] | None = None
    scaler: dict[str, Any] | None = None  # this trial's loss-scaler state (fp16 only)


def create_model(candidate: Candidate | ModelFactory, num_classes: int, drop: float) -> nn.Module:
    if hasattr(candidate, "architecture"):
        from hf_quicktune.zoo import create_model as zoo_create

        return zoo_create(cast("Candidate", candidate), num_classes=num_classes, drop_rate=drop)
    return candidate(num_classes=num_classes, drop_rate=drop)


def resolve_data_config(candidate: Candidate | ModelFactory, image_size: int | None,
                        model: nn.Module | None) -> dict[str, Any]:
    """The candidate's preprocessing (timm's data config) at ``image_size``; a model factory's is read
    from ``model``."""
    data_config = getattr(candidate, "data_config", None)
    if data_config is not None:
        base = data_config()
    else:
        if model is None:
            raise TypeError("resolve_data_config needs the model of a model factory")
        from timm.data import resolve_model_data_config

        base = resolve_model_data_config(model)
    return data_config_for(base, image_size)


def build_state(directory: Path, model: nn.Module, config: dict[str, Any], max_epochs: int,
                accelerator: Accelerator) -> tuple[TrainState, int]:
    """Optimizer, scheduler and regularizers around ``model`` (freshly built under the trial's seed),
    restored from the newest checkpoint in ``directory`` if there is one, and prepared by the
    Accelerator. Returns the state and the gradient-accumulation factor the checkpoint was trained
    with (1 without one)."""
    acc = accelerator
    # References for SP / DELTA are the weights the trial starts from (pretrained backbone).
    sp = SPRegularizer(model, config["sp_reg"]) if config["sp_reg"] > 0 else None
    delta = DeltaRegularizer(model, config["delta_reg"]) if config["delta_reg"] > 0 else None
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config, max_epochs)
    latest = ckpt.latest_checkpoint(directory)
    rng = scaler = None
    accumulation = 1
    if latest is not None:
        weights, training, info = ckpt.load_checkpoint(latest[1])
        model.load_state_dict(weights)
        optimizer.load_state_dict(training["optimizer"])
        load_scheduler_state(scheduler, training.get("scheduler"))
        scaler = training.get("scaler") or None
        accumulation = int(info.get("accumulation", 1))
        rng = training["rng"]
    prepared_model, prepared_optimizer = acc.prepare(model, optimizer)
    if sp is not None:
        sp.params = [(p, p0.to(acc.device)) for p, p0 in sp.params]
    if delta is not None:
        delta.to(acc.device)
    needs_features = config["delta_reg"] > 0 or config["bss_reg"] > 0
    state = TrainState(model=prepared_model, raw_model=model, optimizer=prepared_optimizer, scheduler=scheduler,
                       sp=sp, delta=delta, tap=FeatureTap(model) if needs_features else None, rng=rng,
                       scaler=scaler)
    return state, accumulation


def activate(state: TrainState, accelerator: Accelerator) -> None:
    """Before training or evaluating: this trial's objects are the Accelerator's, its loss scale is the
    scaler's, and the RNG continues where its last epoch ended."""
    device.register(accelerator, state.model, state.optimizer)
    if accelerator.scaler is not None:
        if state.scaler is None:
            state.scaler = fresh_scaler_state(accelerator)
        accelerator.scaler.load_state_dict(state.scaler)
    if state.rng is not None:
        ckpt.set_rng_state(state.rng)


_FRESH_SCALER: dict[int, dict[str, Any]] = {}


def fresh_scaler_state(accelerator: Accelerator) -> dict[str, Any]:
    """The loss-scaler state a new trial starts from (the Accelerator's scaler as first seen)."""
    assert accelerator.scaler is not None
    return dict(_FRESH_SCALER.setdefault(id(accelerator.scaler), accelerator.scaler.state_dict()))


def checkpoint_state(state: TrainState, accelerator: Accelerator) -> dict[str, Any]:
    """The training state a checkpoint keeps beside the weights (optimizer, scheduler, scaler, RNG)."""
    optimizer = getattr(state.optimizer, "optimizer", state.optimizer)
    if accelerator.scaler is not None:
        state.scaler = accelerator.scaler.state_dict()
    return {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler_state(state.scheduler),
        "scaler": state.scaler,
        "rng": state.rng,
    }


def release_state(state: TrainState, accelerator: Accelerator) -> None:
    """Drop the in-memory state (the checkpoint on disk is the truth) and free device memory."""
    if state.tap is not None:
        state.tap.remove()
    device.release(accelerator)


def architecture_of(model: nn.Module, candidate: object) -> str | None:
    arch = getattr(candidate, "architecture", None)
    if arch:
        return str(arch)
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return cfg.get("architecture")

