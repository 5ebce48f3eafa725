"""Shared pieces of the model-free baselines: a seeded pool order and one-epoch job stepping.

Every baseline suggests **one epoch at a time** (``epoch = trial.epochs + 1``) towards an internal
target (a rung, or ``max_epochs``): paused trials continue from their checkpoint (freeze-thaw),
and the caller's ``tell`` always matches the base contract. Several jobs may be open at once (one per
busy worker): a job whose trial is in flight waits for its result, the others may be stepped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hf_quicktune.search.base import OK, Optimizer, Suggestion


class PoolBaseline(Optimizer):
    """Base for baselines: a seeded permutation of the pool and the open (trial, target) jobs."""

    def __init__(self, pool: list[dict[str, Any]], max_epochs: int, seed: int = 0):
        super().__init__(pool, max_epochs, seed)
        self.order: list[int] = np.random.default_rng(self.seed).permutation(len(self.pool)).tolist()
        self.next_new = 0  # position in ``order`` of the next never-tried configuration
        self.jobs: list[tuple[int, int]] = []  # open (trial_id, target epoch) jobs, oldest first

    # -- helpers for subclasses ------------------------------------------------------
    def _new_trial(self) -> int | None:
        while self.next_new < len(self.order):
            tid = self.order[self.next_new]
            self.next_new += 1
            if tid not in self.trials and tid not in self.in_flight:
                return tid
        return None

    def _epochs(self, tid: int) -> int:
        st = self.trials.get(tid)
        return 0 if st is None else st.epochs

    def _alive(self, tid: int) -> bool:
        st = self.trials.get(tid)
        return st is None or st.status == OK

    def _job_done(self, tid: int, target: int) -> bool:
        return not self._alive(tid) or self._epochs(tid) >= target

    def _step_jobs(self) -> Suggestion | None:
        """Next epoch of the oldest open job whose trial is not in flight, or None."""
        for tid, target in self.jobs:
            if tid not in self.in_flight and not self._job_done(tid, target):
                return Suggestion(tid, dict(self.pool[tid]), self._epochs(tid) + 1)
        return None

    def _pop_done(self) -> list[tuple[int, int]]:
        """Remove and return the finished jobs (target reached or trial ended), oldest first."""
        done = [j for j in self.jobs if j[0] not in self.in_flight and self._job_done(*j)]
        self.jobs = [j for j in self.jobs if j not in done]
        return done

    def _open_trials(self) -> set[int]:
        return {t for t, _ in self.jobs}

    def _score_at(self, tid: int, epoch: int) -> float:
        """Score of a trial at ``epoch`` (-inf for failed trials or missing epochs)."""
        st = self.trials.get(tid)
        if st is None or st.status != OK or st.epochs < epoch:
            return float("-inf")
        return st.scores[epoch - 1]

    # -- serialisation -----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(order=list(self.order), next_new=self.next_new, jobs=[list(j) for j in self.jobs])
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.order = [int(i) for i in state["order"]]
        self.next_new = int(state["next_new"])
        if "jobs" in state:
            self.jobs = [(int(t), int(e)) for t, e in state["jobs"]]
        else:  # a state saved before several jobs could be open: one "job"
            self.jobs = [(int(state["job"][0]), int(state["job"][1]))] if state.get("job") else []


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
