"""Cost predictor: seconds of the next epoch of a configuration on this dataset (Quick-Tune §4.3).

Same kind of feature extractor as the surrogate but without the learning curve, followed by a
linear output in log-seconds (relative to a stored offset). Predictions are clamped to
``min_seconds`` so that EI / cost never divides by zero or a tiny number (the reference
replaced a zero cost by 1e-4 inside the division instead). Unlike the reference, the model is
updated online with the observed costs during search (:meth:`CostModel.update`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from hf_quicktune.search.features import FeatureEncoder, SurrogateInputs
from hf_quicktune.search.surrogate import make_feature_extractor
from hf_quicktune.search.threads import torch_threads


class CostModel(nn.Module):
    """log(seconds per epoch) regression; ``predict`` returns seconds >= ``min_seconds``."""

    log_offset: torch.Tensor  # a buffer

    def __init__(self, encoder: FeatureEncoder, hidden: int = 32, out_dim: int = 32, min_seconds: float = 1e-3,
                 default_seconds: float = 1.0, seed: int = 0):
        super().__init__()
        if min_seconds <= 0:
            raise ValueError("min_seconds must be positive")
        self.encoder = encoder
        self.hidden, self.out_dim, self.seed = hidden, out_dim, seed
        self.min_seconds = float(min_seconds)
        self.default_seconds = float(default_seconds)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            self.feature_extractor = make_feature_extractor(encoder, False, hidden, out_dim)
            self.out = nn.Linear(out_dim, 1)
        # log-seconds offset; NaN until the model has seen a cost (then predict() returns default_seconds)
        self.register_buffer("log_offset", torch.tensor(float("nan")))
        self._initial_state = copy.deepcopy(self.state_dict())

    def config(self) -> dict[str, Any]:
        return {"hidden": self.hidden, "out_dim": self.out_dim, "min_seconds": self.min_seconds,
                "default_seconds": self.default_seconds, "seed": self.seed}

    @property
    def fitted(self) -> bool:
        return bool(torch.isfinite(self.log_offset))

    def mark_initial(self) -> None:
        self._initial_state = copy.deepcopy(self.state_dict())

    def reset(self) -> None:
        self.load_state_dict(self._initial_state)

    def forward(self, inputs: SurrogateInputs) -> torch.Tensor:
        """Predicted log-seconds (before clamping)."""
        offset = self.log_offset if self.fitted else torch.tensor(0.0)
        return self.out(nn.functional.relu(self.feature_extractor(inputs))).squeeze(1) + offset

    def loss(self, inputs: SurrogateInputs, seconds: torch.Tensor | np.ndarray) -> torch.Tensor:
        """MSE in log-seconds."""
        self.train()
        target = torch.log(torch.clamp(torch.as_tensor(np.asarray(seconds, dtype=np.float32)), min=self.min_seconds))
        return torch.mean((self.forward(inputs) - target) ** 2)

    def fit(self, inputs: SurrogateInputs, seconds: torch.Tensor | np.ndarray, steps: int = 100, lr: float = 1e-3,
            warm_start: bool = True) -> float:
        """Adam steps on the log-MSE; the first fit sets the log offset to the mean observed log-cost."""
        seconds = np.asarray(seconds, dtype=np.float64)
        if not warm_start:
            self.reset()
        if not self.fitted:
            self.log_offset.fill_(float(np.mean(np.log(np.maximum(seconds, self.min_seconds)))))
        last = float("nan")
        with torch_threads(1):
            opt = torch.optim.Adam([p for p in self.parameters() if p.requires_grad], lr=lr)
            for _ in range(max(0, steps)):
                opt.zero_grad()
                loss = self.loss(inputs, seconds)
                loss.backward()
                opt.step()
                last = float(loss.detach())
        self.eval()
        return last

    def update(self, inputs: SurrogateInputs, seconds: torch.Tensor | np.ndarray, steps: int = 10,
               lr: float = 1e-3) -> float:
        """Online update with the costs observed so far (warm-started)."""
        return self.fit(inputs, seconds, steps=steps, lr=lr, warm_start=True)

    def predict(self, inputs: SurrogateInputs) -> np.ndarray:
        """Seconds of the next epoch, clamped to ``min_seconds`` (``default_seconds`` before any fit)."""
        if not self.fitted:
            return np.full(len(inputs), max(self.default_seconds, self.min_seconds))
        self.eval()
        with torch_threads(1), torch.no_grad():
            log_s = self.forward(inputs).double().numpy()
        return np.maximum(np.exp(np.minimum(log_s, math.log(1e9))), self.min_seconds)

    def tensors(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone().contiguous() for k, v in self.state_dict().items()}

    def load_tensors(self, tensors: Mapping[str, torch.Tensor], strict: bool = True) -> None:
        self.load_state_dict(dict(tensors), strict=strict)


class CostPrior:
    """Seconds-per-epoch predictions made outside the search (e.g. by the linearized estimator).

    Quick-Tune's cost model learns from observed epoch costs; before it has seen one for a model,
    its prediction is uninformed (``default_seconds`` before any fit, an extrapolation from other
    models after). This prior fills that gap without making search depend on training code: it is
    a plain mapping ``pool index -> predicted seconds per epoch`` plus each member's model name.

    :meth:`apply` replaces the cost model's prediction for every pool member whose *model* has no
    observed cost yet by ``prior x r``, where ``r`` is the median ratio observed/prior over the
    trials that have both (1 before any): one calibration factor for what the prior leaves out on
    this machine (evaluation, data loading, logging). Members without a prior, and models already
    observed, keep the cost model's value. An optimizer uses it with one line after its cost-model
    prediction: ``cost = self.cost_prior.apply(ids, cost, {t: s.costs for t, s in self.trials.items()})``.
    """

    def __init__(self, seconds: Mapping[int, float], models: Mapping[int, str | None] | None = None,
                 min_seconds: float = 1e-3):
        clean: dict[int, float] = {}
        for key, value in seconds.items():
            v = float(value)
            if not math.isfinite(v) or v <= 0:
                raise ValueError(f"prior seconds of pool member {key} must be positive and finite, got {value!r}")
            clean[int(key)] = v
        self.seconds = clean
        self.models = {int(k): v for k, v in (models or {}).items()}
        self.min_seconds = float(min_seconds)

    @classmethod
    def from_pool(cls, pool: Sequence[Mapping[str, Any]], seconds: Mapping[int, float], **kwargs: Any) -> CostPrior:
        """The prior for ``pool`` (a list of configurations; their ``model`` key names the model)."""
        return cls(seconds, {i: cfg.get("model") for i, cfg in enumerate(pool)}, **kwargs)

    def calibration(self, observed: Mapping[int, list[float] | np.ndarray]) -> float:
        """Median of mean observed epoch cost / prior over trials that have both (1.0 when none)."""
        ratios = [float(np.mean(c)) / self.seconds[t] for t, c in observed.items()
                  if t in self.seconds and len(c) and np.all(np.isfinite(c))]
        return float(np.median(ratios)) if ratios else 1.0

    def apply(self, ids: list[int] | np.ndarray, predicted: np.ndarray,
              observed: Mapping[int, list[float] | np.ndarray]) -> np.ndarray:
        """``predicted`` (seconds of the next epoch of each of ``ids``) with the prior where it applies.

        ``observed``: trial id -> its observed epoch costs so far.
        """
        out = np.array(predicted, dtype=np.float64, copy=True)
        seen = {self.models.get(int(t)) for t, c in observed.items() if len(c)}
        ratio = self.calibration(observed)
        for j, i in enumerate(ids):
            i = int(i)
            if i in self.seconds and (self.models.get(i) is None or self.models.get(i) not in seen):
                if i in observed and len(observed[i]):
                    continue  # its own costs are known: nothing to add
                out[j] = max(self.seconds[i] * ratio, self.min_seconds)
        return out

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable (keys as strings)."""
        return {"seconds": {str(k): v for k, v in self.seconds.items()},
                "models": {str(k): v for k, v in self.models.items()}, "min_seconds": self.min_seconds}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> CostPrior:
        return cls({int(k): v for k, v in state["seconds"].items()},
                   {int(k): v for k, v in state.get("models", {}).items()}, state.get("min_seconds", 1e-3))


