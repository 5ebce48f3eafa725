"""Measured ground truth for the estimator: a plain SGD loop that records the full training loss.

Used by ``estimate --validate``, the accuracy benchmark and the tests. It trains the ``trainable``
parameters of ``model`` as the trainer does, without dropout or augmentation: PyTorch SGD with heavy-ball
momentum, batches drawn without replacement within each epoch (``drop_last``), frozen normalisation layers in
eval mode (their pretrained statistics) and the trained ones (a trainable parameter) normalising each batch by
its own statistics (``norm_statistics="target"``, the default; the rule of
:func:`~hf_quicktune.train.strategies.set_train_mode`; their running statistics are first set on the training
images, :mod:`.bn_stats`, then updated by the steps). ``"pretrained"`` keeps every layer in eval mode with its
pretrained statistics (the estimator's linearization point, and this loop's only mode until session 63);
``"target_fixed"`` sets the target statistics and then keeps every layer in eval mode (a diagnostic: the trainer's
network without the batch statistics' coupling of the samples, what a linearization at the target statistics
models). Every ``eval_every`` steps the loss over the whole training set is evaluated in eval mode (not the noisy
mini-batch loss); that evaluation time is excluded from ``train_seconds``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)


def loss_fn(name: str, num_classes: int, smoothing: float = 0.0) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Per-sample-mean loss on logits: ``cross_entropy`` or ``mse`` (``1/(2n) sum ||f - onehot||^2``)."""
    if name == "cross_entropy":
        return lambda out, y: F.cross_entropy(out, y, label_smoothing=smoothing)
    if name == "mse":
        return lambda out, y: 0.5 * ((out - F.one_hot(y, num_classes).to(out.dtype)) ** 2).sum(dim=1).mean()
    raise ValueError(f"loss must be 'cross_entropy' or 'mse', got {name!r}")


@dataclass
class MeasuredCurve:
    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    train_seconds: float = 0.0
    diverged: bool = False

    @property
    def seconds_per_step(self) -> float:
        return self.train_seconds / max(self.steps[-1], 1) if self.steps else float("nan")

    def steps_to(self, target: float) -> float | None:
        """Step at which the loss first reaches ``target``, log-linearly interpolated between evaluations."""
        for i, value in enumerate(self.loss):
            if value <= target:
                if i == 0:
                    return 0.0
                s0, s1 = self.steps[i - 1], self.steps[i]
                l0, l1 = math.log(max(self.loss[i - 1], 1e-30)), math.log(max(value, 1e-30))
                frac = (l0 - math.log(target)) / (l0 - l1) if l0 != l1 else 1.0
                return s0 + frac * (s1 - s0)
        return None


    def steps_to_within(self, eps: float) -> float | None:
        """Step at which the loss first comes within ``eps`` of its final value, relative to the total
        decrease (:meth:`hf_quicktune.estimate.dynamics.Curve.steps_to_within`), linearly interpolated
        between evaluations; None when training diverged or its loss ended above where it started."""
        if self.diverged or not self.loss:
            return None
        from hf_quicktune.estimate.dynamics import within_of_final

        step = within_of_final(self.steps, self.loss, eps)
        if step is None:
            return None
        i = self.steps.index(step)
        if i == 0:
            return float(step)
        threshold = self.loss[-1] + eps * (self.loss[0] - self.loss[-1])
        l0, l1 = self.loss[i - 1], self.loss[i]  # linear interpolation between the two evaluations
        frac = (l0 - threshold) / (l0 - l1) if l0 != l1 else 1.0
        return self.steps[i - 1] + frac * (self.steps[i] - self.steps[i - 1])


@torch.no_grad()
def full_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: Callable, batch: int = 256) -> float:
    total = 0.0
    for i in range(0, len(x), batch):
        total += float(loss(model(x[i : i + batch]), y[i : i + batch])) * len(x[i : i + batch])
    return total / len(x)


def train_and_measure(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    trainable: list[str],
    lr: float,
    batch_size: int,
    momentum: float = 0.0,
    loss: str = "cross_entropy",
    smoothing: float = 0.0,
    max_steps: int = 1000,
    eval_every: int = 10,
    target_loss: float | None = None,
    seed: int = 0,
    weight_decay: float = 0.0,
    on_eval: Callable[[int, float], None] | None = None,
    norm_statistics: str = "target",
) -> MeasuredCurve:
    """Train ``model`` in place with SGD and return its full-training-set loss curve (``norm_statistics``: the
    module docstring)."""
    from hf_quicktune.estimate.bn_stats import NORM_STATISTICS, set_target_statistics, trained_norm_layers

    if norm_statistics not in (*NORM_STATISTICS, "target_fixed"):
        raise ValueError(f"norm_statistics must be one of {NORM_STATISTICS} or 'target_fixed', got {norm_statistics!r}")
    model.eval()
    names = set(trainable)
    params = []
    for name, p in model.named_parameters():
        p.requires_grad_(name in names)
        if name in names:
            params.append(p)
    num_classes = int(y.max()) + 1 if y.ndim == 1 else y.shape[1]
    if hasattr(model, "num_classes"):
        num_classes = int(model.num_classes)
    criterion = loss_fn(loss, num_classes, smoothing)
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    n = len(x)
    b = min(batch_size, n)
    curve = MeasuredCurve()
    trained_norms = []
    if norm_statistics in ("target", "target_fixed"):
        set_target_statistics(model, x, names)
    if norm_statistics == "target":
        trained_norms = trained_norm_layers(model, names)
    first = full_loss(model, x, y, criterion)
    curve.steps.append(0)
    curve.loss.append(first)
    perm, pos = torch.randperm(n, generator=gen), 0
    for step in range(1, max_steps + 1):
        if pos + b > n:
            perm, pos = torch.randperm(n, generator=gen), 0
        idx = perm[pos : pos + b]
        pos += b
        t0 = time.perf_counter()
        for layer in trained_norms:
            layer.train()
        opt.zero_grad(set_to_none=True)
        criterion(model(x[idx]), y[idx]).backward()
        opt.step()
        for layer in trained_norms:
            layer.eval()
        curve.train_seconds += time.perf_counter() - t0
        if step % eval_every == 0 or step == max_steps:
            value = full_loss(model, x, y, criterion)
            curve.steps.append(step)
            curve.loss.append(value)
            if on_eval is not None:
                on_eval(step, value)
            if not np.isfinite(value) or value > 1e3 * max(first, 1e-12):
                curve.diverged = True
                break
            if target_loss is not None and value <= target_loss:
                break
    return curve
