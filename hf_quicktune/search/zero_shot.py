"""A prior's configuration-only predictor of a run's best accuracy: where a meta-learned search starts.

Quick-Tune (§4.3) starts from the configuration its meta-learned surrogate predicts best for the dataset. Ours
predicted a held-out dataset's configurations with Spearman 0.47 (leave-datasets-out on the paper's extended
meta-dataset), its single pick at normalised regret 0.26, where gradient-boosted trees on the same inputs (the
configuration, the model's descriptors, the dataset's meta-features) reached 0.65 and 0.13
(benchmarks/prior_transfer.py): the surrogate learns curves given observations, and its mean is only one part of
it. So a prior also holds such trees, fitted at meta-training (scikit-learn's ``GradientBoostingRegressor``,
Friedman 2001) on each meta-training run's best accuracy, and the optimizer's :meth:`zero_shot` uses them: the
first trial and the half of a run's pool the prior picks. Everything after the first observation is the GP's.

Trees fitted with a horizon (``MetaTrainConfig.zero_shot_horizons``, an ablation: benchmarks/zero_shot_horizon.py)
predict the best accuracy within ``h`` epochs, an input beside the others, and the optimizer asks at its schedule's
length (``max_epochs``); the default trees predict the best accuracy over the whole curve, whatever the schedule.

The trees are kept as plain arrays in ``zero_shot.json`` beside the prior's weights (no pickle), and predicted
with numpy: scikit-learn is needed to fit them, not to use them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

FILE = "zero_shot.json"


class TreeEnsemble:
    """Gradient-boosted regression trees: ``init + rate * sum(tree(x))``. Each tree is its arrays in scikit-learn's
    layout (``left``/``right`` child index, -1 at a leaf; ``feature``, ``threshold``: go left when
    ``x[feature] <= threshold``; ``value`` at the leaves)."""

    def __init__(self, init: float, rate: float, trees: Sequence[Mapping[str, Sequence[float]]], n_features: int,
                 horizon: bool = False):
        self.init, self.rate, self.n_features = float(init), float(rate), int(n_features)
        self.horizon = bool(horizon)  # the last input is the horizon in epochs (see predict)
        self.trees = [{"left": np.asarray(t["left"], dtype=np.int64), "right": np.asarray(t["right"], dtype=np.int64),
                       "feature": np.asarray(t["feature"], dtype=np.int64),
                       "threshold": np.asarray(t["threshold"], dtype=np.float64),
                       "value": np.asarray(t["value"], dtype=np.float64)} for t in trees]

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, seed: int = 0, horizon: bool = False) -> TreeEnsemble:
        """scikit-learn's ``GradientBoostingRegressor`` (its defaults: 100 trees of depth 3, rate 0.1) on ``x``
        (``horizon``: its last column is the horizon in epochs)."""
        from sklearn.ensemble import GradientBoostingRegressor

        gbr = GradientBoostingRegressor(random_state=seed).fit(np.asarray(x, dtype=np.float64), np.asarray(y))
        trees = []
        for est in gbr.estimators_[:, 0]:
            t = est.tree_
            trees.append({"left": t.children_left.tolist(), "right": t.children_right.tolist(),
                          "feature": t.feature.tolist(), "threshold": t.threshold.tolist(),
                          "value": t.value[:, 0, 0].tolist()})
        return cls(float(np.ravel(gbr.init_.constant_)[0]), gbr.learning_rate, trees, x.shape[1], horizon)

    def predict(self, x: np.ndarray, horizon: float | None = None) -> np.ndarray:
        """Predictions for inputs ``x`` (:func:`zero_shot_features`); trees fitted with a horizon need ``horizon``
        (epochs; the trees extrapolate flat beyond the longest one fitted), others ignore it."""
        if self.horizon:
            if horizon is None:
                raise ValueError("these trees predict at a horizon: pass horizon= (epochs)")
            x = np.hstack([np.asarray(x, dtype=np.float64), np.full((len(x), 1), float(horizon))])
        x = np.asarray(x, dtype=np.float32).astype(np.float64)  # scikit-learn's trees split float32 inputs
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"expected inputs of {self.n_features} features, got shape {x.shape}")
        out = np.full(len(x), self.init)
        rows = np.arange(len(x))
        for t in self.trees:
            node = np.zeros(len(x), dtype=np.int64)
            while True:
                inner = t["left"][node] >= 0
                if not inner.any():
                    break
                i, n = rows[inner], node[inner]
                go_left = x[i, t["feature"][n]] <= t["threshold"][n]
                node[inner] = np.where(go_left, t["left"][n], t["right"][n])
            out += self.rate * t["value"][node]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "gradient_boosted_trees", "init": self.init, "rate": self.rate, "n_features": self.n_features,
                **({"horizon": True} if self.horizon else {}), "trees": [{k: v.tolist() for k, v in t.items()} for t in self.trees]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TreeEnsemble:
        return cls(d["init"], d["rate"], d["trees"], d["n_features"], bool(d.get("horizon", False)))


def zero_shot_features(inputs: Any) -> np.ndarray:
    """The trees' inputs from the surrogate's encoded inputs (:class:`~hf_quicktune.search.features.SurrogateInputs`
    of the configurations alone): the encoded configuration, the model's scaled descriptors, the dataset's scaled
    meta-features, and the model's vocabulary index when the prior encodes models by identity."""
    parts = [inputs.config.numpy(), inputs.model_features.numpy(), inputs.meta.numpy(),
             inputs.model_index.numpy()[:, None].astype(np.float32)]
    return np.hstack(parts).astype(np.float64)
