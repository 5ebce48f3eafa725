"""Optimizers, layer decay and lr schedules from a configuration (timm factories)."""

from __future__ import annotations

import math

import pytest
import timm
import torch

from hf_quicktune.train.config import validate_config
from hf_quicktune.train.optim import build_optimizer, build_scheduler, current_lr


@pytest.fixture(scope="module")
def model():
    return timm.create_model("test_efficientnet", pretrained=False, num_classes=3)


def _lrs(model, max_epochs=10, epochs=None, metrics=None, **cfg):
    cfg = validate_config(cfg)
    opt = build_optimizer(model, cfg)
    sched = build_scheduler(opt, cfg, max_epochs)
    lrs = [current_lr(opt)]
    for e in range(epochs or max_epochs):
        if sched is not None:
            sched.step(e + 1, (metrics or [0.5] * 100)[e])
        lrs.append(current_lr(opt))
    return lrs


@pytest.mark.parametrize(
    ("opt", "cls", "check"),
    [
        ("sgd", torch.optim.SGD, lambda g: g["nesterov"] and g["momentum"] == 0.8),
        ("momentum", torch.optim.SGD, lambda g: not g["nesterov"] and g["momentum"] == 0.8),
        ("adam", torch.optim.Adam, lambda g: g["betas"] == (0.0, 0.99)),
        ("adamw", torch.optim.AdamW, lambda g: g["betas"] == (0.0, 0.99)),
    ],
)
def test_optimizer_choice_and_its_conditionals(model, opt, cls, check):
    o = build_optimizer(model, validate_config({"opt": opt, "momentum": 0.8, "opt_betas": [0.0, 0.99],
                                                "weight_decay": 0.01}))
    assert isinstance(o, cls)
    assert check(o.param_groups[0])
    decays = sorted({g["weight_decay"] for g in o.param_groups})
    assert decays == [0.0, 0.01]  # biases / norms are not decayed (timm)


def test_sgd_without_momentum_is_plain_sgd(model):
    o = build_optimizer(model, validate_config({"opt": "sgd", "momentum": 0.0}))
    assert o.param_groups[0]["momentum"] == 0 and not o.param_groups[0]["nesterov"]


def test_optimizer_covers_frozen_parameters_and_keeps_them_frozen(model):
    head = model.get_classifier()
    for p in model.parameters():
        p.requires_grad_(False)
    for p in head.parameters():
        p.requires_grad_(True)
    try:
        o = build_optimizer(model, validate_config({}))
        n_opt = sum(len(g["params"]) for g in o.param_groups)
        assert n_opt == len(list(model.parameters()))
        assert sum(p.requires_grad for p in model.parameters()) == len(list(head.parameters()))
    finally:
        for p in model.parameters():
            p.requires_grad_(True)


@pytest.mark.parametrize("sched", ["none", "cosine", "plateau"])
def test_layer_decay_scales_lower_layers(model, sched):
    cfg = validate_config({"lr": 0.1, "layer_decay": 0.5, "sched": sched, "weight_decay": 0.0})
    o = build_optimizer(model, cfg)
    build_scheduler(o, cfg, 10)
    scales = sorted({g["lr_scale"] for g in o.param_groups})
    assert len(scales) >= 3 and max(scales) == 1.0 and min(scales) < 0.5
    for g in o.param_groups:
        assert g["lr"] == pytest.approx(0.1 * g["lr_scale"])


def test_cosine_spans_max_epochs(model):
    lrs = _lrs(model, max_epochs=10, lr=0.1, sched="cosine")
    expected = [0.1 * 0.5 * (1 + math.cos(math.pi * e / 10)) for e in range(11)]
    assert lrs == pytest.approx(expected, abs=1e-9)
    # the same epochs of a 50-epoch budget decay much more slowly
    assert _lrs(model, max_epochs=50, epochs=5, lr=0.1)[5] > lrs[5]


def test_warmup_starts_at_warmup_lr_and_ramps_linearly(model):
    lrs = _lrs(model, max_epochs=20, epochs=5, lr=0.1, sched="cosine", warmup_epochs=4, warmup_lr=1e-4)
    assert lrs[0] == pytest.approx(1e-4)
    assert lrs[2] == pytest.approx(1e-4 + 2 * (0.1 - 1e-4) / 4)
    assert lrs[0] < lrs[1] < lrs[2] < lrs[3]


def test_step_and_multistep(model):
    step = _lrs(model, max_epochs=30, lr=0.1, sched="step", decay_epochs=10, decay_rate=0.5)
    assert step[9] == pytest.approx(0.1) and step[10] == pytest.approx(0.05) and step[20] == pytest.approx(0.025)
    multi = _lrs(model, max_epochs=30, lr=0.1, sched="multistep", decay_epochs=10, decay_rate=0.1)
    assert multi[9] == pytest.approx(0.1) and multi[10] == pytest.approx(0.01) and multi[20] == pytest.approx(0.001)


def test_plateau_decays_after_patience_without_improvement(model):
    metrics = [0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    lrs = _lrs(model, max_epochs=7, lr=0.1, sched="plateau", patience_epochs=2, decay_rate=0.5, metrics=metrics)
    assert lrs[:4] == pytest.approx([0.1] * 4)
    assert lrs[-1] < 0.1


def test_constant_lr_without_scheduler(model):
    assert _lrs(model, max_epochs=5, lr=0.03, sched="none", warmup_epochs=3) == pytest.approx([0.03] * 6)


def test_plateau_state_keeps_its_patience_counter(model):
    from hf_quicktune.train.optim import load_scheduler_state, scheduler_state

    cfg = validate_config({"lr": 0.1, "sched": "plateau", "patience_epochs": 2, "decay_rate": 0.5})
    o1 = build_optimizer(model, cfg)
    s1 = build_scheduler(o1, cfg, 10)
    for e, m in enumerate([0.5, 0.6, 0.6, 0.6]):  # two epochs without improvement so far
        s1.step(e + 1, m)
    o2 = build_optimizer(model, cfg)
    s2 = build_scheduler(o2, cfg, 10)
    o2.load_state_dict(o1.state_dict())
    load_scheduler_state(s2, scheduler_state(s1))
    for s, o in ((s1, o1), (s2, o2)):
        s.step(5, 0.6)  # third epoch without improvement: decay in both
        assert current_lr(o) == pytest.approx(0.05)
