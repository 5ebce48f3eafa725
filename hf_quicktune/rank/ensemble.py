"""Ensemble of zero-training scores: the mean of per-score normalised ranks.

Why ranks: the scores live on incomparable scales (LFC and LGC are correlations in [-1, 1],
LogME an evidence per sample, kNN an accuracy, LEEP/NCE log-likelihoods), and their spread
differs from zoo to zoo, so averaging raw or z-scored values lets one score dominate. Ranks
are scale-free and robust to a single outlying candidate; the optimizer later learns how much
to trust the ensemble. For each score, candidates are ranked among those that have it (ties get
the average rank), and the rank is mapped to [0, 1] with 1 = best; the ensemble is the mean of
these. It is therefore *higher is better*, like every individual score. Only scores defined for
*every* candidate enter the ensemble (LEEP/NCE are undefined for random-init baselines, and
ranking a score among the few candidates that have it would hand them a free top rank); when no
score is common to all, each candidate averages the scores it has. With a single candidate every
normalised rank is 1.
"""

from __future__ import annotations

import math

import numpy as np


def normalised_ranks(values: dict[str, float]) -> dict[str, float]:
    """Per-candidate rank in [0, 1] (1 = highest value); NaN values are left out. Ranked by pandas (imported
    with datasets already) rather than ``scipy.stats.rankdata``, whose import alone takes seconds of a run's budget."""
    import pandas as pd

    finite = {k: v for k, v in values.items() if v is not None and not math.isnan(v)}
    if not finite:
        return {}
    names = list(finite)
    ranks = pd.Series([finite[k] for k in names], dtype=float).rank(method="average").to_numpy()  # 1 = lowest
    m = len(names)
    if m == 1:
        return {names[0]: 1.0}
    return {k: float((r - 1) / (m - 1)) for k, r in zip(names, ranks)}


def mean_rank_ensemble(table: dict[str, dict[str, float]], scores: list[str]) -> dict[str, float]:
    """Ensemble value per candidate: mean over ``scores`` of its normalised rank (NaN if none)."""
    per_score = [normalised_ranks({c: row.get(s, math.nan) for c, row in table.items()}) for s in scores]
    complete = [r for r in per_score if len(r) == len(table)]
    if complete:
        per_score = complete
    out = {}
    for cand in table:
        vals = [r[cand] for r in per_score if cand in r]
        out[cand] = float(np.mean(vals)) if vals else math.nan
    return out
