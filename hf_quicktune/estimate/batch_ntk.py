"""The NTK of the network the trainer trains when BatchNorm layers train: normalised by the data's statistics as
functions of the weights (Zancato et al. 2020, section 3, linearizing the trainer's network rather than its
eval-mode twin).

A trained BatchNorm layer runs in train mode (:func:`hf_quicktune.train.strategies.set_train_mode`): it normalises
each batch by that batch's mean and variance, so a weight change also moves the statistics, and the gradient loses
each channel's shift and scale. An eval-mode Jacobian leaves that out: at the checkpoint's statistics it predicted
1.1-8x too many steps for EfficientNet-Lite0's last stage + head at 32 px on mnist5k, at the data's statistics
0.22-0.48x (``benchmarks/estimate_accuracy.py``). Here the function linearized is
``F(x_i; w) = net(x_i; w, mean_X(w), var_X(w))`` with the statistics of every trained normalisation layer taken over
the linearized images as one batch, or over groups of them (the frozen ones keep their running statistics, as in
training); on the same rows it predicted the steps to within 10 % of the final loss with a median error of 4.6 %
over 20 epochs (``benchmarks/estimate_batch_stats.py``). With every layer of the network trained its linearized
model diverged where training did not (:func:`~hf_quicktune.estimate.estimator.estimate`): not the default.

Each output now depends on every image of the batch, so per-sample gradients are not independent
(:mod:`.jacobian`'s ``vmap`` over samples and :mod:`.layer_gram`'s per-layer products do not apply): one forward
pass, then one backward pass per (image, class probe) output over the whole batch (``torch.func.vjp``, batched by
``vmap`` in chunks), n x C of them for the exact class trace (``class_probes=None``) or n x R with R Rademacher
probes, each probe's n gradients held at once (count-sketched, :func:`~.jacobian._count_sketch`, when n x P floats
exceed ``memory_mb``: the last stage + head of EfficientNet-Lite0, 1.0 M parameters, on 256 images takes 1 GiB a
probe). ``group`` takes the statistics over random groups of that many images instead (the trainer's batch size):
an output then depends on its group only, and the backward passes run over the group.
"""

from __future__ import annotations

import copy
import logging

import torch
from torch import nn
from torch.func import functional_call, vjp, vmap

from hf_quicktune.estimate.bn_stats import trained_norm_layers
from hf_quicktune.estimate.jacobian import Gram, _class_probes, _count_sketch, _sketched

__all__ = ["batch_statistics_ntk"]

logger = logging.getLogger(__name__)


def _batch_statistics_copy(model: nn.Module, trainable: list[str]) -> nn.Module:
    """A copy of ``model`` in eval mode whose trained normalisation layers always normalise by their input's
    statistics (no running statistics)."""
    net = copy.deepcopy(model).eval()
    for layer in trained_norm_layers(net, trainable):
        layer.track_running_stats = False
        layer.running_mean = None
        layer.running_var = None
        layer.num_batches_tracked = None
        layer.train()
    return net


def batch_statistics_ntk(model: nn.Module, x: torch.Tensor, trainable: list[str], *, class_probes: int | None = None,
                         k: int | None = None, memory_mb: float = 2048.0, seed: int = 0, chunk: int = 16,
                         group: int | None = None) -> Gram:
    """Class-traced NTK (n x n) of ``model``'s ``trainable`` parameters on ``x``, its trained normalisation layers
    normalising by the statistics of ``x`` (module docstring). ``model`` is not changed. ``class_probes``, ``k`` and
    ``seed`` as in :func:`~.jacobian.empirical_ntk`; ``memory_mb``: the most one probe's gradients may take before
    they are sketched; ``chunk``: outputs differentiated at once. ``group``: the statistics are those of random
    groups of this many images (the trainer's batches: an output depends on its group only, so the backward passes
    cost ``group / n`` of the whole batch's); None: all of ``x`` as one batch."""
    if len(x) < 2:
        raise ValueError("batch statistics need at least 2 images")
    size = len(x) if group is None else max(2, min(int(group), len(x)))
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed + 2)) if size < len(x) \
        else torch.arange(len(x))
    groups = [order[i : i + size] for i in range(0, len(x), size)]
    if len(groups) > 1 and len(groups[-1]) < 2:  # a last group of one image has no variance: join the previous
        groups[-2] = torch.cat(groups[-2:])
        groups.pop()
    net = _batch_statistics_copy(model, trainable)
    params = dict(net.named_parameters())
    train_p = {name: params[name].detach() for name in trainable}
    rest = {name: p.detach() for name, p in params.items() if name not in train_p}
    buffers = {name: b for name, b in net.named_buffers() if b is not None}
    num_params = sum(p.numel() for p in train_p.values())

    def forward(p: dict[str, torch.Tensor], images: torch.Tensor) -> torch.Tensor:
        return functional_call(net, ({**rest, **p}, buffers), (images,))

    with torch.no_grad():
        num_classes = forward(train_p, x[groups[0]]).shape[1]
    probes, scale = _class_probes(num_classes, class_probes, seed)
    n = len(x)
    if k is None and n * num_params * 4 / 2**20 > memory_mb:
        k = 8192
    if k is not None and k >= num_params:
        k = None
    sketch = _count_sketch(num_params, k, seed) if k is not None else None
    width = k if k is not None else num_params
    outputs = torch.empty(n, num_classes)
    kernel = torch.zeros(n, n, dtype=torch.float64)
    rows = torch.empty(n, width, dtype=torch.float32)  # one probe's gradients at a time
    for probe in probes:
        for idx in groups:  # one forward pass per group and probe: cheap beside the group's backward passes
            out, pullback = vjp(lambda p, idx=idx: forward(p, x[idx]), train_p)
            outputs[idx] = out.detach().float()
            pulled = vmap(lambda cot, pullback=pullback: pullback(cot)[0])
            m = len(idx)
            for start in range(0, m, chunk):
                part = min(chunk, m - start)
                cot = torch.zeros(part, m, num_classes, dtype=out.dtype)  # the probe on one image's outputs
                cot[torch.arange(part), torch.arange(start, start + part)] = probe.to(out.dtype)
                grads = pulled(cot)  # name -> (part, *shape)
                flat = torch.cat([grads[name].reshape(part, -1) for name in trainable], dim=1)
                rows[idx[start : start + part]] = _sketched(flat, sketch, width)
                del grads, flat
        kernel += (rows @ rows.T).double()  # float32 products, summed in float64 (as layer_gram)
    kernel = scale * 0.5 * (kernel + kernel.T)
    logger.debug("batch-statistics NTK on n=%d, C=%d, P=%d, k=%s, probes=%s", n, num_classes, num_params, k,
                 class_probes)
    return Gram(kernel=kernel, outputs=outputs, num_params=num_params, projected_dim=k,
                class_probes=class_probes)
