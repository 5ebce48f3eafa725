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
  "Efficient per-example gradient computations", and the ghost clipping of Li et al., ICLR 2022). Where a layer has
  few weights and many positions (the early layers of a CNN) its per-sample gradients ``sum_t delta^c_it a_it^T`` are
  cheaper, formed and multiplied instead: each layer takes the cheaper of the two. A bias adds
  ``sum_c (sum_t delta^c_it) . (sum_s delta^c_js)``.
* **Any other layer** (BatchNorm's affine parameters, timm's BatchNormAct2d with its activation): its per-sample
  gradients from the layer's own vector-Jacobian product (``torch.func``), cheap for such small parameter sets,
  then their Gram matrix.

Exact like the per-sample Jacobian path of :func:`~.jacobian.empirical_ntk` (the tests compare the two), at a cost
of one forward and C backward passes over the trainable layers of the subsample plus the products (float32, summed
in float64). On builtin:mnist5k at 32 px (``benchmarks/ntk_paths.py``): EfficientNet-Lite0's last stage + head (1.0 M
parameters) on 256 images 1.35 s, where the per-sample Jacobians of all 10 classes took 24.7 s (count-sketched to
8,192 dimensions) and of one random class probe 3.2 s, 22 % off the exact kernel; the whole Lite0 (3.4 M) on 128
images 5.9 s against 28.5 s. :func:`layer_ntk` returns None where it does not apply (a layer called twice or with
several inputs, a string padding, a cost over :data:`MAX_FLOPS` or a size over the limits below, e.g. the whole
Lite0 on 256 images); the caller then uses the per-sample Jacobians.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vjp, vmap

#: a layer's (sample, position) rows in the products: at most this many (else its per-sample gradients)
MAX_ROWS = 4096
#: floats of one chunk of (groups x rows x rows) products
CHUNK_FLOATS = 2**24
#: the products and per-sample gradients of all layers may cost at most this many multiply-adds (else the per-sample
#: Jacobians): the whole Lite0 at 32 px fits on 128 images (6.3 s on one core, ``benchmarks/ntk_paths.py``), not on 256
MAX_FLOPS = 1e11
#: per-sample gradients of one layer may hold at most this many floats (n x C x its parameters)
MAX_GRAD_FLOATS = 2**26
#: the floats kept for all layers until the kernel is summed (patches, output gradients, per-sample gradients): 1 GiB
MAX_STORED_FLOATS = 2**28


@dataclass
class _Layer:
    module: nn.Module
    weight: bool  # weight trainable
    bias: bool  # bias trainable
    names: list[str]  # the module's trainable parameters (local names; the per-sample path)
    ghost: bool  # a linear or convolutional layer (products or per-sample gradients), else its own VJP
    positions: int = 1  # output positions T of a linear / convolutional layer
    materialise: bool = False  # its per-sample weight gradients formed (few parameters, many positions)
    stored: int = 0  # floats its weight's chosen form keeps for all n samples
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


def _weight_grads(patches: torch.Tensor, deltas: torch.Tensor, positions: int, classes: int) -> torch.Tensor:
    """Per-sample weight gradients of every class, (b, C x P), from (g, b T, p) patches and (g, b T, C q) gradients."""
    g, rows, p = patches.shape
    b = rows // positions
    a = patches.reshape(g, b, positions, p)
    d = deltas.reshape(g, b, positions, classes, -1)
    return torch.einsum("gbtp,gbtcq->bcgqp", a, d).reshape(b, -1)


