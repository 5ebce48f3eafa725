"""A trial's in-memory training state: the model, optimizer, scheduler, regularizers and RNG, built
fresh (seeded) or restored from the newest checkpoint, and what of it a checkpoint keeps.

Each state trains with an Accelerator of its own (:func:`~hf_quicktune.train.device.trial_accelerator`):
it prepared the state's model and optimizer, holds its loss scaler (fp16) and is dropped with it, so
interleaved trials share neither a loss scale nor the Accelerator's tracked objects.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from torch import nn

from hf_quicktune.train import checkpoint as ckpt
from hf_quicktune.train import device, layout
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

    accelerator: Accelerator  # this state's own (it prepared model/optimizer; its scaler is this trial's)
    model: nn.Module  # as prepared by the Accelerator (possibly wrapped)
    raw_model: nn.Module
    optimizer: Any  # accelerate's AcceleratedOptimizer
    scheduler: Any  # a timm scheduler or None
    sp: SPRegularizer | None
    delta: DeltaRegularizer | None
    tap: FeatureTap | None
    rng: dict[str, Any] | None = None
    scaler: dict[str, Any] | None = None  # the loss-scaler state of the last checkpoint (fp16 only)
    channels_last: bool = False  # the model's layout, which its batches follow (:mod:`~hf_quicktune.train.layout`)


def create_model(candidate: Candidate | ModelFactory, num_classes: int, drop: float,
                 image_size: int | None = None) -> nn.Module:
    """The trial's network: a zoo candidate built for ``image_size`` (:func:`hf_quicktune.zoo.create_model`), or
    what a model factory returns."""
    if hasattr(candidate, "architecture"):
        from hf_quicktune.zoo import create_model as zoo_create

        return zoo_create(cast("Candidate", candidate), num_classes=num_classes, image_size=image_size, drop_rate=drop)
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


def build_state(directory: Path, model: nn.Module, config: dict[str, Any],
                max_epochs: int) -> tuple[TrainState, int]:
    """Optimizer, scheduler and regularizers around ``model`` (freshly built under the trial's seed),
    restored from the newest checkpoint in ``directory`` if there is one, and prepared by a new
    Accelerator of the state's own. Returns the state and the gradient-accumulation factor the
    checkpoint was trained with (1 without one)."""
    acc = device.trial_accelerator()
    channels_last = layout.use_channels_last(acc.device.type, bool(config.get("amp")) and acc.mixed_precision != "no")
    layout.to_layout(model, channels_last)
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
        layout.match_optimizer_state(optimizer)
        if scheduler is not None and int(info.get("max_epochs", max_epochs)) != max_epochs \
                and config["sched"] != "plateau":
            # the schedule's length changed since this checkpoint (a run re-fitting it to its budget): the
            # learning rate of the next epoch on the new horizon; these schedulers keep no other state
            scheduler.step(latest[0])
        else:
            load_scheduler_state(scheduler, training.get("scheduler"))
        scaler = training.get("scaler") or None
        accumulation = int(info.get("accumulation", 1))
        rng = training["rng"]
    prepared_model, prepared_optimizer = acc.prepare(model, optimizer)
    if scaler is not None and acc.scaler is not None:
        acc.scaler.load_state_dict(scaler)
    if sp is not None:
        sp.params = [(p, p0.to(acc.device)) for p, p0 in sp.params]
    if delta is not None:
        delta.to(acc.device)
    needs_features = config["delta_reg"] > 0 or config["bss_reg"] > 0
    state = TrainState(accelerator=acc, model=prepared_model, raw_model=model, optimizer=prepared_optimizer, scheduler=scheduler,
                       sp=sp, delta=delta, tap=FeatureTap(model) if needs_features else None, rng=rng,
                       scaler=scaler, channels_last=channels_last)
    return state, accumulation


def activate(state: TrainState) -> None:
    """Before training or evaluating: the RNG continues where the trial's last epoch ended."""
    if state.rng is not None:
        ckpt.set_rng_state(state.rng)


def checkpoint_state(state: TrainState) -> dict[str, Any]:
    """The training state a checkpoint keeps beside the weights (optimizer, scheduler, scaler, RNG)."""
    optimizer = getattr(state.optimizer, "optimizer", state.optimizer)
    if state.accelerator.scaler is not None:
        state.scaler = state.accelerator.scaler.state_dict()
    return {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler_state(state.scheduler),
        "scaler": state.scaler,
        "rng": state.rng,
    }


def release_state(state: TrainState) -> None:
    """Undo what the state hooked into its model; the caller then drops the state (the checkpoint on disk
    is the truth), its Accelerator and what that prepared with it, and calls
    :func:`~hf_quicktune.train.device.free_device_cache`."""
    if state.tap is not None:
        state.tap.remove()


#: factory arguments that do not shape the network (or that the checkpoint gives: its number of classes)
_NOT_SHAPE = ("num_classes", "pretrained_cfg", "pretrained_cfg_overlay", "cache_dir", "pretrained_strict")


def model_args_of(model: nn.Module, candidate: object, image_size: int | None) -> dict[str, Any]:
    """The ``timm.create_model`` arguments besides the architecture and classes that rebuild the trial's
    network: those timm's factory recorded (>= 1.0.31: e.g. the ``model_args`` of a Hub model's
    ``config.json``), and a transformer's ``img_size`` when it trains at another size than its own
    (:func:`~hf_quicktune.zoo.input_size.size_args`). Drop rates and arguments that are not JSON are left out."""
    if not hasattr(candidate, "architecture"):
        return {}
    from hf_quicktune.zoo.input_size import size_args

    args: dict[str, Any] = {}
    recorded = getattr(model, "_model_args", None)
    for key, value in (recorded.items() if isinstance(recorded, dict) else ()):
        if key in _NOT_SHAPE or "drop" in key:
            continue
        try:
            args[key] = json.loads(json.dumps(value))
        except (TypeError, ValueError):
            continue
    return {**args, **size_args(candidate, image_size)}


def architecture_of(model: nn.Module, candidate: object) -> str | None:
    arch = getattr(candidate, "architecture", None)
    if arch:
        return str(arch)
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return cfg.get("architecture")

