"""``estimate()`` / ``predicted_loss_after()`` on the built-in digits with a tiny model (fast)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hf_quicktune.errors import ConfigError


@pytest.fixture(scope="module")
def digits():
    from hf_quicktune.data import load

    return load("builtin:digits")


def _tiny(num_classes: int = 10) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 32), nn.Tanh(), nn.Linear(32, num_classes))


CAND = "scratch:mobilenetv3_small_050"  # only its data config (normalisation) is used with model=


def test_estimate_curve_target_and_feature(digits):
    from hf_quicktune.estimate import estimate, predicted_loss_after

    config = {"lr": 0.05, "batch_size": 32, "momentum": 0.9, "pct_to_freeze": 0.0}
    est = estimate(digits, CAND, config, n=48, image_size=8, target_loss=1.0, model=_tiny(), time_steps=False)
    loss = est.curve.loss
    assert est.num_train == len(digits.train) and est.n == 48
    assert loss[0] == pytest.approx(np.log(10), rel=0.15) and loss[-1] <= 1.0
    assert est.steps_to_target == len(loss) - 1 and loss[est.steps_to_target - 1] > 1.0
    assert est.epochs_to_target == pytest.approx(est.steps_to_target * 32 / len(digits.train))
    assert not est.warnings
    feature = predicted_loss_after(est.steps_to_target, digits, CAND, config, n=48, image_size=8, model=_tiny())
    assert feature == pytest.approx(est.loss_after(est.steps_to_target), rel=1e-9)


def test_adam_is_estimated_with_a_warning_and_head_only_is_cheaper(digits):
    from hf_quicktune.estimate import estimate

    adam = {"lr": 0.01, "batch_size": 16, "opt": "adam", "linear_probing": True}
    est = estimate(digits, CAND, adam, n=24, image_size=8, epochs=1, model=_tiny())
    assert any("outside the linearized-SGD theory" in w for w in est.warnings)
    assert est.num_params == 32 * 10 + 10  # head only
    assert est.seconds_per_step > 0 and est.predicted_seconds == pytest.approx(est.predicted_steps * est.seconds_per_step)
    with pytest.raises(ConfigError, match="batch_size"):
        estimate(digits, CAND, {"lr": 0.1}, n=8, image_size=8, model=_tiny())


def test_within_final_criterion_instead_of_a_target(digits):
    from hf_quicktune.estimate import estimate

    config = {"lr": 0.05, "batch_size": 32, "momentum": 0.9, "pct_to_freeze": 0.0}
    est = estimate(digits, CAND, config, n=48, image_size=8, epochs=3, within=0.05, model=_tiny(), time_steps=False)
    loss = est.curve.loss
    assert len(loss) - 1 == int(np.ceil(3 * len(digits.train) / 32))  # the curve runs to the horizon
    t = est.steps_to_target
    final, drop = loss[-1], loss[0] - loss[-1]
    assert 0 < t < len(loss) - 1 and loss[t] - final <= 0.05 * drop < loss[t - 1] - final
    assert est.predicted_steps == t and est.to_dict()["within"] == 0.05
    with pytest.raises(ConfigError, match="not both"):
        estimate(digits, CAND, config, n=8, image_size=8, target_loss=1.0, within=0.05, model=_tiny())
    with pytest.raises(ConfigError, match="fraction"):
        estimate(digits, CAND, config, n=8, image_size=8, within=2.0, model=_tiny())


def test_timed_steps_stop_early_once_they_took_max_seconds():
    """A run times a few training steps from its budget (run/schedule.TIMING_SHARE of what is left): past it,
    the median is of the steps timed so far, at least one after the warm-up."""
    from hf_quicktune.estimate.estimator import measure_seconds_per_step

    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 3))
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    names = [n for n, _ in model.named_parameters()]
    seconds = measure_seconds_per_step(model, names, 4, (3, 4, 4), 3, repeats=4, optimizer="adamw")
    assert len(calls) == 5 and seconds > 0  # the warm-up and 4 timed
    calls.clear()
    assert measure_seconds_per_step(model, names, 4, (3, 4, 4), 3, repeats=4, optimizer="adamw", max_seconds=0.0) > 0
    assert len(calls) == 2  # the warm-up and 1 timed
    calls.clear()
    measure_seconds_per_step(model, names, 4, (3, 4, 4), 3, repeats=4, optimizer="adamw", max_seconds=3600.0)
    assert len(calls) == 5
