"""train/layout.py: convolutions in channels-last where it is faster, with the same results and checkpoints that do
not depend on it."""

from __future__ import annotations

import copy
import logging

import pytest
import torch
from safetensors.torch import load_file

from hf_quicktune.train import Trial
from hf_quicktune.train.checkpoint import WEIGHTS_FILE, latest_checkpoint
from hf_quicktune.train.layout import (
    ENV,
    batch_layout,
    match_optimizer_state,
    to_layout,
    use_channels_last,
    uses_channels_last,
)

KW = {"max_epochs": 3, "image_size": 32, "num_workers": 0, "seed": 3}


def test_the_layout_is_chosen_by_device_unless_the_environment_forces_it(monkeypatch, caplog):
    monkeypatch.delenv(ENV, raising=False)
    assert use_channels_last("cpu", False) and use_channels_last("cpu", True)
    assert use_channels_last("cuda", True) and not use_channels_last("cuda", False)  # fp32 on CUDA: unmeasured
    assert not use_channels_last("mps", True)
    monkeypatch.setenv(ENV, "0")
    assert not use_channels_last("cpu", False)
    monkeypatch.setenv(ENV, "on")
    assert use_channels_last("cuda", False) and use_channels_last("mps", False)
    monkeypatch.setenv(ENV, "maybe")
    with caplog.at_level(logging.WARNING, logger="hf_quicktune.train.layout"):
        assert use_channels_last("cpu", False) and not use_channels_last("cuda", False)
    assert "neither 1 nor 0" in caplog.text


def test_a_step_in_channels_last_computes_what_the_default_layout_does(tiny_model):
    torch.manual_seed(0)
    plain = tiny_model(num_classes=3)
    nhwc = to_layout(copy.deepcopy(plain), True)
    assert uses_channels_last(nhwc) and not uses_channels_last(plain)
    assert not uses_channels_last(torch.nn.Linear(3, 3))  # nothing to lay out
    x, y = torch.randn(6, 3, 32, 32), torch.tensor([0, 1, 2, 0, 1, 2])
    assert batch_layout(x, True).is_contiguous(memory_format=torch.channels_last) and not batch_layout(x, True).is_contiguous()
    assert batch_layout(x, False) is x and batch_layout(y, True) is y  # labels are not images
    losses, grads = [], []
    for model, channels_last in ((plain, False), (nhwc, True)):
        model.train()
        loss = torch.nn.functional.cross_entropy(model(batch_layout(x, channels_last)), y)
        loss.backward()
        losses.append(loss.item())
        grads.append({name: p.grad for name, p in model.named_parameters()})
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    for name, g in grads[0].items():  # the same gradients, up to float rounding (relative to their norm)
        assert float((g - grads[1][name]).norm()) <= 1e-4 * float(g.norm()) + 1e-5, name


def test_moments_restored_in_another_layout_take_their_parameters_layout():
    conv = to_layout(torch.nn.Conv2d(4, 8, 3), True)
    opt = torch.optim.AdamW(conv.parameters())
    conv(torch.randn(2, 4, 8, 8)).sum().backward()
    opt.step()
    state = copy.deepcopy(opt.state_dict())
    for moments in state["state"].values():  # as a checkpoint written contiguous would hold them
        moments["exp_avg"] = moments["exp_avg"].contiguous()
    fresh = torch.optim.AdamW(conv.parameters())
    fresh.load_state_dict(state)
    assert not fresh.state[conv.weight]["exp_avg"].is_contiguous(memory_format=torch.channels_last)
    match_optimizer_state(fresh)
    assert fresh.state[conv.weight]["exp_avg"].is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(fresh.state[conv.weight]["exp_avg"], opt.state[conv.weight]["exp_avg"])  # values kept


def test_a_trial_trains_in_channels_last_on_a_cpu_writes_contiguous_checkpoints_and_resumes_in_either_layout(
        tmp_path, tiny_dataset, tiny_model, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    fast = Trial(tmp_path / "nhwc", tiny_model, {"batch_size": 8}, tiny_dataset, keep_in_memory=True, **KW)
    assert fast.advance(2)[-1].ok
    state = fast._state
    assert state is not None and state.channels_last and uses_channels_last(state.raw_model)
    weights = load_file(str(latest_checkpoint(tmp_path / "nhwc")[1] / WEIGHTS_FILE))
    assert all(t.is_contiguous() for t in weights.values())
    monkeypatch.setenv(ENV, "0")
    plain = Trial(tmp_path / "nchw", tiny_model, {"batch_size": 8}, tiny_dataset, keep_in_memory=True, **KW)
    assert plain.advance(2)[-1].ok
    assert not plain._state.channels_last and not uses_channels_last(plain._state.raw_model)
    # the same training in either layout, up to float rounding
    for a, b in zip(fast.curve, plain.curve, strict=True):
        assert a.train_loss == pytest.approx(b.train_loss, rel=1e-3)
    # the channels-last trial's checkpoint resumed in the default layout: its moments follow the parameters
    resumed = Trial(tmp_path / "nhwc", tiny_model, {"batch_size": 8}, tiny_dataset, keep_in_memory=True, **KW)
    assert resumed.advance(1)[-1].epoch == 3
    st = resumed._state
    conv = next(p for p in st.raw_model.parameters() if p.dim() == 4 and p.shape[1] > 1)
    inner = getattr(st.optimizer, "optimizer", st.optimizer)
    assert inner.state[conv]["exp_avg"].is_contiguous()


def test_a_timed_step_and_evaluation_batch_come_in_the_models_layout(tiny_model):
    """The schedule prices an epoch by timed steps: they must be the steps a trial takes, in its layout."""
    from hf_quicktune.estimate.estimator import measure_seconds_per_step
    from hf_quicktune.run.timing import measure_eval_batch

    for channels_last in (True, False):
        model = to_layout(tiny_model(num_classes=3), channels_last)
        seen: list[bool] = []
        model.register_forward_pre_hook(
            lambda _m, args, seen=seen: seen.append(args[0].is_contiguous(memory_format=torch.channels_last)
                                                    and not args[0].is_contiguous()))
        names = [n for n, _ in model.named_parameters()]
        assert measure_seconds_per_step(model, names, 4, (3, 16, 16), 3, repeats=1) > 0
        assert measure_eval_batch(model, 4, (3, 16, 16), repeats=1) > 0
        assert len(seen) == 4 and set(seen) == {channels_last}
