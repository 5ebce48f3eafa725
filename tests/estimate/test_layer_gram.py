"""The NTK from each layer's inputs and output gradients equals the per-sample Jacobians' (layer_gram.py)."""

from __future__ import annotations

import pytest
import torch
from timm.layers import BatchNormAct2d
from timm.layers.conv2d_same import Conv2dSame
from torch import nn

from hf_quicktune.estimate import layer_gram
from hf_quicktune.estimate.jacobian import empirical_ntk, trainable_parameter_names


class _Net(nn.Module):
    """Every layer kind the decomposition handles: strided / padded / grouped / depthwise convolutions with and
    without bias, timm's run-time "same" padding, BatchNorm (plain and with timm's activation), a linear head."""

    def __init__(self, classes: int = 5):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.same = Conv2dSame(8, 8, 3, stride=2, bias=False)
        self.bn_act = BatchNormAct2d(8, act_layer=nn.ReLU6)
        self.grouped = nn.Conv2d(8, 12, 3, padding=1, groups=4)
        self.bn = nn.BatchNorm2d(12)
        self.depthwise = nn.Conv2d(12, 12, 5, padding=2, groups=12, bias=False)
        self.pointwise = nn.Conv2d(12, 16, 1)
        self.head = nn.Linear(16, classes)
        for bn in (self.bn_act, self.bn):  # running statistics other than (0, 1): eval mode uses them
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.2, 0.2)

    def forward(self, x):
        x = self.bn_act(self.same(torch.relu(self.stem(x))))
        x = self.pointwise(torch.relu(self.depthwise(torch.relu(self.bn(self.grouped(x))))))
        return self.head(x.mean((2, 3)))


class _InPlace(nn.Module):
    """A residual block as timm's ResNets write it: in-place activations and ``x += shortcut`` on layer outputs."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
        self.conv2, self.bn2 = nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
        self.act = nn.ReLU(inplace=True)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        shortcut = x
        x = self.act(self.bn1(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        x += shortcut
        return self.head(self.act(x).mean((2, 3)))


class _Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(6, 6)

    def forward(self, x):
        return self.layer(torch.tanh(self.layer(x)))


class _Unused(nn.Module):
    """A trainable layer computed on every forward but not used by the outputs."""

    def __init__(self):
        super().__init__()
        self.used, self.unused = nn.Linear(6, 3), nn.Linear(6, 4)

    def forward(self, x):
        self.last = self.unused(x)
        return self.used(x)


def _images(n: int = 10, size: int = 12) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("form", ["cheaper", "products", "per-sample"])
@pytest.mark.parametrize("pct", [0.0, 0.5, 0.8])
def test_layer_ntk_equals_the_per_sample_jacobians(pct, form, monkeypatch):
    if form == "products":  # every weight by the (sample, position) products (the BatchNorms keep their own path)
        monkeypatch.setattr(layer_gram, "_plan", lambda layer, *a: setattr(layer, "materialise", False) or 0.0)
    elif form == "per-sample":
        monkeypatch.setattr(layer_gram, "MAX_ROWS", 0)
    torch.manual_seed(0)
    model = _Net().eval()
    x = _images()
    names = trainable_parameter_names(model, pct)
    exact = layer_gram.layer_ntk(model, x, names, batch=4)  # several chunks: rows of every pair of chunks
    assert exact is not None
    kernel, outputs = exact
    slow = empirical_ntk(model, x, trainable=names, layer_gram=False)
    torch.testing.assert_close(kernel, slow.kernel, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(outputs, slow.outputs, rtol=1e-6, atol=1e-6)
    # the default exact path now takes it, and leaves the model's requires_grad flags as they were
    flags = [p.requires_grad for p in model.parameters()]
    fast = empirical_ntk(model, x, trainable=names)
    torch.testing.assert_close(fast.kernel, slow.kernel, rtol=1e-5, atol=1e-6)
    assert fast.num_params == slow.num_params and [p.requires_grad for p in model.parameters()] == flags


def test_efficientnet_lite_tail_matches_the_per_sample_jacobians():
    from hf_quicktune.zoo import create_model, get_candidate

    torch.manual_seed(0)
    model = create_model(get_candidate("tf_efficientnet_lite0"), num_classes=4, image_size=32).eval()
    x = _images(6, 32)
    names = trainable_parameter_names(model, 0.9)
    fast = empirical_ntk(model, x, trainable=names)
    slow = empirical_ntk(model, x, trainable=names, layer_gram=False)
    torch.testing.assert_close(fast.kernel, slow.kernel, rtol=1e-4, atol=1e-3)


def test_layers_it_cannot_decompose_fall_back_to_the_per_sample_jacobians(monkeypatch):
    x = torch.randn(7, 6, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    shared = _Shared()
    names = trainable_parameter_names(shared)
    assert layer_gram.layer_ntk(shared, x, names) is None  # one layer called twice per forward
    slow = empirical_ntk(shared, x, trainable=names, layer_gram=False)
    torch.testing.assert_close(empirical_ntk(shared, x, trainable=names).kernel, slow.kernel)
    model = _Net().eval()
    names = trainable_parameter_names(model)
    monkeypatch.setattr(layer_gram, "MAX_ROWS", 20)  # 10 images x 36 output positions of the first convolution
    assert layer_gram.layer_ntk(model, _images(), names) is not None  # its per-sample gradients instead
    monkeypatch.setattr(layer_gram, "MAX_GRAD_FLOATS", 10)  # neither form fits
    assert layer_gram.layer_ntk(model, _images(), names) is None
    monkeypatch.setattr(layer_gram, "MAX_ROWS", 4096)
    assert layer_gram.layer_ntk(model, _images(), names) is None  # the BatchNorms' per-sample gradients
    monkeypatch.setattr(layer_gram, "MAX_GRAD_FLOATS", 2**26)
    monkeypatch.setattr(layer_gram, "MAX_FLOPS", 1e3)
    assert layer_gram.layer_ntk(model, _images(), names) is None  # too many multiply-adds


def test_a_layer_the_outputs_do_not_use_adds_nothing():
    x = torch.randn(5, 6, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(0)
    model = _Unused()
    exact = layer_gram.layer_ntk(model, x, trainable_parameter_names(model))
    assert exact is not None
    slow = empirical_ntk(model, x, trainable=["used.weight", "used.bias"], layer_gram=False)
    torch.testing.assert_close(exact[0], slow.kernel, rtol=1e-5, atol=1e-6)


def test_in_place_operations_after_a_layer_do_not_change_its_share():
    x = torch.randn(6, 4, 5, 5, generator=torch.Generator().manual_seed(3))
    torch.manual_seed(0)
    model = _InPlace().eval()
    names = trainable_parameter_names(model)
    exact = layer_gram.layer_ntk(model, x, names)
    assert exact is not None
    torch.testing.assert_close(exact[0], empirical_ntk(model, x, trainable=names, layer_gram=False).kernel,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["scratch:resnet10t", "scratch:mobilenetv3_small_050"])
def test_other_zoo_architectures_match_the_per_sample_jacobians(name):
    from hf_quicktune.zoo import create_model, get_candidate

    torch.manual_seed(0)
    model = create_model(get_candidate(name), num_classes=4, image_size=32).eval()
    x = _images(5, 32)
    names = trainable_parameter_names(model, 0.8)
    slow = empirical_ntk(model, x, trainable=names, layer_gram=False)
    assert slow.projected_dim is None  # exact, not sketched
    torch.testing.assert_close(empirical_ntk(model, x, trainable=names).kernel, slow.kernel, rtol=1e-4, atol=1e-5)
