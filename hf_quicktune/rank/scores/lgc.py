"""Label-Gradient Correlation (Deshpande et al. 2021, arXiv 2102.00084, §3.2).

The linearised fine-tuned model has the empirical neural tangent kernel
``Θ(x_i, x_j) = ⟨∇_w f(x_i), ∇_w f(x_j)⟩`` as its kernel; LGC is the centred correlation of
Θ with the label kernel (the same alignment as :mod:`.lfc`: scalar-mean centring of both
kernels and the normalised Frobenius inner product, as the paper defines it). Here ``w`` = the parameters of the
*last block* of the backbone and everything after it up to the pooled features (e.g. the final
1x1 conv and norm), plus a *new* linear head. For a C-way head the kernel summed over outputs is
estimated by a random output direction, i.e. a random head vector ``v ~ N(0, I/d)`` with
``f(x) = v·φ(x)``: its gradient w.r.t. ``v`` is ``φ(x)`` (the LFC kernel) and w.r.t. the last
block it is ``vᵀ ∂φ/∂w``. The kernel is computed exactly from each tail layer's inputs and output
gradients (:mod:`hf_quicktune.estimate.layer_gram`) where that applies and the sample's images fit
:data:`EXACT_MAX_FLOATS` (small inputs; at a model's own size the last block's positions usually make
it too costly). Otherwise per-sample gradients come from ``torch.func`` (vmap of grad) and are
count-sketched to ``proj_dim`` coordinates (a random projection that preserves inner products
in expectation), so memory stays O(batch × params) for the gradients and O(n × proj_dim) overall.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from hf_quicktune.errors import QuickTuneError
from hf_quicktune.rank.scores._common import one_hot
from hf_quicktune.rank.scores.lfc import kernel_alignment

if TYPE_CHECKING:  # pragma: no cover
    import torch

logger = logging.getLogger(__name__)

_BLOCK_CONTAINERS = ("blocks", "stages", "layers", "layer4", "features", "encoder")
#: the exact kernel keeps every image of the sample at once: at most this many floats of pixels (512 MiB)
EXACT_MAX_FLOATS = 2**27


def last_block(model: torch.nn.Module) -> torch.nn.Module:
    """The last residual/transformer block of a timm-style backbone.

    Takes the last child of the first block container found (``blocks``, ``stages``, ...) and
    descends through nested Sequential/ModuleList containers to a leaf block.
    """
    import torch

    for attr in _BLOCK_CONTAINERS:
        container = getattr(model, attr, None)
        if isinstance(container, torch.nn.Module) and len(list(container.children())) > 0:
            block = list(container.children())[-1]
            while isinstance(block, torch.nn.Sequential | torch.nn.ModuleList) and len(block) > 0:
                block = block[-1]
            return block
    raise QuickTuneError(
        f"LGC cannot find the last block of {type(model).__name__} (looked for attributes "
        f"{', '.join(_BLOCK_CONTAINERS)}). Rank this candidate without 'lgc' (e.g. --scores lfc,logme,knn)."
    )


def tail_parameter_names(model: torch.nn.Module) -> list[str]:
    """Names of the last block's parameters and of every later non-classifier parameter."""
    import torch

    block = last_block(model)
    block_ids = {id(p) for p in block.parameters()}
    classifier = model.get_classifier() if hasattr(model, "get_classifier") else None
    head_ids = {id(p) for p in classifier.parameters()} if isinstance(classifier, torch.nn.Module) else set()
    names, started = [], False
    for name, p in model.named_parameters():
        if id(p) in block_ids:
            started = True
        if started and id(p) not in head_ids:
            names.append(name)
    if not names:
        raise QuickTuneError(
            f"LGC found no trainable parameters in the last block of {type(model).__name__}."
        )
    return names


