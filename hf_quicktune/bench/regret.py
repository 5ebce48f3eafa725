"""Normalised regret (Quick-Tune §5 / Arango et al. 2024) and its aggregation across datasets and seeds.

regret = (y_best − y_incumbent) / (y_best − y_worst) per dataset, with all three defined over the
same values — every epoch of every recorded run of that dataset:

* ``y_incumbent``: the best score observed at any epoch so far (what a search that keeps its best
  checkpoint can hand over; the replay's ``Trace.incumbent``);
* ``y_best``: the maximum over all curve values (the best any search over this pool could find);
* ``y_worst``: the minimum over all curve values.

So regret lies in [0, 1]: 0 when the best checkpoint in the pool was found. (Until 2026-11-30
``y_best`` was the best *final* accuracy while the incumbent counted any epoch, so regret went
negative where runs peak mid-curve.) Before the first observation the regret is 1. A dataset whose
values are all equal (``y_best == y_worst``, e.g. every run at 0 %) has no defined regret: the bench
skips it with a note (:func:`is_degenerate`) instead of dividing by a stand-in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from hf_quicktune.bench.replay import Trace

CHECKPOINTS = (0.1, 0.25, 0.5, 1.0)


def reference_values(curves: np.ndarray) -> tuple[float, float]:
    """(y_best, y_worst): max and min over every epoch of every run (rows; NaN after a run ended);
    (NaN, NaN) when there is no value at all."""
    curves = np.asarray(curves, dtype=float)
    if not np.isfinite(curves).any():
        return float("nan"), float("nan")
    return float(np.nanmax(curves)), float(np.nanmin(curves))


def is_degenerate(best: float, worst: float) -> bool:
    """True when the regret of a dataset is undefined (no values, or all values equal)."""
    return not (np.isfinite(best) and np.isfinite(worst) and best > worst)


def normalised_regret(incumbent: np.ndarray, best: float, worst: float) -> np.ndarray:
    """Regret of each incumbent (1 where nothing was observed yet); NaN for a degenerate dataset."""
    inc = np.asarray(incumbent, dtype=float)
    if is_degenerate(best, worst):
        return np.full(inc.shape, np.nan)
    return np.where(np.isfinite(inc), (best - inc) / (best - worst), 1.0)


def regret_on_grid(trace: Trace, grid: np.ndarray, axis: str, best: float, worst: float) -> np.ndarray:
    """Regret of the incumbent at each ``grid`` value of ``axis`` ("time" or "epochs") — a step function.

    Past the end of the trace (budget spent or optimizer exhausted) the last incumbent is held;
    past the end of a truncated trace (``stop == "wall cap"``) the regret is NaN (unknown).
    """
    xs = np.asarray(trace.time if axis == "time" else trace.epochs, dtype=float)
    inc = np.asarray(trace.incumbent, dtype=float)
    if xs.size == 0:
        return np.ones_like(grid, dtype=float)
    pos = np.searchsorted(xs, grid, side="right") - 1
    vals = np.where(pos >= 0, inc[np.clip(pos, 0, None)], -np.inf)
    out = normalised_regret(vals, best, worst)
    if trace.stop == "wall cap":
        out = np.where(grid > xs[-1], np.nan, out)
    return out


def mean_ci(values: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and normal-approximation 95 % interval (1.96 standard errors) along ``axis``; NaN = missing."""
    values = np.asarray(values, dtype=float)
    n = np.sum(np.isfinite(values), axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nanmean(values, axis=axis) if values.size else np.full(values.shape[1 - axis], np.nan)
        sd = np.nanstd(values, axis=axis, ddof=1) if values.shape[axis] > 1 else np.zeros_like(mean)
        sem = np.where(n > 1, sd / np.sqrt(np.maximum(n, 1)), 0.0)
    return mean, mean - 1.96 * sem, mean + 1.96 * sem


def seed_means(runs: np.ndarray) -> np.ndarray:
    """Mean over the seeds of one dataset (rows = seeds, NaN = missing) -> one row.

    Intervals are taken over datasets of such rows, not over datasets x seeds: the seeds of one
    dataset share its pool, curves and budget, and a deterministic method replays the same trace
    for every seed, so counting them as independent samples would narrow its interval by sqrt(seeds).
    """
    runs = np.atleast_2d(np.asarray(runs, dtype=float))
    finite = np.isfinite(runs)
    count = finite.sum(axis=0)
    total = np.where(finite, runs, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def aggregate(curves_by_method: dict[str, np.ndarray], grid: np.ndarray, x_name: str) -> pd.DataFrame:
    """Long table (method, x, mean, lo, hi, n) from per-method arrays (runs × grid)."""
    rows = []
    for method, arr in curves_by_method.items():
        mean, lo, hi = mean_ci(arr, axis=0)
        n = np.sum(np.isfinite(arr), axis=0)
        for j, x in enumerate(grid):
            rows.append({"method": method, x_name: float(x), "mean": mean[j], "lo": lo[j], "hi": hi[j], "n": int(n[j])})
    return pd.DataFrame(rows)


def paired_differences(per_run: pd.DataFrame, reference: str, methods: Sequence[str],
                       checkpoints: Iterable[float] = CHECKPOINTS) -> pd.DataFrame:
    """Regret of ``reference`` minus each other method's, per checkpoint: mean and 95 % interval half-width
    over the datasets both finished (each dataset's mean over seeds), and how many datasets it won / lost.

    Paired by dataset, so the spread between datasets (most of the width of each method's own interval)
    cancels: the interval says whether ``reference`` is below a method, which two overlapping per-method
    intervals cannot. Negative = ``reference`` has the lower regret.
    """
    rows = []
    for cp in checkpoints:
        col = f"regret@{cp:g}"
        wide = per_run.groupby(["dataset", "method"])[col].mean().unstack("method")
        for method in methods:
            if method == reference or method not in wide.columns or reference not in wide.columns:
                continue
            diff = (wide[reference] - wide[method]).dropna().to_numpy()
            half = 1.96 * diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else np.nan
            rows.append({"method": method, "checkpoint": cp, "diff": diff.mean() if len(diff) else np.nan,
                         "ci95": half, "won": int((diff < 0).sum()), "lost": int((diff > 0).sum()),
                         "n": len(diff)})
    return pd.DataFrame(rows)


def paired_text(per_run: pd.DataFrame, methods: Sequence[str], checkpoints: Sequence[float] = CHECKPOINTS) -> str:
    """:func:`paired_differences` of ``methods[0]`` against the others as a printable table ("" for one method)."""
    if len(methods) < 2:
        return ""
    diffs = paired_differences(per_run, methods[0], methods, checkpoints)
    if diffs.empty:
        return ""
    cells = diffs.apply(lambda r: f"{r['diff']:+.3f} [{r['diff'] - r['ci95']:+.3f}, {r['diff'] + r['ci95']:+.3f}] "
                        f"{r['won']}/{r['lost']}", axis=1)
    labels = [f"{c:.0%}" for c in checkpoints]
    table = diffs.assign(cell=cells, cp=diffs["checkpoint"].map(lambda c: f"{c:.0%}"))
    return (f"\n{methods[0]} minus each method, paired by dataset (each dataset's mean over seeds): mean "
            "[95 % interval] datasets won/lost; below 0 = lower regret than that method\n"
            + table.pivot(index="method", columns="cp", values="cell")[labels].to_string())


def rank_table(per_run: pd.DataFrame, methods: Sequence[str], checkpoints: Iterable[float] = CHECKPOINTS) -> pd.DataFrame:
    """Mean rank (1 = lowest regret, ties averaged) of each method per checkpoint.

    ``per_run``: columns method, dataset, seed, and one ``regret@<fraction>`` column per checkpoint.
    """
    out = {}
    for cp in checkpoints:
        col = f"regret@{cp:g}"
        wide = per_run.pivot_table(index=["dataset", "seed"], columns="method", values=col)
        wide = wide[[m for m in methods if m in wide.columns]].dropna()
        ranks = wide.rank(axis=1, method="average")
        out[f"rank@{cp:g}"] = ranks.mean(axis=0)
    table = pd.DataFrame(out)
    table.index.name = "method"
    return table.sort_values(table.columns[-1]) if len(table.columns) else table
