"""The BatchNorm statistics of the network the trainer trains, for the estimator to linearize.

The trainer keeps a normalisation layer whose parameters are all frozen in eval mode (its pretrained running
statistics) and trains the others in train mode (:func:`hf_quicktune.train.strategies.set_train_mode`), which
normalise with the statistics of each batch of the *target* data. Linearized with the pretrained (ImageNet)
statistics instead, a network fine-tuned on other data is another function: EfficientNet-Lite0's last stage at
32 px on builtin:mnist5k left 1.6 % of its pooled features above zero (the ReLU6 after ``bn2`` cuts the rest), and
training switched units on that the linearization, whose gradient is zero there, cannot see: the kernel's top
eigenvalue grew 42x in 2.6 epochs (``benchmarks/estimate_kernel_growth.py``). Evaluated with the target data's
statistics (those of AdaBN: Li et al. 2016, "Revisiting Batch Normalization For Practical Domain Adaptation"), the
trained layers compute what their batch statistics give in training, without the batch's noise: the measured
ground truth (:mod:`.measure`) starts from them. Their gradients still differ from training's, which flow through
the batch's statistics too: the estimator linearizes that network (:mod:`.batch_ntk`); ``estimate(norm_statistics=
"target")``, the eval-mode kernel at these statistics, predicted too few steps (``benchmarks/estimate_accuracy.py``).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

__all__ = ["NORM_STATISTICS", "set_target_statistics", "trained_norm_layers"]

#: how :func:`~.measure.train_and_measure` trains the trained normalisation layers: ``target``, on batch statistics
#: as the trainer does (its running statistics first set on the data); ``pretrained``, in eval mode with the
#: checkpoint's running statistics
NORM_STATISTICS = ("target", "pretrained")


def trained_norm_layers(model: nn.Module, trainable: Iterable[str]) -> list[nn.modules.batchnorm._NormBase]:
    """The normalisation layers with running statistics that the trainer puts in train mode: those with a
    parameter among ``trainable`` (parameter names of ``model``)."""
    names = set(trainable)
    layers = []
    for prefix, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._NormBase) and module.track_running_stats:
            own = [f"{prefix}.{name}" if prefix else name for name, _ in module.named_parameters(recurse=False)]
            if any(name in names for name in own):
                layers.append(module)
    return layers


@torch.no_grad()
def set_target_statistics(model: nn.Module, x: torch.Tensor, trainable: Iterable[str], batch: int = 64) -> int:
    """Replace the running statistics of ``model``'s trained normalisation layers (:func:`trained_norm_layers`) by
    those of ``x`` (the cumulative mean of its batches' statistics), in place; the model is left in eval mode.
    Returns the number of layers set (0: nothing changed, e.g. linear probing)."""
    layers = trained_norm_layers(model, trainable)
    if not layers:
        return 0
    model.eval()
    saved = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # a cumulative average over the batches
        layer.train()
    try:
        step = max(2, batch)  # a batch of one has no variance
        for i in range(0, len(x), step):
            chunk = x[i : i + step]
            if len(chunk) < 2:
                break
            model(chunk)
    finally:
        for layer, momentum in zip(layers, saved):
            layer.momentum = momentum
        model.eval()
    return len(layers)
