"""Pending evaluations for :class:`~hf_quicktune.search.quicktune.QuickTuneOptimizer` with several workers: the
kriging believer (Ginsbourger, Le Riche & Carraro 2010, "Kriging is well-suited to parallelize optimization",
§3.1), its lie capped at the best score told (the same chapter's constant liar, "CL-max")."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hf_quicktune.search.base import TrialState
    from hf_quicktune.search.features import SurrogateInputs
    from hf_quicktune.search.surrogate import DeepKernelSurrogate


class KrigingBeliever:
    """Mixin of :class:`~hf_quicktune.search.quicktune.QuickTuneOptimizer`: while the acquisition is computed
    (inside :meth:`_believing`), ``_fantasies`` holds each in-flight trial's (asked epoch, believed score)."""

    # provided by the optimizer
    trials: dict[int, TrialState]
    in_flight: dict[int, int]
    surrogate: DeepKernelSurrogate
    initial_epochs: int
    _fantasies: dict[int, tuple[int, float]]

    def _encode(self, ids: Sequence[int], epochs: Sequence[int], curves: Sequence[Sequence[float]]) -> SurrogateInputs:
        raise NotImplementedError

    def _fantasy_inputs(self, ids: Sequence[int]) -> SurrogateInputs:
        """Inputs of the observations the in-flight trials ``ids`` will make at their asked epochs (as
        :meth:`_add_observation` will encode them)."""
        epochs = [self.in_flight[i] for i in ids]
        curves = [self.trials[i].scores[: e - 1] if e > self.initial_epochs and i in self.trials else []
                  for i, e in zip(ids, epochs)]
        return self._encode(ids, epochs, curves)

    @contextlib.contextmanager
    def _believing(self) -> Iterator[None]:
        """Pending evaluations by the kriging believer (Ginsbourger, Le Riche & Carraro 2010, "Kriging is
        well-suited to parallelize optimization", §3.1): while the acquisition is computed, each in-flight
        trial is taken to have observed the posterior mean of its asked epoch, at most the best score told
        so far (:meth:`_believed`). The GP is conditioned on these believed points (its posterior mean
        elsewhere is unchanged unless a cap applied; its variance near a running trial shrinks, so a
        near-duplicate of it loses its exploration bonus) and they count for the incumbent as observations
        would. Without trials in flight nothing changes (one worker)."""
        ids = sorted(self.in_flight)
        if not ids:
            yield
            return
        inputs = self._fantasy_inputs(ids)
        believed = self._believed(inputs)
        self._fantasies = {i: (self.in_flight[i], float(m)) for i, m in zip(ids, believed)}
        with self.surrogate.extra_condition(inputs, believed):
            try:
                yield
            finally:
                self._fantasies = {}

    def _believed(self, inputs: SurrogateInputs) -> np.ndarray:
        """The kriging believer's outcomes of in-flight observations ``inputs``: the posterior mean, capped
        at the best score told so far, the most optimistic lie of the same chapter's constant liar
        (Ginsbourger et al. 2010; its "CL-max" when maximising). A believed outcome is the incumbent of its
        epoch and of every later one where nothing was observed
        (:func:`~hf_quicktune.search.acquisition.incumbent_at`), so an uncapped mean extrapolated past what
        any trial reached (the extended set's PLT_VIL, 4 workers: a new trial believed at 1.33 accuracy)
        took the best trial's expected improvement to ~1e-196 while it ran: the best trial idled."""
        believed, _ = self.surrogate.predict(inputs, noise=False)
        told = [s for st in self.trials.values() for s in st.scores if math.isfinite(s)]
        return np.minimum(believed, max(told)) if told else believed
