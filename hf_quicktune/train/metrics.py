"""Top-k accuracy of an evaluation pass, from each sample's ranked class indices.

Computed here rather than through an ``evaluate`` module: importing ``evaluate`` and loading a local
metric script cost about 1.6 s on top of torch, datasets and timm (benchmarks/first_evaluation.py), paid
at the first evaluation of every process that trains (a run, each Ray worker), inside its budget, for one
comparison per sample.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


def topk_accuracy(ranked: torch.Tensor, labels: torch.Tensor, ks: Iterable[int] = (1, 5)) -> dict[str, float]:
    """``{"top{k}": share of samples whose label is among their first k ranked classes}``.

    ``ranked``: (n, r) class indices by decreasing score (the first is the argmax); ``labels``: (n,).
    Each k larger than r is left out (a 3-class problem has no top-5); with no samples the shares are NaN.
    """
    if ranked.ndim != 2 or ranked.shape[0] != labels.shape[0]:
        raise ValueError(f"ranked must be (n, r) with one row per label, got {tuple(ranked.shape)} for "
                         f"{labels.shape[0]} labels")
    hits = ranked == labels.reshape(-1, 1)
    return {f"top{k}": float(hits[:, :k].any(dim=1).float().mean()) if len(labels) else float("nan")
            for k in ks if k <= ranked.shape[1]}
