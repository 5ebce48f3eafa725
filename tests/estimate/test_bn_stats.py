"""The trained normalisation layers' target statistics (estimate/bn_stats.py), in the estimator and the measured
training."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hf_quicktune.estimate.bn_stats import set_target_statistics, trained_norm_layers


def _net(classes: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),  # frozen below
                         nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, classes))


def _trained(model: nn.Module) -> list[str]:
    return [name for name, _ in model.named_parameters() if not name.startswith(("0.", "1."))]


def test_target_statistics_are_the_data_statistics_of_the_trained_layers_only():
    model = _net()
    x = 3.0 + 2.0 * torch.randn(40, 3, 8, 8)
    frozen_mean = model[1].running_mean.clone()
    assert trained_norm_layers(model, _trained(model)) == [model[4]]
    assert set_target_statistics(model, x, _trained(model), batch=40) == 1
    with torch.no_grad():
        inputs = model[3](model[2](model[1](model[0](x))))  # what layer 4 normalises
    assert torch.allclose(model[4].running_mean, inputs.mean(dim=(0, 2, 3)), atol=1e-5)
    assert torch.allclose(model[4].running_var, inputs.var(dim=(0, 2, 3), unbiased=True), rtol=1e-4)
    assert torch.equal(model[1].running_mean, frozen_mean)  # the frozen layer keeps the pretrained statistics
    assert not model.training and not model[4].training and model[4].momentum == 0.1
    with torch.no_grad():  # eval mode now computes what the trainer's train-mode layer gives on this batch
        eval_mode = model(x)
        model[4].train()
        train_mode = model(x)
    assert torch.allclose(eval_mode, train_mode, atol=1e-3)  # running_var is unbiased, the batch's biased


def test_linear_probing_changes_nothing():
    model = _net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert set_target_statistics(model, torch.randn(16, 3, 8, 8), ["8.weight", "8.bias"]) == 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_estimate_linearizes_with_target_statistics_and_keeps_the_given_model():
    from hf_quicktune.data import load
    from hf_quicktune.estimate import estimate

    digits = load("builtin:digits")
    model = _net(10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = {"lr": 0.05, "batch_size": 32, "momentum": 0.0, "pct_to_freeze": 0.0}
    kw = {"n": 32, "image_size": 8, "epochs": 1, "time_steps": False, "model": model}
    target = estimate(digits, "scratch:mobilenetv3_small_050", config, norm_statistics="target", **kw)
    pretrained = estimate(digits, "scratch:mobilenetv3_small_050", config, norm_statistics="pretrained", **kw)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # the two linearization points are different networks: other outputs, another kernel
    assert not torch.allclose(torch.as_tensor(target.spectrum.outputs), torch.as_tensor(pretrained.spectrum.outputs))
    with pytest.raises(Exception, match="norm_statistics"):
        estimate(digits, "scratch:mobilenetv3_small_050", config, norm_statistics="running", **kw)


def test_measured_training_normalises_trained_layers_by_batch_statistics():
    from hf_quicktune.estimate.measure import train_and_measure

    x, y = 3.0 + 2.0 * torch.randn(64, 3, 8, 8), torch.randint(0, 3, (64,))
    names = _trained(_net())
    runs = {}
    for mode in ("target", "pretrained", "target_fixed"):
        model = _net()
        frozen = model[1].running_mean.clone()
        calls: list[tuple[int, bool, bool]] = []  # (layer, training step, layer in train mode)
        for i in (1, 4):
            model[i].register_forward_pre_hook(
                lambda module, args, i=i, calls=calls: calls.append((i, torch.is_grad_enabled(), module.training)))
        runs[mode] = train_and_measure(model, x, y, trainable=names, lr=0.01, batch_size=16, max_steps=4,
                                       eval_every=2, norm_statistics=mode)
        steps = [(i, train) for i, grad, train in calls if grad]
        assert len(steps) == 8  # 4 steps through both layers
        # the trainer's rule: the frozen layer in eval mode, the trained one on its batch's statistics
        assert all(train == (i == 4 and mode == "target") for i, train in steps)
        first_step = next(k for k, (_, grad, _) in enumerate(calls) if grad)  # before: the statistics' passes
        assert calls[first_step - 1][2] is False  # the first loss evaluated in eval mode
        assert not any(train for _, grad, train in calls[first_step:] if not grad)  # and every later one
        assert torch.equal(model[1].running_mean, frozen)
        assert torch.equal(model[4].running_mean, torch.zeros(6)) == (mode == "pretrained")  # statistics set first
    # the first loss is the same network evaluated with other statistics
    assert runs["target"].loss[0] != pytest.approx(runs["pretrained"].loss[0])
    assert runs["target"].loss[0] == pytest.approx(runs["target_fixed"].loss[0])  # the same statistics at first
