"""Linearized training-time prediction (Zancato et al., NeurIPS 2020, arXiv 2008.12478).

Public API: :func:`estimate` -> :class:`Estimate` (predicted loss curve, steps/epochs to a target
loss, wall-clock), :func:`predicted_loss_after` (a zero-cost ranking feature). The math lives in
:mod:`.jacobian` (per-sample Jacobians, NTK) and :mod:`.dynamics` (expected SGD loss curve);
:mod:`.measure` trains for real to validate. Importing this package does not import torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Estimate", "estimate", "predicted_loss_after"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from hf_quicktune.estimate import estimator

        return getattr(estimator, name)
    raise AttributeError(name)
