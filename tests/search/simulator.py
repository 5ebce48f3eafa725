"""A tiny synthetic tabular learning-curve benchmark for optimizer tests (milliseconds per run).

Each pool member has a saturating curve acc(e) = a - (a - a0) * exp(-e / tau) (+ optional dips),
where the asymptote ``a`` depends smoothly on the configuration (so a surrogate can learn it) and
a per-epoch cost depends on the model and batch size.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hf_quicktune.search.space import Space

SPACE = {
    "name": "toy",
    "hyperparameters": {
        "model": {"type": "categorical", "choices": ["small", "medium", "large"]},
        "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        "batch_size": {"type": "ordinal", "choices": [16, 32, 64, 128]},
        "opt": {"type": "categorical", "choices": ["sgd", "adam"]},
        "momentum": {"type": "float", "low": 0.0, "high": 0.99, "when": {"opt": ["sgd"]}},
    },
}
MODEL_QUALITY = {"small": 0.0, "medium": 0.05, "large": 0.1}
MODEL_COST = {"small": 1.0, "medium": 2.0, "large": 4.0}
MODEL_FEATURES = {"small": {"params": 1e6}, "medium": {"params": 5e6}, "large": {"params": 2e7}}


def toy_space() -> Space:
    return Space.from_dict(SPACE, source="<toy>")


class CurveSimulator:
    """``n`` configurations of :func:`toy_space` with deterministic curves of ``max_epochs`` epochs."""

    def __init__(self, n: int = 40, max_epochs: int = 10, seed: int = 0, fail: tuple[int, ...] = ()):
        self.space = toy_space()
        self.pool = self.space.sample(n, seed=seed)
        self.max_epochs = max_epochs
        self.fail = set(fail)
        rng = np.random.default_rng(seed + 1000)
        self.curves = np.zeros((n, max_epochs))
        self.costs = np.zeros((n, max_epochs))
        for i, c in enumerate(self.pool):
            opt_lr = -1.5 if c["opt"] == "sgd" else -3.0  # best log10 lr per optimizer
            a = 0.9 - 0.12 * (math.log10(c["lr"]) - opt_lr) ** 2 + MODEL_QUALITY[c["model"]]
            a = float(np.clip(a + rng.normal(0, 0.01), 0.05, 0.99))
            tau = 1.0 + 4.0 * rng.random()
            e = np.arange(1, max_epochs + 1)
            self.curves[i] = np.clip(a - (a - 0.1) * np.exp(-e / tau), 0, 1)
            self.costs[i] = MODEL_COST[c["model"]] * (64 / c["batch_size"]) ** 0.5 * (1 + 0.05 * rng.random(max_epochs))

    def observe(self, trial_id: int, epoch: int) -> tuple[float | None, float, str]:
        """(score, cost, status) of training ``trial_id`` to ``epoch``."""
        if trial_id in self.fail and epoch >= 2:
            return None, float(self.costs[trial_id, epoch - 1]), "diverged"
        return float(self.curves[trial_id, epoch - 1]), float(self.costs[trial_id, epoch - 1]), "ok"

    @property
    def best_score(self) -> float:
        return float(self.curves.max())

    def run(self, opt: Any, steps: int) -> list[tuple[int, int]]:
        """Drive ``opt`` for ``steps`` ask/tell rounds; returns the (trial, epoch) suggestions."""
        seen = []
        for _ in range(steps):
            s = opt.ask()
            if s is None:
                break
            seen.append((s.trial_id, s.epoch))
            score, cost, status = self.observe(s.trial_id, s.epoch)
            opt.tell(s.trial_id, s.epoch, score, cost, status)
        return seen
