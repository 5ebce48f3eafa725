"""The NTK of the network with its trained BatchNorm layers on batch statistics (estimate/batch_ntk.py)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call, jacrev

from hf_quicktune.estimate.batch_ntk import batch_statistics_ntk


def _net(classes: int = 3) -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),  # frozen in the tests
                        nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, classes))
    with torch.no_grad():  # pretrained-looking running statistics, far from the data's
        for bn in (net[1], net[4]):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
    return net.eval()


def _trained(model: nn.Module) -> list[str]:
    return [name for name, _ in model.named_parameters() if not name.startswith(("0.", "1."))]


def _batch_normalised(model: nn.Module, trainable: list[str]):
    """(a copy of ``model`` whose layer 4 normalises by its batch, its trained parameters, the others)."""
    net = copy.deepcopy(model).eval()
    net[4].train()
    net[4].track_running_stats, net[4].running_mean, net[4].running_var = False, None, None
    params = dict(net.named_parameters())
    train_p = {n: params[n].detach() for n in trainable}
    return net, train_p, {n: p.detach() for n, p in params.items() if n not in train_p}


def _reference(model: nn.Module, x: torch.Tensor, trainable: list[str]) -> torch.Tensor:
    """1/C sum_c J_c J_c^T by jacrev of the whole batch's outputs, layer 4 normalising by the batch (layer 1 frozen:
    its running statistics)."""
    net, train_p, rest = _batch_normalised(model, trainable)
    out = functional_call(net, {**rest, **train_p}, (x,))
    kernel = torch.zeros(len(x), len(x), dtype=torch.float64)
    for c in range(out.shape[1]):
        jac = jacrev(lambda p, c=c: functional_call(net, {**rest, **p}, (x,))[:, c])(train_p)
        for value in jac.values():
            flat = value.reshape(len(x), -1).double()
            kernel += flat @ flat.T
    return kernel / out.shape[1]


def test_the_kernel_is_the_batch_statistics_networks_and_the_model_is_unchanged():
    model = _net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = 2.0 + torch.randn(20, 3, 6, 6)
    gram = batch_statistics_ntk(model, x, _trained(model), chunk=7)  # chunks that do not divide n
    assert torch.allclose(gram.kernel, _reference(model, x, _trained(model)), rtol=1e-4, atol=1e-6)
    assert gram.projected_dim is None and gram.class_probes is None
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not model.training and model[4].track_running_stats
    # an eval-mode kernel (the running statistics, no coupling of the images) is another one
    from hf_quicktune.estimate.jacobian import empirical_ntk

    eval_mode = empirical_ntk(model, x, trainable=_trained(model)).kernel
    assert not torch.allclose(eval_mode, gram.kernel, rtol=0.05)
    # the outputs are the batch-normalised network's (layer 4 in train mode), not the eval-mode ones
    with torch.no_grad():
        model[4].train()
        expected = model(x)
        model.load_state_dict(before)
        model.eval()
    assert torch.allclose(gram.outputs, expected, atol=1e-5)


def test_without_trained_normalisation_it_is_the_eval_mode_kernel():
    from hf_quicktune.estimate.jacobian import empirical_ntk

    model, x = _net(), torch.randn(12, 3, 6, 6)
    head = ["8.weight", "8.bias"]
    expected = empirical_ntk(model, x, trainable=head, head_shortcut=False, layer_gram=False).kernel
    assert torch.allclose(batch_statistics_ntk(model, x, head).kernel, expected, rtol=1e-5, atol=1e-7)


def test_one_output_probes_are_exact_and_sketches_keep_the_scale():
    model, x = _net(classes=1), 2.0 + torch.randn(16, 3, 6, 6)
    exact = batch_statistics_ntk(model, x, _trained(model)).kernel
    probed = batch_statistics_ntk(model, x, _trained(model), class_probes=3)
    assert probed.class_probes == 3 and torch.allclose(probed.kernel, exact, rtol=1e-5)  # v^2 = 1 for one output
    sketched = batch_statistics_ntk(model, x, _trained(model), k=64)  # 64 of the 283 trained parameters
    assert sketched.projected_dim == 64
    ratio = float(torch.trace(sketched.kernel) / torch.trace(exact))
    assert 0.5 < ratio < 2.0  # unbiased per entry; the trace of 16 entries within 2x


def test_estimate_uses_it_for_trained_normalisation_layers():
    from hf_quicktune.data import load
    from hf_quicktune.estimate import estimate
    from hf_quicktune.estimate.estimator import load_subsample
    from hf_quicktune.zoo import get_candidate

    digits = load("builtin:digits")
    cand = get_candidate("scratch:mobilenetv3_small_050")
    model = _net(10)
    config = {"lr": 0.05, "batch_size": 32, "momentum": 0.0, "pct_to_freeze": 0.0}
    est = estimate(digits, cand, config, n=24, image_size=8, epochs=1, time_steps=False, model=model,
                   finite_size=False, norm_statistics="batch")
    x, _ = load_subsample(digits, cand, 24, 8)
    names = [name for name, _ in model.named_parameters()]  # pct_to_freeze 0: everything trains
    expected = np.sort(np.linalg.eigvalsh(batch_statistics_ntk(model, x, names).kernel.numpy()))[::-1] / 24
    assert est.spectrum.mu == pytest.approx(np.clip(expected, 0, None), rel=1e-6, abs=1e-9)
    assert est.to_dict()["norm_statistics"] == "batch"
    probing = estimate(digits, cand, {**config, "linear_probing": True}, n=24, image_size=8, epochs=1,
                       time_steps=False, model=model, finite_size=False, norm_statistics="batch")
    assert probing.to_dict()["norm_statistics"] is None  # no BatchNorm layer trains: nothing to say


def test_groups_take_the_statistics_of_their_own_images():
    model, x = _net(), 2.0 + torch.randn(13, 3, 6, 6)
    names = _trained(model)
    gram = batch_statistics_ntk(model, x, names, group=4, seed=5)
    assert torch.allclose(batch_statistics_ntk(model, x, names, group=13).kernel,
                          batch_statistics_ntk(model, x, names).kernel)  # one group of all: the whole batch
    # the reference: groups of 4 of the seeded permutation, the last image joining the group before it
    order = torch.randperm(13, generator=torch.Generator().manual_seed(5 + 2))
    groups = [order[:4], order[4:8], order[8:]]
    net, train_p, rest = _batch_normalised(model, names)
    grads = torch.zeros(3, 13, sum(p.numel() for p in train_p.values()), dtype=torch.float64)
    for idx in groups:
        for c in range(3):
            jac = jacrev(lambda p, c=c, idx=idx: functional_call(net, {**rest, **p}, (x[idx],))[:, c])(train_p)
            grads[c, idx] = torch.cat([jac[n].reshape(len(idx), -1) for n in names], dim=1).double()
    expected = sum(grads[c] @ grads[c].T for c in range(3)) / 3
    assert torch.allclose(gram.kernel, expected, rtol=1e-4, atol=1e-6)
    assert not torch.allclose(gram.kernel, batch_statistics_ntk(model, x, names).kernel, rtol=0.05)
