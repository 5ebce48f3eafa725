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
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from hf_quicktune.search.features import FeatureEncoder, SurrogateInputs
from hf_quicktune.search.surrogate import make_feature_extractor
from hf_quicktune.search.threads import torch_threads


class CostModel(nn.Module):
    """log(seconds per epoch) regression; ``predict`` returns seconds >= ``min_seconds``."""

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
