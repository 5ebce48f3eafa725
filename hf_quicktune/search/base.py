"""The ask/tell contract every optimizer implements (Quick-Tune, DyHPO, random, ASHA, Hyperband).

An optimizer owns a finite *pool* of configurations (sampled from a space, or given, e.g. the
rows of a tabular benchmark). A trial is a pool member; ``trial_id`` is its index in ``pool``.
The optimizer never trains anything: it is told observations and suggests the next
(trial, epoch) to run. Its whole state serialises so a run resumes exactly.

Trials in flight (several workers): a suggestion is *in flight* from ``ask`` until ``tell`` reaches its
epoch (or ends the trial), or until ``release`` cancels it (budget stop, lost worker). ``ask`` never
suggests a trial in flight, so N workers may each ``ask`` and run concurrently; ``tell`` takes results
in any order across trials (each trial's epochs in order). ``ask`` returning None means nothing can be
suggested *now*: the search is over when it returns None with nothing in flight.
``state_dict`` records ``in_flight`` ({trial_id: epoch}); a resumed run re-submits those trials (or
releases them).

``ask(max_cost=...)`` passes the budget left, in the units of the costs told: an optimizer with a cost model
suggests nothing it predicts to cost more (a step that cannot finish within the budget is wasted); the others
ignore it.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field
from typing import Any

OK, DIVERGED, OOM, FAILED = "ok", "diverged", "oom", "failed"
STATUSES = (OK, DIVERGED, OOM, FAILED)


@dataclass(frozen=True)
class Suggestion:
    """Train pool member ``trial_id`` (configuration ``config``) up to epoch ``epoch`` (1-based)."""

    trial_id: int
    config: dict[str, Any]
    epoch: int


@dataclass
class TrialState:
    """What the optimizer knows of one trial: its curve, per-epoch costs and status."""

    scores: list[float] = field(default_factory=list)  # validation accuracy in [0, 1] per epoch
    costs: list[float] = field(default_factory=list)  # seconds per epoch
    status: str = OK

    @property
    def epochs(self) -> int:
        return len(self.scores)

    def to_dict(self) -> dict[str, Any]:
        return {"scores": self.scores, "costs": self.costs, "status": self.status}


class Optimizer(abc.ABC):
    """Base class: bookkeeping of observations, validation of ``tell`` and serialisation.

    Subclasses implement :meth:`ask` (and may extend :meth:`tell`, ``state_dict``).
    """

    def __init__(self, pool: list[dict[str, Any]], max_epochs: int, seed: int = 0):
        if not pool:
            raise ValueError("the candidate pool is empty")
        if max_epochs < 1:
            raise ValueError("max_epochs must be >= 1")
        self.pool = list(pool)
        self.max_epochs = int(max_epochs)
        self.seed = int(seed)
        self.trials: dict[int, TrialState] = {}
        self.in_flight: dict[int, int] = {}  # trial_id -> epoch asked for, until told or released
        #: trials that reached the end of a shorter schedule before :meth:`set_max_epochs` lengthened it: finished
        #: (their learning rate annealed there), never continued on the longer one
        self.closed: set[int] = set()

    #: the ``max_cost`` of the ask in progress (read by :meth:`_ask` of optimizers with a cost model)
    _max_cost: float | None = None

    # -- API -------------------------------------------------------------------------
    def ask(self, max_cost: float | None = None) -> Suggestion | None:
        """The next (trial, epoch) to run, never a trial in flight; None when nothing can be suggested
        now (the search is over when nothing is in flight either). The suggestion is in flight until told up
        to its epoch or released. ``max_cost``: the budget left (see the module docstring)."""
        if max_cost is not None and math.isnan(max_cost):
            raise ValueError("max_cost must be a number or None")
        self._max_cost = None if max_cost is None else float(max_cost)
        try:
            s = self._ask()
        finally:
            self._max_cost = None
        if s is not None:
            if s.trial_id in self.in_flight:
                raise RuntimeError(f"{type(self).__name__} suggested trial {s.trial_id}, which is in flight")
            self.in_flight[s.trial_id] = int(s.epoch)
        return s

    def continue_trial(self, trial_id: int) -> Suggestion:
        """A suggestion the caller chose: ``trial_id``'s next epoch (in flight like an asked one; Optuna's
        ``enqueue_trial`` for a paused trial). The run loop uses it to finish its incumbent's schedule at
        the end of a wall-clock budget. Refused for a trial in flight, ended or at ``max_epochs``."""
        trial_id = int(trial_id)
        st = self.trials.get(trial_id)
        if trial_id in self.in_flight or st is None or st.epochs == 0 or self.is_done(trial_id):
            raise ValueError(f"trial {trial_id} cannot be continued (in flight, not started, ended or finished)")
        epoch = st.epochs + 1
        self.in_flight[trial_id] = epoch
        return Suggestion(trial_id, dict(self.pool[trial_id]), epoch)

    def set_max_epochs(self, max_epochs: int) -> None:
        """The schedule's length changed (a run re-fitting its one fine-tune, or the trial the end of its budget
        finishes, to the time left, ``hf_quicktune.run.refit``): trials end at the new ``max_epochs``; epochs told
        stay. A trial that had reached the old end (or is in flight to it) stays finished: with several workers the
        others go on asking, and such a trial was continued on a learning rate warmed up again."""
        if max_epochs < 1:
            raise ValueError("max_epochs must be >= 1")
        if max_epochs > self.max_epochs:
            self.closed.update(t for t, st in self.trials.items() if st.status == OK and st.epochs >= self.max_epochs)
            self.closed.update(t for t, e in self.in_flight.items() if e >= self.max_epochs)
        self.max_epochs = int(max_epochs)

    @abc.abstractmethod
    def _ask(self) -> Suggestion | None:
        """Subclasses: the next suggestion, excluding the trials in ``self.in_flight``."""

    def release(self, trial_id: int) -> bool:
        """Cancel an in-flight suggestion without an observation (budget stop, lost worker): the trial
        may be suggested again. Epochs already told stay. Returns False when it was not in flight."""
        return self.in_flight.pop(int(trial_id), None) is not None

    def tell(self, trial_id: int, epoch: int, score: float | None, cost: float, status: str = OK) -> None:
        """Record the result of training ``trial_id`` to ``epoch``.

        ``score`` is validation accuracy in [0, 1]; ``cost`` the seconds that epoch took.
        A non-ok status ends the trial: it is never suggested again.
        """
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        if not 0 <= trial_id < len(self.pool):
            raise ValueError(f"unknown trial_id {trial_id}")
        st = self.trials.setdefault(trial_id, TrialState())
        if st.status != OK:
            raise ValueError(f"trial {trial_id} already ended with status {st.status!r}")
        if status != OK:
            st.status = status
            self.in_flight.pop(trial_id, None)
            return
        if epoch != st.epochs + 1:
            raise ValueError(f"trial {trial_id}: expected epoch {st.epochs + 1}, got {epoch}")
        if score is None or not math.isfinite(score):
            raise ValueError("an ok observation needs a finite score")
        st.scores.append(float(score))
        st.costs.append(float(cost))
        if epoch >= self.in_flight.get(trial_id, epoch + 1):
            del self.in_flight[trial_id]

    def best(self) -> tuple[int, int, float] | None:
        """(trial_id, epoch, score) of the best observation so far, or None."""
        best = None
        for tid, st in self.trials.items():
            for e, s in enumerate(st.scores, start=1):
                if best is None or s > best[2]:
                    best = (tid, e, s)
        return best

    def is_done(self, trial_id: int) -> bool:
        st = self.trials.get(trial_id)
        return st is not None and (st.status != OK or st.epochs >= self.max_epochs or trial_id in self.closed)

    def state_dict(self) -> dict[str, Any]:
        return {
            "class": type(self).__name__,
            "max_epochs": self.max_epochs,
            "seed": self.seed,
            "trials": {str(k): v.to_dict() for k, v in self.trials.items()},
            "in_flight": {str(k): v for k, v in self.in_flight.items()},
            **({"closed": sorted(self.closed)} if self.closed else {}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("class") != type(self).__name__:
            raise ValueError(f"state is for {state.get('class')}, not {type(self).__name__}")
        self.max_epochs = int(state["max_epochs"])
        self.seed = int(state["seed"])
        self.trials = {
            int(k): TrialState(list(v["scores"]), list(v["costs"]), v["status"]) for k, v in state["trials"].items()
        }
        self.in_flight = {int(k): int(v) for k, v in state.get("in_flight", {}).items()}
        self.closed = {int(t) for t in state.get("closed", ())}
