"""Random search with the full budget per trial: each sampled configuration trains to ``max_epochs``."""

from __future__ import annotations

from hf_quicktune.search.base import Suggestion
from hf_quicktune.search.baselines.common import PoolBaseline


class RandomSearch(PoolBaseline):
    """Draw pool members in a seeded random order; train each to ``max_epochs`` (one per free worker)."""

    def _ask(self) -> Suggestion | None:
        step = self._step_jobs()
        if step is not None:
            return step
        self._pop_done()
        tid = self._new_trial()
        if tid is None:
            return None
        self.jobs.append((tid, self.max_epochs))
        return self._step_jobs()