def step_seconds(
    ids: Sequence[int],
    predicted: np.ndarray,
    observed: Mapping[int, Sequence[float]],
    *,
    min_seconds: float,
    cost_prior: CostPrior | None = None,
    epochs: Sequence[int] | None = None,
) -> np.ndarray:
    """Seconds of the next step of each pool member in ``ids`` from the cost model's per-epoch
    ``predicted`` seconds (what Quick-Tune's acquisition divides by, Arango et al. 2024 §4.3):

    1. a :class:`CostPrior` where it applies (models the cost model has not observed yet);
    2. a paused trial's next epoch costs about what its previous epochs after the first cost (observed,
       free information). The first epoch carries one-off costs (data loading and caching, warm-up, the
       evaluation of the untrained network on LCBench: there the first epoch's median cost is 3.4x a
       later epoch's), so it is left out of the average; a trial with only its first epoch keeps the
       cost model's prediction for its second (the model sees the budget, so it learns the premium);
    3. times ``epochs``, the epochs the step trains (a new trial's ``initial_epochs``).

    ``observed``: trial id -> its observed epoch costs so far.
    """
    cost = np.array(predicted, dtype=np.float64, copy=True)
    if cost_prior is not None:
        cost = cost_prior.apply(list(ids), cost, {t: list(c) for t, c in observed.items()})
    for j, i in enumerate(ids):
        costs = observed.get(i)
        if costs is not None and len(costs) > 1:
            cost[j] = max(float(np.mean(costs[1:])), min_seconds)
    if epochs is not None:
        cost *= np.asarray(epochs, dtype=np.float64)
    return cost
