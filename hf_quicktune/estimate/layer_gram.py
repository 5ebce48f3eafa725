"""The exact class-traced NTK from each trainable layer's inputs and output gradients (no per-sample Jacobians).

The network depends on a layer's parameters only through that layer's output, so the gradient of output c of
sample i is ``grad_W f_c(x_i) = J_layer(x_i)^T delta^c_i``, ``delta^c_i`` the gradient of ``f_c(x_i)`` with respect to
the layer's output (one batched backward pass per class; in eval mode the samples do not interact). The kernel
``K(x_i, x_j) = 1/C sum_c <grad f_c(x_i), grad f_c(x_j)>`` (:mod:`.jacobian`) is then a sum over layers:

* **Linear and convolutions** (``u_t = W a_t``, ``a_t`` the input patch of output position t, per group of a
  grouped convolution): ``<grad_W f_c(x_i), grad_W f_c(x_j)> = sum_{t,s} (delta^c_it . delta^c_js)(a_it . a_js)``,
  so summed over classes it is the entrywise product of two Gram matrices over (sample, position) rows, the patches'
  and the output gradients' (all classes side by side), summed over positions: ``n T x n T`` products instead of
  per-sample gradients of every weight (the "ghost" inner product of per-sample gradients; Goodfellow 2015,
  "Efficient per-example gradient computations", and the ghost clipping of Li et al., ICLR 2022). A bias adds
  ``sum_c (sum_t delta^c_it) . (sum_s delta^c_js)``.
* **Any other layer** (BatchNorm's affine parameters, timm's BatchNormAct2d with its activation): its per-sample
  gradients from the layer's own vector-Jacobian product (``torch.func``), which is cheap for such small
  parameter sets, then their Gram matrix.

Exact like the per-sample Jacobian path of :func:`~.jacobian.empirical_ntk` (the tests compare the two), at a cost
of one forward and C backward passes over the trainable layers of the subsample plus the Gram products: on
builtin:mnist5k at 32 px with EfficientNet-Lite0's last stage + head (1.0 M parameters, n = 256) 1.9 s, where the
per-sample Jacobians of all 10 classes took 21.6 s (count-sketched to 8,192 dimensions) and of one random class
probe 2.8 s, 22 % off the exact kernel (``benchmarks/ntk_paths.py``). :func:`layer_ntk` returns None where it does not apply (a layer called twice, a
string padding, positions x samples too many for the products); the caller then uses the per-sample path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vjp, vmap

#: the n T x n T products of one group of a layer may hold at most this many entries (else the per-sample path)
MAX_ROWS = 4096
#: floats of one chunk of (groups x rows x rows) products
CHUNK_FLOATS = 2**24
#: the products of all layers may cost at most this many multiply-adds (else the per-sample path)
MAX_FLOPS = 2e10
#: per-sample gradients of the other layers may hold at most this many floats (n x C x their parameters)
MAX_GRAD_FLOATS = 2**26


@dataclass
class _Layer:
    module: nn.Module
    weight: bool  # weight trainable (a Linear / convolution: the ghost products)
    bias: bool  # bias trainable
    names: list[str]  # the module's trainable parameters (local names; the per-sample path)
    ghost: bool
    positions: int = 1  # output positions T of a ghost layer
    inputs: list[torch.Tensor] = field(default_factory=list)
    output: torch.Tensor | None = None
    calls: int = 0
    patches: list[torch.Tensor] = field(default_factory=list)  # per chunk (g, b T, p)
    deltas: list[torch.Tensor] = field(default_factory=list)  # per chunk (g, b T, C q)
    bias_grads: list[torch.Tensor] = field(default_factory=list)  # per chunk (b, C d_out)
    grads: list[torch.Tensor] = field(default_factory=list)  # per chunk (b, C P)


def _conv_kind(module: nn.Module) -> str | None:
    """``conv`` (torch's Conv2d forward), ``same`` (timm's Conv2dSame, padded at run time), else None."""
    if type(module).forward is nn.Conv2d.forward:
        ok = not isinstance(module.padding, str) and module.padding_mode == "zeros"
        return "conv" if ok else None
    try:
        from timm.layers.conv2d_same import Conv2dSame
    except ImportError:  # pragma: no cover - timm is a dependency
        return None
    return "same" if type(module).forward is Conv2dSame.forward else None


def _is_linear(module: nn.Module) -> bool:
    return type(module).forward is nn.Linear.forward


def _layers(model: nn.Module, names: list[str]) -> list[_Layer] | None:
    """The trainable layers, each owning its trainable parameters directly; None when a name is not such a parameter."""
    modules = dict(model.named_modules())
    owned: dict[str, list[str]] = {}
    for name in names:
        owner, _, local = name.rpartition(".")
        module = modules.get(owner)
        if module is None or local not in module._parameters:
            return None
        owned.setdefault(owner, []).append(local)
    layers = []
    for owner, locals_ in owned.items():
        module = modules[owner]
        ghost = _is_linear(module) or _conv_kind(module) is not None
        layers.append(_Layer(module, "weight" in locals_, "bias" in locals_, locals_, ghost))
    return layers


def _patches(layer: _Layer, x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(groups, b x T, patch size) of the layer's input, and T."""
    module = layer.module
    if _is_linear(module):
        a = x.reshape(x.shape[0], -1, x.shape[-1])  # (b, T, d_in)
        return a.reshape(1, -1, a.shape[-1]), a.shape[1]
    assert isinstance(module, nn.Conv2d)
    padding = module.padding
    if _conv_kind(module) == "same":
        from timm.layers.padding import pad_same

        x = pad_same(x, list(module.kernel_size), list(module.stride), list(module.dilation))
        padding = (0, 0)
    cols = F.unfold(x, module.kernel_size, dilation=module.dilation, padding=padding, stride=module.stride)
    b, _, positions = cols.shape
    g = module.groups
    cols = cols.reshape(b, g, -1, positions).permute(1, 0, 3, 2)  # (g, b, T, p)
    return cols.reshape(g, b * positions, -1), positions