def _plan(layer: _Layer, n: int, classes: int, patches: torch.Tensor, deltas: torch.Tensor) -> float | None:
    """Choose the cheaper exact form of a weight's kernel, the products over (sample, position) rows or the per-sample
    gradients, within their size limits; its multiply-adds over all n samples, or None when neither fits."""
    groups, _, p = patches.shape
    rows, params = n * layer.positions, layer.module._parameters["weight"].numel()
    options = []
    if rows <= MAX_ROWS:
        options.append((groups * rows * rows * (p + deltas.shape[2]), False, groups * rows * (p + deltas.shape[2])))
    if n * classes * params <= MAX_GRAD_FLOATS:
        options.append((n * classes * params * (layer.positions + n), True, n * classes * params))
    if not options:
        return None
    cost, layer.materialise, layer.stored = min(options)
    return float(cost)


def _ghost_sum(patches: torch.Tensor, deltas: torch.Tensor, n: int, positions: int) -> torch.Tensor:
    """``sum_{t,s} (P P^T * D D^T)`` per sample pair, over groups in chunks: (n, n)."""
    groups, rows = patches.shape[:2]
    out = torch.zeros(n, n, dtype=torch.float64, device=patches.device)
    step = max(1, CHUNK_FLOATS // (rows * rows))
    for g0 in range(0, groups, step):
        p, d = patches[g0 : g0 + step], deltas[g0 : g0 + step]
        product = torch.bmm(p, p.transpose(1, 2)) * torch.bmm(d, d.transpose(1, 2))
        out += product.sum(0).reshape(n, positions, n, positions).sum((1, 3)).double()
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
            # copies: later in-place operations (a ReLU(inplace=True), a residual `x += shortcut`) would otherwise
            # change the input kept here and the output whose gradient is taken (it would be the gradient after them)
            layer.inputs.append(args[0].detach().clone())
            layer.output = output
            return output.clone() if isinstance(output, torch.Tensor) else output

        return hook

    n, outputs, flops, stored = len(x), [], 0.0, 0
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
                if n * classes * other > MAX_GRAD_FLOATS:
                    return None
                if start == 0:  # the other layers' per-sample gradients and their Gram products
                    stored, flops = n * classes * other, float(n * n * classes * other)
                targets = [layer.output for layer in layers]
                per_class = [[torch.zeros_like(t) if g is None else g for g, t in zip(
                    torch.autograd.grad(out[:, c].sum(), targets, retain_graph=c < classes - 1, allow_unused=True),
                    targets, strict=True)] for c in range(classes)]  # a layer the outputs do not use: zeros
            outputs.append(out.detach().double())
            for i, layer in enumerate(layers):
                deltas = torch.stack([grads[i] for grads in per_class])  # (C, b, *output shape)
                if layer.ghost:
                    d = deltas.detach()
                    if layer.weight:
                        patches, layer.positions = _patches(layer, layer.inputs[0])
                        deltas_g = _deltas(layer, d)
                        if start == 0:  # the form and its cost over all n samples, from the first chunk
                            cost = _plan(layer, n, classes, patches, deltas_g)
                            if cost is None or flops + cost > MAX_FLOPS:
                                return None
                            flops, stored = flops + cost, stored + layer.stored
                            if stored > MAX_STORED_FLOATS:
                                return None
                        if layer.materialise:
                            layer.grads.append(_weight_grads(patches, deltas_g, layer.positions, classes))
                        else:
                            layer.patches.append(patches)
                            layer.deltas.append(deltas_g)
                    if layer.bias:
                        layer.bias_grads.append(_bias_grads(layer, d))
                else:
                    layer.grads.append(_per_sample_grads(layer, layer.inputs[0], deltas.detach()))
                layer.inputs, layer.output = [], None
            del per_class, out
        kernel = torch.zeros(n, n, dtype=torch.float64, device=x.device)
        for layer in layers:
            if layer.patches:
                kernel += _ghost_sum(torch.cat(layer.patches, dim=1), torch.cat(layer.deltas, dim=1), n,
                                     layer.positions)
            for parts in (layer.bias_grads, layer.grads):
                if parts:
                    g = torch.cat(parts)
                    kernel += (g @ g.T).double()
            layer.patches, layer.deltas, layer.bias_grads, layer.grads = [], [], [], []
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
