"""Predicted vs measured training-loss curve of ``hf-quicktune estimate`` (Agg backend)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from hf_quicktune.report import pyplot, save_figure

logger = logging.getLogger(__name__)


def plot_estimate(
    path: str | Path,
    predicted_loss: Sequence[float],
    *,
    steps_per_epoch: float,
    predicted_flow: Sequence[float] | None = None,
    measured_steps: Sequence[float] | None = None,
    measured_loss: Sequence[float] | None = None,
    target_loss: float | None = None,
    title: str = "",
) -> Path:
    """Write a PNG: predicted expected loss (and its noise-free part) against epochs, real curve overlaid."""
    import numpy as np

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    steps = np.arange(len(predicted_loss))
    ax.plot(steps / steps_per_epoch, predicted_loss, label="predicted (linearized SGD)", color="C0")
    if predicted_flow is not None:
        ax.plot(steps / steps_per_epoch, predicted_flow, "--", color="C0", alpha=0.5,
                label="predicted, without SGD noise")
    if measured_steps is not None and measured_loss is not None:
        ax.plot(np.asarray(measured_steps) / steps_per_epoch, measured_loss, "o-", ms=3, color="C3",
                label="measured (real training)")
    if target_loss is not None:
        ax.axhline(target_loss, color="grey", lw=0.8, ls=":", label=f"target {target_loss:g}")
    values = np.concatenate([np.asarray(predicted_loss, dtype=float), np.asarray([] if measured_loss is None else measured_loss, dtype=float)])
    values = values[np.isfinite(values) & (values > 0)]
    if len(values) and values.max() / values.min() > 10:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi=120)
