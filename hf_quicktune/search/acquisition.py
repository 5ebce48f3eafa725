"""Acquisition functions for freeze-thaw BO (Quick-Tune §4.3, DyHPO §4.2).

Every candidate is scored at its *next* budget (a new trial at epoch 1, a paused one at last + 1)
against the incumbent at that budget. ``exploration`` is the one exploration factor: the
improvement margin ``xi`` of EI (used identically in both terms of the closed form, unlike the
qtt reference which dropped it in one place) and ``beta`` of UCB. EI counts improvement only up to the
largest score possible when given a ``ceiling`` (accuracy: 1), see :func:`expected_improvement`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy.special import ndtr

MODES = ("ei", "ei_per_cost", "ucb")
DEFAULT_EXPLORATION = {"ei": 0.0, "ei_per_cost": 0.0, "ucb": 1.0}
_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _gaussian_excess(mean: np.ndarray, std: np.ndarray, level: np.ndarray) -> np.ndarray:
    """E[max(Y - level, 0)] for Y ~ N(mean, std^2): with d = mean - level and z = d / std,
    d * Phi(z) + std * phi(z); max(d, 0) where std = 0."""
    d = mean - level
    safe = np.where(std > 0, std, 1.0)
    z = d / safe
    excess = d * ndtr(z) + safe * np.exp(-0.5 * z * z) / _SQRT_2PI
    return np.where(std > 0, np.maximum(excess, 0.0), np.maximum(d, 0.0))


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: np.ndarray | float, xi: float = 0.0,
                         ceiling: float | None = None) -> np.ndarray:
    """Closed-form EI for maximisation: with d = mu - best - xi and z = d / sigma,
    EI = d * Phi(z) + sigma * phi(z); for sigma = 0 it is max(d, 0).

    ``ceiling``: the largest score possible (accuracy: 1). The improvement is then that of min(Y, ceiling),
    max(min(Y, c) - b, 0) = max(Y - b, 0) - max(Y - c, 0) for b <= c, so EI = EI(b) - EI(c) and never
    exceeds c - b. The GP's Gaussian puts mass above 1 (a learned prior mean extrapolated to an untried
    configuration predicted 1.33 accuracy on the extended set's PLT_VIL): without the ceiling that
    impossible mass is counted as improvement."""
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    level = np.asarray(best, dtype=np.float64) + xi
    ei = _gaussian_excess(mean, std, level)
    if ceiling is None:
        return ei
    above = _gaussian_excess(mean, std, np.full_like(mean, float(ceiling)))
    return np.where(level < ceiling, np.maximum(ei - above, 0.0), 0.0)


def upper_confidence_bound(mean: np.ndarray, std: np.ndarray, beta: float = 1.0) -> np.ndarray:
    """mu + beta * sigma."""
    return np.asarray(mean, dtype=np.float64) + beta * np.asarray(std, dtype=np.float64)


def incumbents_by_budget(curves: Mapping[int, list[float]]) -> dict[int, float]:
    """{epoch: best score observed at that epoch over all trials}."""
    best: dict[int, float] = {}
    for scores in curves.values():
        for e, s in enumerate(scores, start=1):
            if e not in best or s > best[e]:
                best[e] = float(s)
    return best


def incumbent_at(best_by_budget: Mapping[int, float], budget: int) -> float:
    """The best score at ``budget``; if nothing was observed there, the best at any lower budget;
    -inf when nothing was observed at or below it."""
    if budget in best_by_budget:
        return best_by_budget[budget]
    lower = [v for b, v in best_by_budget.items() if b < budget]
    return max(lower) if lower else -math.inf


def acquisition_scores(
    mode: str,
    mean: np.ndarray,
    std: np.ndarray,
    best: np.ndarray,
    cost: np.ndarray | None = None,
    exploration: float | None = None,
    cost_exponent: float = 1.0,
    ceiling: float | None = None,
) -> np.ndarray:
    """Scores to maximise. ``best``: incumbent per candidate at its next budget; ``cost``: predicted
    seconds of that next epoch (required for ``ei_per_cost``, already clamped positive by the cost model).
    ``cost_exponent``: ``ei_per_cost`` is EI / cost ** cost_exponent (1: the paper's EI per cost; CArBO's
    cost cooling lowers it as the budget is spent, see :func:`cooled_cost_exponent`). ``ceiling``: the
    largest score possible, for EI (see :func:`expected_improvement`; UCB ignores it).
    """
    if mode not in MODES:
        raise ValueError(f"acquisition must be one of {MODES}, got {mode!r}")
    xi = DEFAULT_EXPLORATION[mode] if exploration is None else float(exploration)
    if mode == "ucb":
        return upper_confidence_bound(mean, std, xi)
    best = np.asarray(best, dtype=np.float64)
    # Nothing observed at or below a budget: any positive improvement counts (incumbent = 0 accuracy).
    best = np.where(np.isfinite(best), best, 0.0)
    ei = expected_improvement(mean, std, best, xi, ceiling=ceiling)
    if mode == "ei":
        return ei
    if cost is None:
        raise ValueError("ei_per_cost needs predicted costs")
    cost = np.asarray(cost, dtype=np.float64)
    if np.any(~(cost > 0)):
        raise ValueError("predicted costs must be positive (the cost model clamps them)")
    if not 0.0 <= cost_exponent <= 1.0:
        raise ValueError(f"cost_exponent must be in [0, 1], got {cost_exponent}")
    return ei / cost ** cost_exponent


def cooled_cost_exponent(budget_left: float | None, budget_total: float | None) -> float:
    """CArBO's cost cooling (Lee et al., "Cost-aware Bayesian optimization", 2020, §3): the exponent of
    the cost in EI / cost ** alpha is the fraction of the budget left, from 1 (EI per cost) at the start to
    0 (plain EI) at the end. Dividing by the cost throughout favours cheap configurations and one-epoch
    continuations of a leader (Quick-Tune extended meta-dataset, PLT_NET: 93 % of the budget on one trial,
    regret 0.39 at the end). 1 when the budget is unknown."""
    if budget_left is None or budget_total is None or not budget_total > 0:
        return 1.0
    return float(min(1.0, max(0.0, budget_left / budget_total)))


def argmax(scores: np.ndarray) -> int:
    """Index of the best score (first on ties, NaN counts as -inf)."""
    s = np.where(np.isnan(scores), -np.inf, scores)
    return int(np.argmax(s))