def _pre_logits_module(model):
    import torch

    class PreLogits(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net.forward_head(self.net.forward_features(x), pre_logits=True).flatten(1)

    return PreLogits(model)


def per_sample_gradients(model, names: list[str], head, pixels, chunk_size: int | None = None):
    """Flat per-sample gradients ``(b, P_tail + d)`` of ``f(x) = head · φ(x)`` w.r.t. the tail and head.

    ``model`` must be in eval mode (batch-norm running statistics) with ``requires_grad`` off.
    """
    import torch
    from torch.func import functional_call, grad, vmap

    wrapper = _pre_logits_module(model)
    params = dict(model.named_parameters())
    tail = {n: params[n].detach() for n in names}

    def scalar_output(tail_params, v, x):
        feats = functional_call(wrapper, {f"net.{k}": t for k, t in tail_params.items()}, (x.unsqueeze(0),))
        return (feats[0] * v).sum()

    g_tail, g_head = vmap(
        grad(scalar_output, argnums=(0, 1)), in_dims=(None, None, 0), chunk_size=chunk_size
    )(tail, head, pixels)
    return torch.cat([g_tail[n].flatten(1).float() for n in names] + [g_head.float()], dim=1)


def _exact_factor(model, names: list[str], head, pixels, batch: int) -> np.ndarray | None:
    """A factor G (``G Gᵀ`` the exact kernel) of the gradient kernel of ``f = head · φ`` w.r.t. the tail and the
    head, from the layers' inputs and output gradients; None where
    :func:`~hf_quicktune.estimate.layer_gram.layer_ntk` does not apply."""
    import torch

    from hf_quicktune.estimate.layer_gram import layer_ntk

    class ScalarHead(torch.nn.Module):
        def __init__(self, net, v):
            super().__init__()
            self.net = net
            self.head = torch.nn.Linear(v.shape[0], 1, bias=False).to(v.device)
            self.head.weight.data.copy_(v[None])

        def forward(self, x):
            return self.head(self.net(x))

    scalar = ScalarHead(_pre_logits_module(model), head)
    exact = layer_ntk(scalar, pixels, [f"net.net.{n}" for n in names] + ["head.weight"], batch=batch)
    if exact is None:
        return None
    values, vectors = np.linalg.eigh(exact[0].cpu().numpy())
    return vectors * np.sqrt(np.clip(values, 0.0, None))


def lgc(
    model: torch.nn.Module,
    loader,
    *,
    proj_dim: int = 1024,
    seed: int = 0,
    chunk_size: int | None = None,
    device=None,
    progress: Callable[[int, int], None] | None = None,
    exact: bool = True,
) -> float:
    """LGC of ``model`` (timm API) on the ``(pixels, label)`` batches of ``loader``; higher is better.

    ``exact=False`` forces the sketched per-sample gradients."""
    import torch

    model = model.eval()
    if device is not None:
        model = model.to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    names = tail_parameter_names(model)
    params = dict(model.named_parameters())
    total = sum(params[n].numel() for n in names)
    device = next(iter(model.parameters())).device
    gen = torch.Generator().manual_seed(seed)
    wrapper = _pre_logits_module(model)
    head: torch.Tensor | None = None
    sketch_map: list[torch.Tensor] = []  # bucket and sign, drawn after the head

    def sketched(pixels) -> np.ndarray:
        assert head is not None
        if not sketch_map:
            dims = total + head.shape[0]
            sketch_map.append(torch.randint(0, proj_dim, (dims,), generator=gen).to(device))
            sketch_map.append((torch.randint(0, 2, (dims,), generator=gen) * 2 - 1).to(device, torch.float32))
        bucket, sign = sketch_map
        flat = per_sample_gradients(model, names, head, pixels, chunk_size)
        out = torch.zeros(flat.shape[0], proj_dim, device=device)
        out.index_add_(1, bucket, flat * sign)
        return out.cpu().numpy().astype(np.float64)

    projected: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    kept: list[torch.Tensor] = []
    steps = len(loader)
    for step, (pixels, target) in enumerate(loader, start=1):
        pixels = pixels.to(device)
        if head is None:
            with torch.no_grad():
                d = wrapper(pixels[:1]).shape[1]
            head = (torch.randn(d, generator=gen) / d**0.5).to(device)
        labels.append(target.cpu().numpy())
        if exact and sum(b.numel() for b in kept) + pixels.numel() <= EXACT_MAX_FLOATS:
            kept.append(pixels)
        else:  # the sample outgrew the exact kernel's limit: sketch what was kept, then stream
            exact = False
            projected += [sketched(b) for b in kept] + [sketched(pixels)]
            kept = []
        if progress is not None:
            progress(step, steps)
    g = None
    if kept:
        g = _exact_factor(model, names, head, torch.cat(kept), batch=max(len(b) for b in kept))
        if g is None:
            projected = [sketched(b) for b in kept]
    if g is None:
        g = np.concatenate(projected)
    y = np.concatenate(labels).astype(np.int64)
    if not np.all(np.isfinite(g)):
        raise QuickTuneError(
            "LGC gradients contain NaN/inf; the candidate is numerically unstable on this data."
        )
    return kernel_alignment(g, one_hot(y))
