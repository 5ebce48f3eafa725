"""Synchronous successive halving and Hyperband (Li et al., JMLR 2018, Algorithm 1).

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
    """Hyperband over a finite pool with reduction factor ``eta``.

    With several workers the members of a rung are trained concurrently; when every remaining job of
    the open brackets is in flight (a rung waits for its last members), the next bracket starts on a
    free worker (brackets are independent; Li et al. 2018, §3, run them in parallel).
    """

    def __init__(
        self, pool: list[dict[str, Any]], max_epochs: int, seed: int = 0, eta: float = 3.0, min_epochs: int = 1
    ):
        super().__init__(pool, max_epochs, seed)
        self.eta = float(eta)
        self.min_epochs = int(min_epochs)
        self.s_max = int(math.floor(math.log(self.max_epochs / self.min_epochs, self.eta) + 1e-9))
        self.bracket_index = -1  # number of brackets started - 1
        # open brackets, oldest first: s, rung number, rung members, their epochs, members still to start
        self.brackets: list[dict[str, Any]] = []

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
        s = self._bracket_s(self.bracket_index + 1)
        n, r = self._rung_budget(s, 0)
        members: list[int] = []
        while len(members) < n:
            tid = self._new_trial()
            if tid is None:
                break
            members.append(tid)
        if not members:
            return False
        self.bracket_index += 1
        self.brackets.append({"s": s, "rung_i": 0, "rung_epochs": r, "rung": members, "queue": list(members)})
        return True

    def _next_rung(self, b: dict[str, Any]) -> bool:
        if b["rung_i"] >= b["s"]:
            return False
        n_next, r_next = self._rung_budget(b["s"], b["rung_i"] + 1)
        ranked = sorted(b["rung"], key=lambda t: self._score_at(t, b["rung_epochs"]), reverse=True)
        keep = [t for t in ranked[:n_next] if self._alive(t)]
        if not keep:
            return False
        b.update(rung=keep, rung_i=b["rung_i"] + 1, rung_epochs=r_next, queue=list(keep))
        return True

    def _advance_brackets(self) -> bool:
        """Open a job from the oldest bracket that can make progress; False when none can."""
        busy = self._open_trials()
        for b in self.brackets:
            if b["queue"]:
                self.jobs.append((b["queue"].pop(0), b["rung_epochs"]))
                return True
            if not busy & set(b["rung"]):  # the rung is complete
                if not self._next_rung(b):
                    self.brackets.remove(b)
                return True
        return False

    def _ask(self) -> Suggestion | None:
        for _ in range(len(self.pool) * (self.s_max + 2) + 2):
            step = self._step_jobs()
            if step is not None:
                return step
            self._pop_done()
            if self._advance_brackets():
                continue
            if not self._start_bracket():
                return None
        return None  # pragma: no cover - the loop always returns earlier

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(
            eta=self.eta, min_epochs=self.min_epochs, s_max=self.s_max, bracket_index=self.bracket_index,
            brackets=[dict(b) for b in self.brackets],
        )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.eta = float(state["eta"])
        self.min_epochs = int(state["min_epochs"])
        self.s_max = int(state["s_max"])
        self.bracket_index = int(state["bracket_index"])
        if "brackets" in state:
            brackets = state["brackets"]
        elif self.bracket_index >= 0:  # a state saved with one bracket at a time
            brackets = [{"s": self._bracket_s(self.bracket_index), "rung_i": state["rung_i"],
                         "rung_epochs": state["rung_epochs"], "rung": state["rung"], "queue": state["queue"]}]
        else:
            brackets = []
        self.brackets = [
            {"s": int(b["s"]), "rung_i": int(b["rung_i"]), "rung_epochs": int(b["rung_epochs"]),
             "rung": [int(t) for t in b["rung"]], "queue": [int(t) for t in b["queue"]]}
            for b in brackets
        ]


class SuccessiveHalving(Hyperband):
    """Synchronous successive halving: Hyperband's most aggressive bracket, repeated."""

    def _bracket_s(self, index: int) -> int:
        return self.s_max
