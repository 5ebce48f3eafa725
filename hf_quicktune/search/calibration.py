"""Online recalibration of a surrogate's uncertainty from its own forecast errors.

Variance recalibration from held-out forecast errors (Kuleshov, Fenner & Ermon, ICML 2018, §3; the
one-parameter variance scaling of Levi et al. 2022): the forecast of each epoch the optimizer asks for is
recorded at ask time, before it is observed, and scored ``z = (y - mean) / std`` when that epoch is told.
The factor on the posterior std is the root mean square of the recent ``z`` of a kind, never below 1.

Why it is needed: a deep-kernel GP fitted to a few curves of one dataset can claim a posterior std far
smaller than its forecasts' errors (seen by hand on the Quick-Tune extended meta-dataset, FNG); expected
improvement is then a race of vanishing Gaussian tails, and it picked a step predicted to take most of the
budget. The measured effect is the extended-set row of benchmarks/README.md.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

#: forecasts calibrated apart: a new trial's first epochs, forecast from its configuration alone, and a
#: paused trial's next epoch, forecast from its curve (two tasks of very different difficulty)
FORECAST_KINDS = ("new", "continued")


@dataclasses.dataclass(frozen=True)
class Forecast:
    """The surrogate's prediction of the score a trial will have at ``epoch``, made when it was asked."""

    epoch: int
    mean: float
    std: float
    kind: str


class ForecastCalibration:
    """Pending forecasts of asked epochs and the standardized errors of the told ones, per kind.

    ``window``: how many of the latest errors of a kind :meth:`scale` looks back on; ``min_errors``: how
    many it needs before it departs from 1.
    """

    def __init__(self, window: int = 20, min_errors: int = 3):
        if window < 1 or min_errors < 1:
            raise ValueError(f"window and min_errors must be >= 1, got {window} and {min_errors}")
        self.window = window
        self.min_errors = min_errors
        self.forecasts: dict[int, Forecast] = {}  # trial in flight -> forecast of its asked epoch
        self.errors: dict[str, list[float]] = {k: [] for k in FORECAST_KINDS}  # in tell order

    @staticmethod
    def _check(kind: str) -> None:
        if kind not in FORECAST_KINDS:
            raise ValueError(f"kind must be one of {FORECAST_KINDS}, got {kind!r}")

    def record(self, trial_id: int, epoch: int, mean: float, std: float, kind: str) -> None:
        """Remember the forecast of the epoch ``trial_id`` was just asked to train to."""
        self._check(kind)
        self.forecasts[int(trial_id)] = Forecast(int(epoch), float(mean), float(std), kind)

    def observe(self, trial_id: int, epoch: int, score: float | None, ok: bool = True) -> None:
        """A told result. The forecast is scored when ``epoch`` is its epoch (a job of k epochs is told k
        times; only the asked one was forecast) and dropped once the trial reached it or failed."""
        forecast = self.forecasts.get(int(trial_id))
        if forecast is None or (ok and epoch < forecast.epoch):
            return
        del self.forecasts[int(trial_id)]
        if ok and score is not None and epoch == forecast.epoch and forecast.std > 0:
            self.errors[forecast.kind].append((float(score) - forecast.mean) / forecast.std)

    def discard(self, trial_id: int) -> None:
        """Forget the forecast of a suggestion that was given back unevaluated."""
        self.forecasts.pop(int(trial_id), None)

    def scale(self, kind: str) -> float:
        """The factor on the posterior std of a ``kind`` forecast: RMS of its last ``window`` standardized
        errors; 1 when they lie within the stated uncertainty or fewer than ``min_errors`` were seen. Never
        below 1: only over-confidence is corrected."""
        self._check(kind)
        errs = self.errors[kind][-self.window:]
        if len(errs) < self.min_errors:
            return 1.0
        return max(1.0, float(np.sqrt(np.mean(np.square(errs)))))

    def state_dict(self) -> dict[str, Any]:
        return {
            "forecasts": {str(k): [f.epoch, f.mean, f.std, f.kind] for k, f in self.forecasts.items()},
            "standardized_errors": {k: list(v) for k, v in self.errors.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s keys; a state without them (saved before calibration) starts empty."""
        self.forecasts = {int(k): Forecast(int(v[0]), float(v[1]), float(v[2]), str(v[3]))
                          for k, v in (state.get("forecasts") or {}).items()}
        errors = state.get("standardized_errors") or {}
        errors = errors if isinstance(errors, dict) else {}  # a list: one pooled kind, never released
        self.errors = {k: [float(z) for z in errors.get(k, [])] for k in FORECAST_KINDS}
