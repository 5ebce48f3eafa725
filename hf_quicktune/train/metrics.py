"""Top-k accuracy, balanced accuracy and macro-F1 of an evaluation pass, from each sample's ranked class indices.

Computed here rather than through an ``evaluate`` module: importing ``evaluate`` and loading a local
metric script cost about 1.6 s on top of torch, datasets and timm (benchmarks/first_evaluation.py), paid
at the first evaluation of every process that trains (a run, each Ray worker), inside its budget, for one
comparison per sample.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - light module: run settings read METRICS before torch is imported
    import torch

#: the validation metrics a fine-tune is selected on (``--metric``, as timm train.py's ``--eval-metric``): name ->
#: what it is. An epoch record keeps each as ``val_<name>``; all are fractions in [0, 1], higher is better.
METRICS: dict[str, str] = {
    "top1": "top-1 accuracy",
    "balanced_accuracy": "balanced accuracy (the mean of the per-class recalls)",
    "macro_f1": "macro F1 (the unweighted mean of the per-class F1 scores)",
}
#: how reports name each metric in a sentence or an axis label
METRIC_LABELS: dict[str, str] = {"top1": "top-1", "balanced_accuracy": "balanced accuracy", "macro_f1": "macro F1"}


def metric_label(metric: str | None) -> str:
    """How tables, plots, the terminal and the card name a ``--metric`` (``top-1``, ``balanced accuracy``, ...)."""
    return METRIC_LABELS.get(metric or "top1", str(metric))


def check_metric(metric: str) -> str:
    """``metric`` if it is one of :data:`METRICS`, else a :class:`~hf_quicktune.errors.ConfigError` naming them."""
    if metric not in METRICS:
        from hf_quicktune.errors import ConfigError

        raise ConfigError(f"unknown metric {metric!r}.", input=metric, code="bad_metric",
                          fix=f"Use one of {', '.join(METRICS)}.")
    return metric


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


def class_balanced_scores(predicted: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict[str, float]:
    """Balanced accuracy and macro-F1 of top-1 ``predicted`` classes against ``labels`` (both (n,) class indices),
    as scikit-learn defines them: ``balanced_accuracy`` is the mean recall over the classes present in ``labels``
    (``balanced_accuracy_score``), ``macro_f1`` the mean F1 over the classes present in labels or predictions, a
    class never predicted scoring 0 (``f1_score(average="macro", zero_division=0)``). NaN with no samples.

    On a skewed validation split they show what top-1 hides: always predicting the majority class scores its share
    in top-1, but ``1 / C`` in balanced accuracy."""
    if predicted.shape != labels.shape or predicted.ndim != 1:
        raise ValueError(f"predicted and labels must both be (n,), got {tuple(predicted.shape)} and "
                         f"{tuple(labels.shape)}")
    if not len(labels):
        return {"balanced_accuracy": float("nan"), "macro_f1": float("nan")}
    import torch

    size = max(int(num_classes), int(labels.max()) + 1, int(predicted.max()) + 1)
    true_count = torch.bincount(labels.long(), minlength=size).double()
    pred_count = torch.bincount(predicted.long(), minlength=size).double()
    hits = torch.bincount(labels[predicted == labels].long(), minlength=size).double()
    present = true_count > 0
    recall = hits[present] / true_count[present]
    either = present | (pred_count > 0)
    f1 = 2 * hits[either] / (true_count[either] + pred_count[either])
    return {"balanced_accuracy": float(recall.mean()), "macro_f1": float(f1.mean())}


def confusion_cells(predicted: torch.Tensor, labels: torch.Tensor, num_classes: int) -> list[list[int]]:
    """The top-1 confusion matrix as its non-zero cells, ``[true, predicted, count]`` triples in row order (rows:
    the classes in ``labels``, columns: ``predicted``; both ``(n,)`` class indices): scikit-learn's
    ``confusion_matrix`` with ``labels=range(C)``, without its ``C x C`` cells (10^8 for 10,000 classes, where
    an evaluation has at most one cell per image)."""
    import torch

    if predicted.shape != labels.shape or predicted.ndim != 1:
        raise ValueError(f"predicted and labels must both be (n,), got {tuple(predicted.shape)} and "
                         f"{tuple(labels.shape)}")
    size = int(num_classes)
    cells, counts = torch.unique(labels.long() * size + predicted.long(), return_counts=True)
    return torch.stack([cells // size, cells % size, counts], dim=1).tolist()
