"""LGC: per-sample gradients of the last block + new head, count-sketched (tiny timm test models)."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch

from hf_quicktune.rank.scores import kernel_alignment
from hf_quicktune.rank.scores.lgc import last_block, lgc, per_sample_gradients, tail_parameter_names


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return timm.create_model("test_efficientnet", pretrained=False, num_classes=7).eval()


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(1)
    y = torch.arange(24) % 3
    x = torch.randn(24, 3, 32, 32, generator=g)
    x[:, 0] += y[:, None, None].float() * 2  # label signal in the red channel
    return x, y


@pytest.mark.parametrize("arch", ["test_efficientnet", "test_resnet", "test_vit"])
def test_tail_is_last_block_and_after_without_classifier(arch):
    m = timm.create_model(arch, pretrained=False, num_classes=5)
    names = tail_parameter_names(m)
    block_names = {n for n, p in m.named_parameters() if any(p is q for q in last_block(m).parameters())}
    head_names = {n for n, p in m.named_parameters() if any(p is q for q in m.get_classifier().parameters())}
    assert block_names and block_names <= set(names)
    assert not head_names & set(names)
    all_names = [n for n, _ in m.named_parameters()]
    assert len(names) < len(all_names) / 2  # the tail, not the whole network


def test_per_sample_gradients_match_autograd_loop(model, batch):
    x, _ = batch
    for p in model.parameters():
        p.requires_grad_(False)
    names = tail_parameter_names(model)
    d = model.num_features
    head = torch.randn(d, generator=torch.Generator().manual_seed(2)) / d**0.5
    fast = per_sample_gradients(model, names, head, x[:5])
    params = dict(model.named_parameters())
    for i in range(5):
        tail = [params[n].detach().clone().requires_grad_(True) for n in names]
        v = head.clone().requires_grad_(True)
        saved = {n: params[n].data for n in names}
        try:
            for n, t in zip(names, tail):
                module_name, attr = n.rsplit(".", 1)
                setattr(model.get_submodule(module_name), attr, torch.nn.Parameter(t))
            out = model.forward_head(model.forward_features(x[i : i + 1]), pre_logits=True)[0] @ v
            grads = torch.autograd.grad(out, [model.get_parameter(n) for n in names] + [v])
        finally:
            for n in names:
                module_name, attr = n.rsplit(".", 1)
                setattr(
                    model.get_submodule(module_name), attr, torch.nn.Parameter(saved[n], requires_grad=False)
                )
        exact = torch.cat([g.flatten() for g in grads])
        torch.testing.assert_close(fast[i], exact, rtol=1e-4, atol=1e-6)
    # the head block of the gradient is the feature vector itself (the LFC kernel)
    feats = model.forward_head(model.forward_features(x[:5]), pre_logits=True)
    torch.testing.assert_close(fast[:, -d:], feats, rtol=1e-5, atol=1e-6)


def test_lgc_sketch_approximates_the_exact_gradient_alignment(model, batch, monkeypatch):
    x, y = batch
    names = tail_parameter_names(model)
    loader = [(x[i : i + 8], y[i : i + 8]) for i in range(0, 24, 8)]
    score = lgc(model, loader, proj_dim=4096, seed=3, exact=False)
    # same head as lgc draws first from its generator with this seed
    d = model.num_features
    head = torch.randn(d, generator=torch.Generator().manual_seed(3)) / d**0.5
    exact = per_sample_gradients(model, names, head, x).double().numpy()
    expected = kernel_alignment(exact, np.eye(3)[y.numpy()])
    assert -1.0 <= score <= 1.0
    assert score == pytest.approx(expected, abs=0.05)
    # deterministic for a seed
    assert lgc(model, loader, proj_dim=4096, seed=3, exact=False) == pytest.approx(score, abs=1e-9)
    # the default: the exact kernel from the tail layers' inputs and output gradients
    assert lgc(model, loader, proj_dim=4096, seed=3) == pytest.approx(expected, abs=1e-6)
    # a sample outgrowing the exact kernel's limit after its first batch: the sketch, as with exact=False
    from hf_quicktune.rank.scores import lgc as lgc_module

    monkeypatch.setattr(lgc_module, "EXACT_MAX_FLOATS", x[:8].numel())
    assert lgc(model, loader, proj_dim=4096, seed=3) == pytest.approx(score, abs=1e-9)
