"""Transfer-learning regularizers that keep the fine-tuned model close to its source.

- SP (L2-SP, Li et al. ICML 2018, eq. 3): ``sp_reg / 2 * ||w - w0||²`` over the backbone
  weights, w0 the pretrained values (the new head is not regularized).
- DELTA (Li et al. ICLR 2019, eq. 1/5, behavioural regularizer without the attention weights):
  ``delta_reg / 2 * mean_batch ||f(x; w) - f(x; w0)||²`` on the penultimate (pre-logits)
  features, with f(·; w0) a frozen copy of the pretrained model.
- BSS (Batch Spectral Shrinkage, Chen et al. NeurIPS 2019, eq. 5): ``bss_reg * Σ_{i≤k} σ²_{-i}``,
  the k smallest singular values of the batch's penultimate feature matrix (k = 1).

The penultimate features are read with a forward pre-hook on the classifier, which also works
through Accelerate/DDP wrappers.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from hf_quicktune.train.strategies import backbone_parameter_names, head_module


class FeatureTap:
    """Keeps the input of the model's classifier (the pre-logits features) of the last forward."""

    def __init__(self, model: nn.Module):
        self.features: torch.Tensor | None = None
        self._handle = head_module(model).register_forward_pre_hook(self._hook)

    def _hook(self, module: nn.Module, args: tuple) -> None:
        self.features = args[0]

    def pop(self) -> torch.Tensor:
        features, self.features = self.features, None
        if features is None:
            raise RuntimeError("the classifier was not called in the last forward pass")
        return features.flatten(1)

    def remove(self) -> None:
        self._handle.remove()


class SPRegularizer:
    """L2-SP: squared distance of the backbone weights to their starting point."""

    def __init__(self, model: nn.Module, weight: float):
        self.weight = weight
        names = set(backbone_parameter_names(model))
        self.params = [(p, p.detach().clone()) for n, p in model.named_parameters() if n in names]

    def __call__(self) -> torch.Tensor:
        total = None
        for p, p0 in self.params:
            if not p.requires_grad:
                continue
            term = (p - p0).pow(2).sum()
            total = term if total is None else total + term
        if total is None:
            return torch.zeros(())
        return 0.5 * self.weight * total


class DeltaRegularizer:
    """DELTA (feature variant): distance of the pre-logits features to the pretrained model's."""

    def __init__(self, model: nn.Module, weight: float):
        self.weight = weight
        self.teacher = copy.deepcopy(model).eval().requires_grad_(False)
        self.tap = FeatureTap(self.teacher)

    def to(self, device: torch.device) -> DeltaRegularizer:
        self.teacher.to(device)
        return self

    def __call__(self, x: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            self.teacher(x)
            target = self.tap.pop()
        return 0.5 * self.weight * (features.float() - target.float()).pow(2).sum(1).mean()


def bss_penalty(features: torch.Tensor, weight: float, k: int = 1) -> torch.Tensor:
    """Batch Spectral Shrinkage: ``weight * Σ`` of the k smallest squared singular values."""
    sigma = torch.linalg.svdvals(features.float())
    return weight * sigma[-k:].pow(2).sum()
