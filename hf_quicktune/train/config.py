"""Hyperparameter defaults and validation for one trial (Quick-Tune search_space_v1 names).

A configuration is a flat dict (see "Hyperparameter names" in DEVELOPING.md). Missing keys and
inactive conditionals (``None``) are filled from :data:`DEFAULTS`; unknown keys and bad values
raise :class:`~hf_quicktune.errors.TrainError` naming the key and the allowed values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hf_quicktune.errors import TrainError

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "adamp")
SCHEDULERS = ("none", "cosine", "step", "multistep", "plateau")
#: when a trial's learning rate moves (:attr:`~hf_quicktune.train.step.EpochLoop.lr_stepping`)
LR_STEPPINGS = ("warmup", "update", "epoch")
AUGMENTATIONS = ("none", "trivial_augment", "random_augment", "auto_augment")
AUTO_AUGMENT_POLICIES = ("v0", "original")

#: Fraction of ``max_epochs`` trained head-only when ``linear_probing`` is on (at least one epoch),
#: before the whole (non-frozen) network is unfrozen (LP-FT, Kumar et al. 2022).
LINEAR_PROBING_FRACTION = 0.1
#: hyperparameters counted in epochs of the schedule: a run scales them with its schedule's length
SCHEDULE_EPOCH_KEYS = ("warmup_epochs", "decay_epochs", "patience_epochs")

DEFAULTS: dict[str, Any] = {
    "model": None,  # the candidate name; informative only, the Trial gets the candidate itself
    "lr": 1e-3,
    "batch_size": 32,
    "opt": "adamw",
    "momentum": 0.9,
    "opt_betas": [0.9, 0.999],
    "weight_decay": 1e-4,
    "clip_grad": None,
    "layer_decay": None,
    "sched": "cosine",
    "decay_epochs": 20,
    "decay_rate": 0.1,
    "patience_epochs": 5,
    "warmup_epochs": 0,
    "warmup_lr": 1e-6,
    "pct_to_freeze": 0.0,
    "linear_probing": False,
    "sp_reg": 0.0,
    "delta_reg": 0.0,
    "bss_reg": 0.0,
    "mixup": 0.0,
    "cutmix": 0.0,
    "mixup_prob": 1.0,
    "smoothing": 0.0,
    "drop": 0.0,
    "data_augmentation": "none",
    "ra_num_ops": 2,
    "ra_magnitude": 9,
    "auto_augment": "v0",
    "amp": False,
    # Quick-Tune's meta-dataset also has these; only their "off" value is supported here.
    "stoch_norm": False,
    "cotuning_reg": 0.0,
}

_OFF_ONLY = {"stoch_norm": (False, 0), "cotuning_reg": (0, 0.0, False)}


def _plain(value: Any) -> Any:
    """numpy scalars / tuples -> plain Python values (configs come from optimizers and YAML)."""
    if hasattr(value, "item") and not isinstance(value, list | tuple | dict):
        try:
            return value.item()
        except (TypeError, ValueError):
            return value
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _fail(key: str, value: Any, allowed: str) -> TrainError:
    return TrainError(f"hyperparameter {key!r} = {value!r} is invalid; allowed: {allowed}.")


def _number(cfg: dict, key: str, lo: float | None, hi: float | None, *, lo_open=False, hi_open=False,
            integer=False, allowed: str = "") -> None:
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(key, value, allowed or "a finite number")
    if integer:
        if float(value) != int(value):
            raise _fail(key, value, allowed or "an integer")
        value = int(value)
    bad = (lo is not None and (value < lo or (lo_open and value == lo))) or (
        hi is not None and (value > hi or (hi_open and value == hi))
    )
    if bad:
        raise _fail(key, value, allowed)
    cfg[key] = value


def _choice(cfg: dict, key: str, choices: tuple[str, ...]) -> None:
    value = cfg[key]
    if isinstance(value, str):
        value = value.lower()
    if value not in choices:
        raise _fail(key, cfg[key], ", ".join(choices))
    cfg[key] = value


def _flag(cfg: dict, key: str) -> None:
    value = cfg[key]
    if isinstance(value, bool) or value in (0, 1):
        cfg[key] = bool(value)
    else:
        raise _fail(key, value, "true or false")


def validate_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return a complete, validated copy of ``config`` (defaults filled in).

    Raises :class:`TrainError` for an unknown key (with the known ones listed) or a bad value.
    """
    config = dict(config or {})
    unknown = sorted(set(config) - set(DEFAULTS))
    if unknown:
        raise TrainError(
            f"unknown hyperparameter(s) {', '.join(map(repr, unknown))}; known names: "
            f"{', '.join(DEFAULTS)} (see 'Hyperparameter names' in DEVELOPING.md)."
        )
    cfg = dict(DEFAULTS)
    for key, value in config.items():
        if value is not None:
            cfg[key] = _plain(value)
    if cfg["sched"] is None or cfg["sched"] is False:
        cfg["sched"] = "none"
    if cfg["data_augmentation"] is None:
        cfg["data_augmentation"] = "none"

    _number(cfg, "lr", 0, None, lo_open=True, allowed="a number > 0")
    _number(cfg, "batch_size", 1, None, integer=True, allowed="an integer >= 1")
    _choice(cfg, "opt", OPTIMIZERS)
    _number(cfg, "momentum", 0, 1, hi_open=True, allowed="a number in [0, 1)")
    betas = cfg["opt_betas"]
    if not isinstance(betas, list) or len(betas) != 2:
        raise _fail("opt_betas", betas, "two numbers [beta1, beta2] in [0, 1)")
    for b in betas:
        if isinstance(b, bool) or not isinstance(b, int | float) or not 0 <= b < 1:
            raise _fail("opt_betas", betas, "two numbers [beta1, beta2] in [0, 1)")
    cfg["opt_betas"] = [float(b) for b in betas]
    _number(cfg, "weight_decay", 0, None, allowed="a number >= 0")
    if cfg["clip_grad"] is not None:
        _number(cfg, "clip_grad", 0, None, lo_open=True, allowed="null (off) or a number > 0")
    if cfg["layer_decay"] is not None:
        _number(cfg, "layer_decay", 0, 1, lo_open=True, allowed="null (off) or a number in (0, 1]")
    _choice(cfg, "sched", SCHEDULERS)
    _number(cfg, "decay_epochs", 0, None, lo_open=True, allowed="a number of epochs > 0")
    _number(cfg, "decay_rate", 0, 1, lo_open=True, allowed="a number in (0, 1]")
    _number(cfg, "patience_epochs", 0, None, integer=True, allowed="an integer >= 0")
    _number(cfg, "warmup_epochs", 0, None, integer=True, allowed="an integer >= 0")
    _number(cfg, "warmup_lr", 0, None, allowed="a number >= 0")
    _number(cfg, "pct_to_freeze", 0, 1, allowed="a fraction in [0, 1]")
    _flag(cfg, "linear_probing")
    for key in ("sp_reg", "delta_reg", "bss_reg", "mixup", "cutmix"):
        _number(cfg, key, 0, None, allowed="a number >= 0")
    _number(cfg, "mixup_prob", 0, 1, allowed="a probability in [0, 1]")
    _number(cfg, "smoothing", 0, 1, hi_open=True, allowed="a number in [0, 1)")
    _number(cfg, "drop", 0, 1, hi_open=True, allowed="a number in [0, 1)")
    _choice(cfg, "data_augmentation", AUGMENTATIONS)
    _number(cfg, "ra_num_ops", 1, None, integer=True, allowed="an integer >= 1")
    _number(cfg, "ra_magnitude", 0, 30, allowed="a number in [0, 30]")
    _choice(cfg, "auto_augment", AUTO_AUGMENT_POLICIES)
    _flag(cfg, "amp")
    for key, off in _OFF_ONLY.items():
        if cfg[key] not in off:
            raise _fail(key, cfg[key], f"{off[0]!r} only (not implemented in this engine)")
    return cfg
