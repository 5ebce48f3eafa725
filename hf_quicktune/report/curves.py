"""Learning-curve plots and leaderboard tables of a run (used by ``run`` and ``publish``).

Inputs are plain data (the records the run keeps on disk), so the plots can be rebuilt from a
run directory at any time. Matplotlib uses the Agg backend (no display needed).
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hf_quicktune.report import pyplot, save_figure
from hf_quicktune.train.metrics import metric_label

logger = logging.getLogger(__name__)

#: Hyperparameters shown in leaderboards, in this order, when a trial's config has them.
KEY_HPARAMS = ("lr", "batch_size", "opt", "weight_decay", "sched", "pct_to_freeze", "linear_probing",
               "data_augmentation", "mixup", "smoothing", "drop")

LEADERBOARD_COLUMNS = ("rank", "trial_id", "model", "status", "epochs", "best_val_top1", "best_epoch",
                       "last_val_top1", "test_top1", "seconds", "metric", "best_val_score",
                       "best_val_balanced_accuracy", "best_val_macro_f1")


def row_score(row: Mapping[str, Any], which: str = "best") -> float | None:
    """A leaderboard row's ``best`` / ``last`` validation or ``test`` value of the run's metric (rows written before
    the metric was recorded, or built with top-1 only, give their top-1)."""
    prefix = {"best": "best_val", "last": "last_val", "test": "test"}[which]
    value = row.get(f"{prefix}_score")
    return row.get(f"{prefix}_top1") if value is None and "metric" not in row else value


def plot_learning_curves(
    curves: Mapping[int, Sequence[float]],
    path: str | Path,
    *,
    incumbent: int | None = None,
    labels: Mapping[int, str] | None = None,
    title: str | None = None,
    metric: str = "top1",
) -> Path:
    """Plot every trial's validation curve (epochs on x), the incumbent drawn bold and labelled.

    ``curves`` maps trial id -> the validation ``metric`` (fraction) per completed epoch.
    """
    plt = pyplot()
    labels = dict(labels or {})
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for tid, scores in sorted(curves.items()):
        if not scores or tid == incumbent:
            continue
        xs = range(1, len(scores) + 1)
        ax.plot(xs, [100 * s for s in scores], color="0.6", alpha=0.7, linewidth=1, marker=".", markersize=3)
    if incumbent is not None and curves.get(incumbent):
        scores = curves[incumbent]
        name = labels.get(incumbent, f"trial {incumbent}")
        ax.plot(range(1, len(scores) + 1), [100 * s for s in scores], color="tab:red", linewidth=2.4,
                marker="o", markersize=4, label=f"incumbent: {name}")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"validation {metric_label(metric)} (%)")
    ax.set_title(title or ("Validation accuracy per epoch" if metric == "top1"
                           else f"Validation {metric_label(metric)} per epoch"))
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def incumbent_trace(steps: Iterable[Mapping[str, Any]]) -> list[tuple[float, float]]:
    """(elapsed seconds, best validation accuracy so far) after each ok step, in step order."""
    best = None
    trace = []
    for step in steps:
        if step.get("status", "ok") != "ok" or step.get("score") is None:
            continue
        score = float(step["score"])
        if best is None or score > best:
            best = score
        trace.append((float(step.get("elapsed_s", 0.0)), best))
    return trace


def plot_incumbent_over_time(steps: Iterable[Mapping[str, Any]], path: str | Path, *,
                             budget_s: float | None = None, metric: str = "top1") -> Path:
    """Step plot of the incumbent's validation score (the steps' ``score``: the run's ``metric``) against
    wall-clock time used."""
    plt = pyplot()
    trace = incumbent_trace(steps)
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    if trace:
        xs, ys = zip(*trace)
        ax.step(xs, [100 * y for y in ys], where="post", color="tab:blue", linewidth=2)
        ax.plot(xs, [100 * y for y in ys], "o", color="tab:blue", markersize=3)
    if budget_s:
        ax.axvline(budget_s, color="0.4", linestyle="--", linewidth=1, label="budget")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlim(left=0, right=max([budget_s or 0.0] + [x for x, _ in trace]) * 1.03 or None)
    ax.set_xlabel("wall-clock seconds used (ranking + search + training)")
    ax.set_ylabel(f"best validation {metric_label(metric)} (%)")
    ax.set_title("Incumbent accuracy over time" if metric == "top1" else f"Incumbent {metric_label(metric)} over time")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def sort_leaderboard(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows sorted best first by their best validation score (:func:`row_score`: the run's metric at the trial's
    best epoch, whose weights are kept and exported), then by the last epoch's; trials without a score last. Adds
    a 1-based ``rank``."""

    def key(row):
        last = row_score(row, "last")
        best = row_score(row)
        return (best is None, -(best or 0.0), -(last or 0.0), row.get("trial_id", 0))

    out = []
    for i, row in enumerate(sorted(rows, key=key), start=1):
        out.append({"rank": i, **{k: v for k, v in row.items() if k != "rank"}})
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return "/".join(_fmt(v) for v in value)
    return str(value)


