"""Benchmark plots: mean normalised regret with 95 % band over wall-clock and over epochs (Agg backend)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hf_quicktune.report import pyplot, save_figure


def plot_regret(
    by_time: pd.DataFrame, by_epochs: pd.DataFrame, path: str | Path, title: str = "", log_y: bool = True
) -> Path:
    """Two panels from :func:`hf_quicktune.bench.regret.aggregate` tables (x: ``fraction``, ``epochs``)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, table, x, xlabel in (
        (axes[0], by_time, "fraction", "simulated wall-clock (fraction of the budget)"),
        (axes[1], by_epochs, "epochs", "epochs spent"),
    ):
        for method, grp in table.groupby("method", sort=False):
            line = ax.plot(grp[x], grp["mean"], label=method, lw=1.6)[0]
            ax.fill_between(grp[x], grp["lo"], grp["hi"], color=line.get_color(), alpha=0.15, lw=0)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("normalised regret (mean, 95 % CI)")
        if log_y:
            ax.set_yscale("symlog", linthresh=1e-3)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path, dpi=120)