def _deltas(layer: _Layer, deltas: torch.Tensor) -> torch.Tensor:
    """(groups, b x T, C x q) from the output gradients of every class, (C, b, d_out, *positions)."""
    module = layer.module
    c, b = deltas.shape[:2]
    if _is_linear(module):
        d = deltas.reshape(c, b, -1, deltas.shape[-1])  # (C, b, T, d_out)
        return d.permute(1, 2, 0, 3).reshape(1, -1, c * d.shape[-1])
    g = module.groups
    d = deltas.reshape(c, b, g, module.out_channels // g, -1)  # (C, b, g, q, T)
    return d.permute(2, 1, 4, 0, 3).reshape(g, -1, c * d.shape[3])


def _bias_grads(layer: _Layer, deltas: torch.Tensor) -> torch.Tensor:
    """Per-sample bias gradients of every class side by side, (b, C x d_out)."""
    c, b = deltas.shape[:2]
    if _is_linear(layer.module):
        summed = deltas.reshape(c, b, -1, deltas.shape[-1]).sum(2)
    else:
        summed = deltas.reshape(c, b, deltas.shape[2], -1).sum(3)
    return summed.permute(1, 0, 2).reshape(b, -1)


def _per_sample_grads(layer: _Layer, x: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
    """The layer's per-sample gradients of every class from its own vector-Jacobian product, (b, C x P)."""
    module = layer.module
    params = {name: module._parameters[name].detach() for name in layer.names}

    def one(xi: torch.Tensor, di: torch.Tensor) -> torch.Tensor:  # di: (C, *output shape)
        _, pullback = vjp(lambda p: functional_call(module, p, (xi.unsqueeze(0),)).squeeze(0), params)
        grads = vmap(pullback)(di)[0]
        return torch.cat([grads[name].reshape(di.shape[0], -1) for name in layer.names], dim=1).reshape(-1)

    return vmap(one)(x, deltas.transpose(0, 1))


def _ghost_sum(patches: torch.Tensor, deltas: torch.Tensor, n: int, positions: int) -> torch.Tensor:
    """``sum_{t,s} (P P^T * D D^T)`` per sample pair, over groups in chunks: (n, n)."""
    groups, rows = patches.shape[:2]
    out = torch.zeros(n, n, dtype=patches.dtype)
    step = max(1, CHUNK_FLOATS // (rows * rows))
    for g0 in range(0, groups, step):
        p, d = patches[g0 : g0 + step], deltas[g0 : g0 + step]
        product = torch.bmm(p, p.transpose(1, 2)) * torch.bmm(d, d.transpose(1, 2))
        out += product.sum(0).reshape(n, positions, n, positions).sum((1, 3))
    return out


def layer_ntk(model: nn.Module, x: torch.Tensor, names: list[str], batch: int = 64
              ) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(K, outputs)``: the exact class-traced NTK (n x n, float64, ``1/C sum_c``) of ``model`` in eval mode on ``x``
    with respect to the parameters ``names``, and ``f(x; w0)``; None where the layer decomposition does not apply."""
    model.eval()
    layers = _layers(model, names)
    if layers is None:
        return None
    other = sum(layer.module._parameters[name].numel() for layer in layers if not layer.ghost for name in layer.names)
    trainable = set(names)
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    hooks = []

    def capture(layer: _Layer):
        def hook(_module, args, kwargs, output):
            layer.calls += 1 if len(args) == 1 and not kwargs and isinstance(output, torch.Tensor) else 2
            layer.inputs.append(args[0].detach().double() if layer.ghost else args[0].detach())
            layer.output = output

        return hook

    n, outputs, flops = len(x), [], 0.0
    try:
        for name, p in model.named_parameters():
            p.requires_grad_(name in trainable)
        hooks = [layer.module.register_forward_hook(capture(layer), with_kwargs=True) for layer in layers]
        for start in range(0, n, batch):
            xb = x[start : start + batch]
            for layer in layers:
                layer.inputs, layer.output, layer.calls = [], None, 0
            with torch.enable_grad():
                out = model(xb)
                if any(layer.calls != 1 for layer in layers):
                    return None  # called twice (shared weights), with several inputs, or not at all
                classes = out.shape[1]
                if len(x) * classes * other > MAX_GRAD_FLOATS:
                    return None
                targets = [layer.output for layer in layers]
                per_class = [torch.autograd.grad(out[:, c].sum(), targets, retain_graph=c < classes - 1)
                             for c in range(classes)]
            outputs.append(out.detach().double())
            for i, layer in enumerate(layers):
                deltas = torch.stack([grads[i] for grads in per_class])  # (C, b, *output shape)
                if layer.ghost:
                    d = deltas.double()
                    if layer.weight:
                        patches, positions = _patches(layer, layer.inputs[0])
                        layer.deltas.append(_deltas(layer, d))
                        if start == 0:  # the products' size and cost over all n samples
                            rows, groups = n * positions, patches.shape[0]
                            flops += groups * rows * rows * (patches.shape[2] + layer.deltas[0].shape[2])
                            if rows > MAX_ROWS or flops > MAX_FLOPS:
                                return None
                        layer.patches.append(patches)
                        layer.positions = positions
                    if layer.bias:
                        layer.bias_grads.append(_bias_grads(layer, d))
                else:
                    layer.grads.append(_per_sample_grads(layer, layer.inputs[0], deltas.detach()).double())
                layer.inputs, layer.output = [], None
            del per_class, out
        kernel = torch.zeros(n, n, dtype=torch.float64)
        for layer in layers:
            if layer.patches:
                kernel += _ghost_sum(torch.cat(layer.patches, dim=1), torch.cat(layer.deltas, dim=1), n,
                                     layer.positions)
            for parts in (layer.bias_grads, layer.grads):
                if parts:
                    g = torch.cat(parts)
                    kernel += g @ g.T
        outs = torch.cat(outputs)
        kernel /= outs.shape[1]
        return 0.5 * (kernel + kernel.T), outs
    finally:
        for handle in hooks:
            handle.remove()
        for name, p in model.named_parameters():
            p.requires_grad_(flags[name])
        for layer in layers:
            layer.inputs, layer.output = [], None
