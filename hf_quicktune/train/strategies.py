"""Fine-tuning strategies: freezing a fraction of the layers and linear probing (LP-FT).

Quick-Tune's ``pct_to_freeze`` freezes the first fraction of the backbone's parameter tensors
(in definition order, i.e. from the input side); the classifier head is always trained.
``linear_probing`` trains only the head for the first epochs, then unfreezes the rest
(Kumar et al. 2022, "Fine-tuning can distort pretrained features").
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hf_quicktune.train.config import LINEAR_PROBING_FRACTION


def head_module(model: nn.Module) -> nn.Module:
    """The classifier (timm ``get_classifier``)."""
    head = model.get_classifier() if hasattr(model, "get_classifier") else None
    if not isinstance(head, nn.Module):
        raise TypeError(f"{type(model).__name__} has no get_classifier(); a timm model is expected")
    return head


def head_parameter_names(model: nn.Module) -> set[str]:
    head = head_module(model)
    for prefix, module in model.named_modules():
        if module is head:
            return {f"{prefix}.{n}" if prefix else n for n, _ in head.named_parameters()}
    return set()


def backbone_parameter_names(model: nn.Module) -> list[str]:
    """Parameter names outside the head, in definition order."""
    head = head_parameter_names(model)
    return [n for n, _ in model.named_parameters() if n not in head]


def frozen_parameter_names(model: nn.Module, pct_to_freeze: float, linear_probe: bool = False) -> set[str]:
    """The parameters to freeze: the first ``pct_to_freeze`` of the backbone tensors, or all of
    them during the linear-probing phase."""
    backbone = backbone_parameter_names(model)
    if linear_probe:
        return set(backbone)
    return set(backbone[: int(math.floor(pct_to_freeze * len(backbone) + 1e-9))])


def linear_probing_epochs(max_epochs: int) -> int:
    """Epochs trained head-only when ``linear_probing`` is on (a fixed share of the budget)."""
    return max(1, round(LINEAR_PROBING_FRACTION * max_epochs))


def apply_freezing(model: nn.Module, frozen: set[str]) -> None:
    for name, param in model.named_parameters():
        param.requires_grad_(name not in frozen)


def set_train_mode(model: nn.Module) -> None:
    """``model.train()``, except normalisation layers whose parameters are all frozen stay in eval
    mode, so their running statistics do not move either."""
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._NormBase) and module.track_running_stats:
            params = list(module.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                module.eval()


def trainable_parameters(model: nn.Module) -> list[torch.Tensor]:
    return [p for p in model.parameters() if p.requires_grad]
