"""An optimizer over a subset of a pool, exposed with the full pool's trial ids (for "rank then tune")."""

from __future__ import annotations

from typing import Any

from hf_quicktune.search.base import OK, Optimizer, Suggestion


class RestrictedPool(Optimizer):
    """Delegates to ``inner`` (whose pool is ``pool[keep]``) and maps its trial ids back."""

    def __init__(self, pool: list[dict[str, Any]], max_epochs: int, keep: list[int], inner: Optimizer, seed: int = 0):
        super().__init__(pool, max_epochs, seed)
        self.keep = list(keep)
        self.inner = inner
        self._back = {full: j for j, full in enumerate(self.keep)}

    def _ask(self) -> Suggestion | None:
        s = self.inner.ask(self._max_cost)
        if s is None:
            return None
        return Suggestion(self.keep[s.trial_id], s.config, s.epoch)

    def tell(self, trial_id: int, epoch: int, score: float | None, cost: float, status: str = OK) -> None:
        super().tell(trial_id, epoch, score, cost, status)
        self.inner.tell(self._back[trial_id], epoch, score, cost, status)

    def release(self, trial_id: int) -> bool:
        released = super().release(trial_id)
        if trial_id in self._back:
            self.inner.release(self._back[trial_id])
        return released

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(keep=self.keep, inner=self.inner.state_dict())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.keep = [int(i) for i in state["keep"]]
        self._back = {full: j for j, full in enumerate(self.keep)}
        self.inner.load_state_dict(state["inner"])
