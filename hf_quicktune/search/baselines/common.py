"""Shared pieces of the model-free baselines: a seeded pool order and one-epoch job stepping.

Every baseline suggests **one epoch at a time** (``epoch = trial.epochs + 1``) towards an internal
target (a rung, or ``max_epochs``): paused trials continue from their checkpoint (freeze-thaw),
and the caller's ``tell`` always matches the base contract.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hf_quicktune.search.base import OK, Optimizer, Suggestion


class PoolBaseline(Optimizer):
    """Base for baselines: a seeded permutation of the pool and a current (trial, target) job."""

    def __init__(self, pool: list[dict[str, Any]], max_epochs: int, seed: int = 0):
        super().__init__(pool, max_epochs, seed)
        self.order: list[int] = np.random.default_rng(self.seed).permutation(len(self.pool)).tolist()
        self.next_new = 0  # position in ``order`` of the next never-tried configuration
        self.job: tuple[int, int] | None = None  # (trial_id, target epoch)

    # -- helpers for subclasses ------------------------------------------------------
    def _new_trial(self) -> int | None:
        while self.next_new < len(self.order):
            tid = self.order[self.next_new]
            self.next_new += 1
            if tid not in self.trials:
                return tid
        return None

    def _epochs(self, tid: int) -> int:
        st = self.trials.get(tid)
        return 0 if st is None else st.epochs

    def _alive(self, tid: int) -> bool:
        st = self.trials.get(tid)
        return st is None or st.status == OK

    def _step_job(self) -> Suggestion | None:
        """Next epoch of the current job, or None when the job is finished (or its trial ended)."""
        if self.job is None:
            return None
        tid, target = self.job
        if not self._alive(tid) or self._epochs(tid) >= target:
            return None
        return Suggestion(tid, dict(self.pool[tid]), self._epochs(tid) + 1)

    def _score_at(self, tid: int, epoch: int) -> float:
        """Score of a trial at ``epoch`` (-inf for failed trials or missing epochs)."""
        st = self.trials.get(tid)
        if st is None or st.status != OK or st.epochs < epoch:
            return float("-inf")
        return st.scores[epoch - 1]

    # -- serialisation -----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(order=list(self.order), next_new=self.next_new, job=list(self.job) if self.job else None)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.order = [int(i) for i in state["order"]]
        self.next_new = int(state["next_new"])
        self.job = tuple(state["job"]) if state.get("job") else None


def rung_levels(max_epochs: int, min_epochs: int = 1, eta: float = 3.0) -> list[int]:
    """Resource levels r_min * eta^k below ``max_epochs``, then ``max_epochs`` (ASHA, Li et al. 2020)."""
    if eta <= 1:
        raise ValueError("eta must be > 1")
    levels: list[int] = []
    r = float(min_epochs)
    while round(r) < max_epochs:
        if not levels or round(r) > levels[-1]:
            levels.append(int(round(r)))
        r *= eta
    levels.append(int(max_epochs))
    return levels
