"""Per-sample Jacobians and the empirical NTK Gram matrix (Zancato et al. 2020, §3).

Linearization around the pretrained weights w0 (paper eq. 1)::

    f(x; w) ~= f(x; w0) + J(x) (w - w0),      J(x) = d f(x; w) / d w |_{w0}   (C x P)

Only the *trainable* parameters enter J: the classifier head plus the unfrozen tail of the
network (``pct_to_freeze`` freezes the first fraction of parameter tensors, in module order;
:mod:`hf_quicktune.zoo.freezing`, the same rule the train engine applies).

The empirical NTK on a subsample X of n examples is ``Theta = J_X J_X^T`` (nC x nC). Two
documented approximations keep its cost bounded:

* **Class-traced (Kronecker) kernel.** ``Theta ~= K (x) I_C`` with
  ``K(x, x') = tr_C Theta(x, x') / C``. Exact for a linear head on frozen features, and in
  expectation over a randomly initialised head for the body part (``E[W_c A W_c'^T] ~ delta_cc'``).
  ``class_probes=None`` computes ``tr_C`` exactly from the C output gradients; an integer R uses
  R Rademacher probes v (``E_v[(v^T J)(v^T J')^T] = tr_C Theta``), i.e. R backward passes per
  sample instead of C.
* **Random projection.** When the per-sample gradients do not fit ``memory_mb``, each gradient
  g in R^P is sketched to R^k with a count sketch S (one random bucket and sign per parameter):
  ``E[<S g, S g'>] = <g, g'>``, so ``K`` is estimated without bias from n x k numbers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

# the trainable set of a strategy: one rule shared with the train engine
from hf_quicktune.zoo.freezing import head_parameter_names, trainable_parameter_names

__all__ = ["Gram", "empirical_ntk", "head_parameter_names", "trainable_parameter_names"]

logger = logging.getLogger(__name__)


@dataclass
class Gram:
    """Class-traced empirical NTK on a subsample: ``kernel[i, j] = tr_C Theta(x_i, x_j) / C``."""

    kernel: torch.Tensor  # (n, n) float64
    outputs: torch.Tensor  # (n, C) model outputs f(x; w0) at the linearization point
    num_params: int  # trainable parameters P
    projected_dim: int | None  # k when the count sketch was used, None when exact
    class_probes: int | None  # R probes, None when tr_C was exact


def _count_sketch(num_params: int, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    bucket = torch.randint(0, k, (num_params,), generator=gen)
    sign = torch.randint(0, 2, (num_params,), generator=gen).to(torch.float32) * 2 - 1
    return bucket, sign


def _sketched(flat: torch.Tensor, sketch: tuple[torch.Tensor, torch.Tensor] | None, width: int) -> torch.Tensor:
    """Rows of gradients (m x P) count-sketched to ``width`` columns (unchanged without a ``sketch``)."""
    if sketch is None:
        return flat
    bucket, sign = sketch
    proj = torch.zeros(flat.shape[0], width)
    proj.index_add_(1, bucket, flat * sign)
    return proj


def _class_probes(num_classes: int, class_probes: int | None, seed: int) -> tuple[torch.Tensor, float]:
    """(probes R x C, the kernel's scale): the identity and 1/C for the exact class trace, else R seeded Rademacher
    probes and 1/(R C)."""
    if class_probes is None:
        return torch.eye(num_classes), 1.0 / num_classes
    gen = torch.Generator().manual_seed(seed + 1)
    probes = torch.randint(0, 2, (class_probes, num_classes), generator=gen).float() * 2 - 1
    return probes, 1.0 / (class_probes * num_classes)


@torch.no_grad()
def _outputs(model: nn.Module, x: torch.Tensor, batch: int = 64) -> torch.Tensor:
    return torch.cat([model(x[i : i + batch]) for i in range(0, len(x), batch)]).double()


def _linear_head_only(model: nn.Module, names: list[str]) -> nn.Linear | None:
    """The head when it is an ``nn.Linear`` and exactly its parameters are trainable, else None."""
    from hf_quicktune.zoo.freezing import head_module

    try:
        head = head_module(model)
    except TypeError:
        return None
    if not isinstance(head, nn.Linear):
        return None
    return head if set(names) == set(head_parameter_names(model)) else None


@torch.no_grad()
def _linear_head_ntk(model: nn.Module, head: nn.Linear, x: torch.Tensor, batch: int = 64) -> Gram:
    """Exact class-traced NTK of a linear head on frozen features: ``K = Phi Phi^T (+ 1 with a bias)``.

    For ``f_c(x) = w_c . phi(x) + b_c`` the Jacobian w.r.t. (W, b) gives
    ``Theta_cc'(x, x') = delta_cc' (phi(x) . phi(x') + 1)``, so ``tr_C Theta / C`` is the feature
    Gram matrix plus one: one batched forward pass instead of per-sample Jacobians (same result as
    the general path, which the tests check).
    """
    feats: list[torch.Tensor] = []
    handle = head.register_forward_pre_hook(lambda _m, args: feats.append(args[0].detach().flatten(1)))
    try:
        outputs = torch.cat([model(x[i : i + batch]) for i in range(0, len(x), batch)]).double()
    finally:
        handle.remove()
    phi = torch.cat(feats).double()
    kernel = phi @ phi.T + (1.0 if head.bias is not None else 0.0)
    num_params = sum(p.numel() for p in head.parameters())
    return Gram(kernel=0.5 * (kernel + kernel.T), outputs=outputs, num_params=num_params, projected_dim=None,
                class_probes=None)


def empirical_ntk(
    model: nn.Module,
    x: torch.Tensor,
    *,
    trainable: list[str] | None = None,
    k: int | None = None,
    class_probes: int | None = None,
    memory_mb: float = 512.0,
    seed: int = 0,
    head_shortcut: bool = True,
    layer_gram: bool = True,
) -> Gram:
    """Class-traced empirical NTK ``K`` (n x n) of ``model`` at its current weights on inputs ``x``.

    Per-sample Jacobians come from ``torch.func`` (``vmap(jacrev(...))``) w.r.t. the ``trainable``
    parameters only (frozen ones are constants, so backward stops at the first trainable layer).
    The model is put in eval mode: BatchNorm statistics and dropout are part of the frozen
    linearization point. ``k``: project gradients to k dims (count sketch); ``None`` = exact when
    the n x P gradient matrix fits ``memory_mb``, else k = 8192. When only a linear head trains
    (linear probing, ``pct_to_freeze=1``) the kernel is computed exactly from the head's input
    features instead (:func:`_linear_head_ntk`; ``k`` and ``class_probes`` are then not needed;
    ``head_shortcut=False`` forces the general path). An exact kernel (``k`` and ``class_probes`` None) comes from
    each trainable layer's inputs and output gradients where the model allows it (:mod:`.layer_gram`: exact, no
    per-sample Jacobians, no sketch); ``layer_gram=False`` forces the per-sample Jacobians.
    """
    model.eval()
    params = dict(model.named_parameters())
    names = trainable if trainable is not None else list(params)
    if not names:
        raise ValueError("no trainable parameters: nothing to linearize")
    linear = _linear_head_only(model, names) if head_shortcut else None
    if linear is not None:
        return _linear_head_ntk(model, linear, x)
    if layer_gram and k is None and class_probes is None:
        from hf_quicktune.estimate.layer_gram import layer_ntk

        exact = layer_ntk(model, x, names)
        if exact is not None:
            kernel, outputs = exact
            num_params = sum(params[name].numel() for name in names)
            return Gram(kernel=kernel, outputs=outputs, num_params=num_params, projected_dim=None, class_probes=None)
    train_p = {name: params[name].detach() for name in names}
    frozen = {name: p.detach() for name, p in params.items() if name not in train_p}
    buffers = dict(model.named_buffers())
    num_params = sum(p.numel() for p in train_p.values())
    n = len(x)

    outputs = _outputs(model, x)
    num_classes = outputs.shape[1]
    probes, scale = _class_probes(num_classes, class_probes, seed)
    r = probes.shape[0]

    if k is None and n * r * num_params * 4 / 2**20 > memory_mb:
        k = 8192
    if k is not None and k >= num_params:
        k = None
    sketch = _count_sketch(num_params, k, seed) if k is not None else None
    width = k if k is not None else num_params

    def probed(p: dict[str, torch.Tensor], xi: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, ({**frozen, **p}, buffers), (xi.unsqueeze(0),)).squeeze(0)
        return probes.to(out.dtype) @ out

    per_sample_jac = vmap(jacrev(probed), in_dims=(None, 0))
    # a chunk holds (chunk, R, P) float32 gradients (x ~3 for autograd intermediates)
    chunk = max(1, min(n, int(memory_mb * 2**20 / (3 * 4 * r * num_params))))
    rows = torch.empty(n, r, width, dtype=torch.float32)
    for start in range(0, n, chunk):
        xb = x[start : start + chunk]
        jac = per_sample_jac(train_p, xb)  # name -> (b, R, *shape)
        flat = torch.cat([jac[name].reshape(len(xb) * r, -1) for name in names], dim=1)
        rows[start : start + len(xb)] = _sketched(flat, sketch, width).reshape(len(xb), r, width)
        del jac, flat
    g = rows.reshape(n, -1).double()
    kernel = scale * (g @ g.T)
    kernel = 0.5 * (kernel + kernel.T)
    logger.debug("NTK on n=%d, C=%d, P=%d, k=%s, probes=%s", n, num_classes, num_params, k, class_probes)
    return Gram(kernel=kernel, outputs=outputs, num_params=num_params, projected_dim=k, class_probes=class_probes)
