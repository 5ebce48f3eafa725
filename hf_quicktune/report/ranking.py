"""Bar charts of zero-training scores (``hf-quicktune rank --plot``).

One panel per score (and the ensemble), candidates in the same order in every panel (best
first by the sort score) so a reader sees at a glance where the scores agree. Input is plain
data (the ``table`` of a :class:`hf_quicktune.rank.RankResult` or its JSON), Agg backend.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from hf_quicktune.report import pyplot, save_figure

logger = logging.getLogger(__name__)

#: axis labels for the known scores
SCORE_LABELS = {
    "lfc": "LFC (correlation)",
    "lgc": "LGC (correlation)",
    "logme": "LogME (evidence / sample)",
    "knn": "kNN leave-one-out accuracy",
    "leep": "LEEP (log-likelihood)",
    "nce": "NCE (-H(Y|Z))",
    "ensemble": "ensemble (mean normalised rank)",
}


def plot_ranking(
    table: Mapping[str, Mapping[str, float | None]],
    scores: Sequence[str],
    path: str | Path,
    *,
    order: Sequence[str] | None = None,
    sort_by: str = "ensemble",
    title: str = "Zero-training ranking",
) -> Path:
    """Write a PNG with one horizontal bar panel per score; ``order`` = candidates best first."""
    plt = pyplot()
    columns = list(scores) + (["ensemble"] if "ensemble" not in scores and _has(table, "ensemble") else [])
    names = list(order) if order is not None else list(table)
    fig_h = 1.2 + 0.32 * len(names)
    fig, axes = plt.subplots(
        1, len(columns), figsize=(3.2 * len(columns) + 1.5, fig_h), dpi=110, sharey=True, squeeze=False
    )
    ys = list(range(len(names)))[::-1]  # best on top
    for ax, col in zip(axes[0], columns):
        vals = [_value(table[n].get(col)) for n in names]
        finite = [v for v in vals if not math.isnan(v)]
        best = max(finite) if finite else math.nan
        colours = ["tab:orange" if v == best else ("0.85" if math.isnan(v) else "tab:blue") for v in vals]
        ax.barh(ys, [0.0 if math.isnan(v) else v for v in vals], color=colours)
        for y, v in zip(ys, vals):
            ax.text(0, y, " n/a" if math.isnan(v) else f" {v:.3g}", va="center", ha="left", fontsize=7)
        ax.set_title(SCORE_LABELS.get(col, col) + (" *" if col == sort_by else ""), fontsize=8)
        ax.axvline(0, color="0.3", linewidth=0.6)
        ax.tick_params(axis="x", labelsize=7)
    axes[0][0].set_yticks(ys)
    axes[0][0].set_yticklabels(names, fontsize=8)
    fig.suptitle(f"{title} (* = sort order, higher is better)", fontsize=9)
    return save_figure(fig, path)


def _value(v) -> float:
    return math.nan if v is None else float(v)


def _has(table: Mapping[str, Mapping[str, float | None]], key: str) -> bool:
    return any(key in row for row in table.values())