def write_leaderboard(rows: Sequence[Mapping[str, Any]], directory: str | Path, stem: str = "leaderboard") -> tuple[Path, Path]:
    """Write ``<stem>.csv`` and ``<stem>.json`` (rows as given; hyperparameters flattened in CSV)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"{stem}.json"
    json_path.write_text(json.dumps(list(rows), indent=2, default=str))
    hp_keys = [k for k in KEY_HPARAMS if any(k in (r.get("config") or {}) for r in rows)]
    csv_path = directory / f"{stem}.csv"
    with csv_path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*LEADERBOARD_COLUMNS, *hp_keys])
        for r in rows:
            cfg = r.get("config") or {}
            writer.writerow([_fmt(r.get(c)) for c in LEADERBOARD_COLUMNS] + [_fmt(cfg.get(k)) for k in hp_keys])
    return csv_path, json_path


def leaderboard_markdown(rows: Sequence[Mapping[str, Any]], limit: int = 10) -> str:
    """A Markdown table of the first ``limit`` rows (for the model card)."""
    hp = ("lr", "batch_size", "opt", "sched", "pct_to_freeze", "linear_probing")
    label = metric_label(next((r.get("metric") for r in rows if r.get("metric")), None))
    head = ["#", "trial", "model", "epochs", f"val {label} (%)", "best val (%)", *hp]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in list(rows)[:limit]:
        cfg = r.get("config") or {}

        def pct(v):
            return "" if v is None else f"{100 * v:.2f}"

        cells = [str(r.get("rank", "")), str(r.get("trial_id", "")), f"`{r.get('model', '')}`",
                 str(r.get("epochs", "")), pct(row_score(r, "last")), pct(row_score(r)),
                 *(_fmt(cfg.get(k)) for k in hp)]
        if r.get("status", "ok") != "ok":
            cells[3] += f" ({r['status']})"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def leaderboard_rich_rows(rows: Sequence[Mapping[str, Any]], limit: int | None = None) -> list[list[str]]:
    """Cells for a terminal table: rank, trial, model, status, epochs, val, best val, test, lr, bs, opt."""
    out = []
    for r in list(rows)[:limit]:
        cfg = r.get("config") or {}

        def pct(v):
            return "-" if v is None else f"{100 * v:.2f}"

        out.append([str(r.get("rank", "")), str(r.get("trial_id", "")), str(r.get("model", "")),
                    str(r.get("status", "")), str(r.get("epochs", "")), pct(row_score(r, "last")),
                    pct(row_score(r)), pct(row_score(r, "test")), _fmt(cfg.get("lr")),
                    _fmt(cfg.get("batch_size")), _fmt(cfg.get("opt"))])
    return out


LEADERBOARD_RICH_HEADER = ["#", "trial", "model", "status", "epochs", "val %", "best val %", "test %",
                           "lr", "bs", "opt"]


def leaderboard_rich_header(metric: str | None = "top1") -> list[str]:
    """:data:`LEADERBOARD_RICH_HEADER` with the score columns named after a metric other than top-1."""
    if (metric or "top1") == "top1":
        return list(LEADERBOARD_RICH_HEADER)
    label = metric_label(metric)
    return [f"val {label} %" if h == "val %" else f"best {label} %" if h == "best val %"
            else f"test {label} %" if h == "test %" else h for h in LEADERBOARD_RICH_HEADER]
