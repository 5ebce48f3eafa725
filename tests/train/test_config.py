"""Hyperparameter defaults and validation."""

from __future__ import annotations

import numpy as np
import pytest

from hf_quicktune.errors import TrainError
from hf_quicktune.train.config import DEFAULTS, validate_config


def test_defaults_fill_missing_and_inactive_keys():
    cfg = validate_config({"lr": 0.01, "layer_decay": None, "momentum": None, "model": "x"})
    assert cfg["lr"] == 0.01
    assert cfg["momentum"] == DEFAULTS["momentum"]  # inactive conditional -> default
    assert cfg["layer_decay"] is None
    assert set(cfg) == set(DEFAULTS)


def test_numpy_values_and_tuples_become_plain_python():
    cfg = validate_config({"lr": np.float64(1e-3), "batch_size": np.int64(16), "opt_betas": (0.0, 0.99),
                           "linear_probing": np.bool_(True)})
    assert type(cfg["lr"]) is float and type(cfg["batch_size"]) is int
    assert cfg["opt_betas"] == [0.0, 0.99] and cfg["linear_probing"] is True


def test_unknown_key_names_the_key_and_known_names():
    with pytest.raises(TrainError, match="'learning_rate'.*known names: .*lr"):
        validate_config({"learning_rate": 0.1})


@pytest.mark.parametrize(
    ("key", "value", "hint"),
    [
        ("opt", "lamb", "sgd, momentum, adam, adamw"),
        ("sched", "linear", "none, cosine, step, multistep, plateau"),
        ("data_augmentation", "mixup", "trivial_augment"),
        ("auto_augment", "v1", "v0, original"),
        ("lr", 0, "> 0"),
        ("lr", float("nan"), "> 0"),
        ("batch_size", 2.5, "integer"),
        ("pct_to_freeze", 1.5, r"\[0, 1\]"),
        ("smoothing", 1.0, r"\[0, 1\)"),
        ("opt_betas", [0.9], "two numbers"),
        ("linear_probing", "yes", "true or false"),
        ("cotuning_reg", 1.0, "not implemented"),
    ],
)
def test_bad_values_name_the_key_and_allowed_values(key, value, hint):
    with pytest.raises(TrainError, match=f"'{key}'.*{hint}"):
        validate_config({key: value})
