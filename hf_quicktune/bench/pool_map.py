"""Map an external optimizer's continuous suggestions onto a finite pool (for the bench's peers).

A tabular benchmark only knows its pool, while Optuna, DEHB and Syne Tune sample from
distributions. Every peer describes the pool with the same :meth:`Space.from_pool` inference the
gray-box optimizers use, and maps each suggestion to the **nearest unused pool member**: every
hyperparameter is put on [0, 1] by :meth:`Hyperparameter.scale` (log scale where the space says
so, ordinals by rank); a categorical or an inactive (``None``) value differs by 0 or 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hf_quicktune.search.space import Hyperparameter, Space, canonical


class PoolMap:
    """Nearest-unused lookup of configurations in ``pool``; ``used`` marks members already taken."""

    def __init__(self, pool: Sequence[dict[str, Any]], space: Space | None = None):
        self.pool = list(pool)
        self.space = space if space is not None else Space.from_pool(self.pool, name="pool")
        self.hps: list[Hyperparameter] = [self.space.hps[n] for n in self.space.names]
        self._cat = np.array([hp.type == "categorical" for hp in self.hps], dtype=bool)
        self.matrix = np.array([self.unit(c) for c in self.pool], dtype=float).reshape(len(self.pool), len(self.hps))
        self.used = np.zeros(len(self.pool), dtype=bool)

    def unit(self, config: dict[str, Any]) -> list[float]:
        """One row: [0, 1] per numeric/ordinal hyperparameter, the choice index per categorical,
        NaN where the value is missing or ``None`` (inactive)."""
        row = []
        for hp in self.hps:
            v = config.get(hp.name)
            if v is None:
                row.append(np.nan)
            elif hp.type == "categorical":
                keys = [canonical(c) for c in hp.choices or []]
                k = canonical(v)
                row.append(float(keys.index(k)) if k in keys else -1.0)
            else:
                row.append(hp.scale(v))
        return row

    def distances(self, config: dict[str, Any]) -> np.ndarray:
        """Squared distance of ``config`` to every pool member."""
        x = np.array(self.unit(config), dtype=float)
        diff = np.abs(self.matrix - x[None, :])
        if self._cat.any():
            diff[:, self._cat] = (diff[:, self._cat] > 0).astype(float)
        # inactive on one side only: differs by 1; inactive on both sides: equal
        miss_pool, miss_x = np.isnan(self.matrix), np.isnan(x)[None, :]
        diff = np.where(miss_pool & miss_x, 0.0, np.where(miss_pool | miss_x, 1.0, diff))
        return (diff**2).sum(axis=1)

    def take_nearest_unused(self, config: dict[str, Any]) -> int | None:
        """The nearest pool member not taken yet (marked taken), or None once all are taken."""
        if self.used.all():
            return None
        dist = self.distances(config)
        dist[self.used] = np.inf
        i = int(np.argmin(dist))
        self.used[i] = True
        return i
