"""Asynchronous successive halving (ASHA; Li et al., MLSys 2020, Algorithm 2).

Rungs at ``min_epochs * eta^k`` epochs (and ``max_epochs``). A job is either the promotion of a
trial that is in the top ``1/eta`` of its rung and not yet promoted (highest rung first), or a new
configuration trained to the lowest rung. Promoted trials continue from their last epoch. With
several workers each free worker gets the next job (the algorithm is asynchronous by design); a rung
counts a trial once its job finished.
"""

from __future__ import annotations

import math
from typing import Any

from hf_quicktune.search.base import Suggestion
from hf_quicktune.search.baselines.common import PoolBaseline, rung_levels


class ASHA(PoolBaseline):
    """Asynchronous successive halving with reduction factor ``eta``."""

    def __init__(
        self, pool: list[dict[str, Any]], max_epochs: int, seed: int = 0, eta: float = 3.0, min_epochs: int = 1
    ):
        super().__init__(pool, max_epochs, seed)
        self.eta = float(eta)
        self.levels = rung_levels(self.max_epochs, min_epochs, self.eta)
        self.rungs: list[list[int]] = [[] for _ in self.levels]  # trials that completed rung k
        self.promoted: list[list[int]] = [[] for _ in self.levels]  # trials promoted out of rung k

    def _close_jobs(self) -> None:
        """Finished jobs land in their rung (failed trials too, with score -inf: never promoted)."""
        for tid, target in self._pop_done():
            k = self.levels.index(target)
            if tid not in self.rungs[k]:
                self.rungs[k].append(tid)

    def _promotable(self) -> tuple[int, int] | None:
        for k in range(len(self.levels) - 2, -1, -1):
            members = self.rungs[k]
            n_top = math.floor(len(members) / self.eta)
            if n_top < 1:
                continue
            ranked = sorted(members, key=lambda t: self._score_at(t, self.levels[k]), reverse=True)[:n_top]
            for tid in ranked:
                if tid not in self.promoted[k] and self._alive(tid):
                    return tid, k
        return None

    def _ask(self) -> Suggestion | None:
        step = self._step_jobs()
        if step is not None:
            return step
        self._close_jobs()
        promo = self._promotable()
        if promo is not None:
            tid, k = promo
            self.promoted[k].append(tid)
            self.jobs.append((tid, self.levels[k + 1]))
        else:
            new = self._new_trial()
            if new is None:
                return None
            self.jobs.append((new, self.levels[0]))
        step = self._step_jobs()
        if step is None:  # the job is already satisfied (e.g. a resumed trial); move on
            return self._ask()
        return step

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(eta=self.eta, levels=self.levels, rungs=self.rungs, promoted=self.promoted)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.eta = float(state["eta"])
        self.levels = [int(x) for x in state["levels"]]
        self.rungs = [[int(t) for t in r] for r in state["rungs"]]
        self.promoted = [[int(t) for t in r] for r in state["promoted"]]
