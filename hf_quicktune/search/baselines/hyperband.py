"""Synchronous successive halving and Hyperband (Li et al., JMLR 2018, Algorithm 1) on one worker.

Bracket ``s`` (``s_max = floor(log_eta(max_epochs / min_epochs))``) starts
``n = ceil((s_max + 1) / (s + 1) * eta^s)`` configurations at ``max_epochs * eta^-s`` epochs and keeps
the best ``floor(n_i / eta)`` after each rung. Hyperband cycles ``s = s_max, ..., 0`` and repeats;
:class:`SuccessiveHalving` always runs the most aggressive bracket ``s_max``. Kept trials continue
from their last epoch.
"""

from __future__ import annotations

import math
from typing import Any

from hf_quicktune.search.base import Suggestion
from hf_quicktune.search.baselines.common import PoolBaseline


class Hyperband(PoolBaseline):
    """Hyperband over a finite pool with reduction factor ``eta``."""

    def __init__(
        self, pool: list[dict[str, Any]], max_epochs: int, seed: int = 0, eta: float = 3.0, min_epochs: int = 1
    ):
        super().__init__(pool, max_epochs, seed)
        self.eta = float(eta)
        self.min_epochs = int(min_epochs)
        self.s_max = int(math.floor(math.log(self.max_epochs / self.min_epochs, self.eta) + 1e-9))
        self.bracket_index = -1  # number of brackets started - 1
        self.rung: list[int] = []  # members of the current rung of the current bracket
        self.rung_epochs = 0
        self.rung_i = 0  # rung number within the bracket
        self.queue: list[int] = []  # members of the current rung still to train to rung_epochs

    # bracket schedule ------------------------------------------------------------------
    def _bracket_s(self, index: int) -> int:
        return self.s_max - (index % (self.s_max + 1))

    def _rung_budget(self, s: int, i: int) -> tuple[int, int]:
        """(number of configurations, epochs) of rung ``i`` of bracket ``s``."""
        n = math.ceil((self.s_max + 1) / (s + 1) * self.eta**s)
        n_i = max(1, math.floor(n * self.eta ** (-i)))
        r_i = self.max_epochs * self.eta ** (i - s)
        return n_i, min(self.max_epochs, max(1, int(round(r_i))))

    def _start_bracket(self) -> bool:
        self.bracket_index += 1
        s = self._bracket_s(self.bracket_index)
        n, r = self._rung_budget(s, 0)
        members = []
        while len(members) < n:
            tid = self._new_trial()
            if tid is None:
                break
            members.append(tid)
        if not members:
            return False
        self.rung, self.rung_i, self.rung_epochs = members, 0, r
        self.queue = list(members)
        return True

    def _next_rung(self) -> bool:
        s = self._bracket_s(self.bracket_index)
        if self.rung_i >= s:
            return False
        n_next, r_next = self._rung_budget(s, self.rung_i + 1)
        ranked = sorted(self.rung, key=lambda t: self._score_at(t, self.rung_epochs), reverse=True)
        keep = [t for t in ranked[:n_next] if self._alive(t)]
        if not keep:
            return False
        self.rung, self.rung_i, self.rung_epochs = keep, self.rung_i + 1, r_next
        self.queue = list(keep)
        return True

    def ask(self) -> Suggestion | None:
        for _ in range(len(self.pool) * (self.s_max + 2) + 2):
            step = self._step_job()
            if step is not None:
                return step
            if self.queue:
                tid = self.queue.pop(0)
                self.job = (tid, self.rung_epochs)
                continue
            if self.bracket_index >= 0 and self._next_rung():
                continue
            if not self._start_bracket():
                self.job = None
                return None
        return None  # pragma: no cover - the loop always returns earlier

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(
            eta=self.eta, min_epochs=self.min_epochs, s_max=self.s_max, bracket_index=self.bracket_index,
            rung=self.rung, rung_epochs=self.rung_epochs, rung_i=self.rung_i, queue=self.queue,
        )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.eta = float(state["eta"])
        self.min_epochs = int(state["min_epochs"])
        self.s_max = int(state["s_max"])
        self.bracket_index = int(state["bracket_index"])
        self.rung = [int(t) for t in state["rung"]]
        self.rung_epochs = int(state["rung_epochs"])
        self.rung_i = int(state["rung_i"])
        self.queue = [int(t) for t in state["queue"]]


class SuccessiveHalving(Hyperband):
    """Synchronous successive halving: Hyperband's most aggressive bracket, repeated."""

    def _bracket_s(self, index: int) -> int:
        return self.s_max
