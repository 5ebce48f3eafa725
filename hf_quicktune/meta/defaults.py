"""A robust default configuration from a meta-dataset: the start of a search without a prior.

Each run of a meta-dataset is a distinct random configuration, so no single configuration was tried
on every dataset. Instead, per hyperparameter (parents before their conditionals), the value whose
runs reach the best mean *normalised* final accuracy (per dataset: (final - worst) / (best - worst)
over that dataset's runs) is chosen; a conditional hyperparameter whose parent's choice makes it
inactive is None. A marginal, documented heuristic: it is what a practitioner would read off the
meta-dataset's tables, and it is never a seed-dependent draw.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from hf_quicktune.meta.format import MetaDataset


def normalised_finals(md: MetaDataset) -> np.ndarray:
    """Each run's last recorded accuracy, normalised to [0, 1] within its dataset."""
    lengths = md.lengths
    final = md.curves[np.arange(md.n_runs), np.maximum(lengths, 1) - 1]
    out = np.zeros(md.n_runs)
    for d in md.dataset_names:
        idx = md.indices(d)
        lo, hi = np.nanmin(final[idx]), np.nanmax(final[idx])
        out[idx] = (final[idx] - lo) / (hi - lo) if hi > lo else 0.0
    return out


def robust_default_config(md: MetaDataset, conditions: dict[str, tuple[str, tuple[Any, ...]]]) -> dict[str, Any]:
    """The configuration described in the module docstring; ``conditions``: hyperparameter -> (parent,
    values of the parent that make it active)."""
    score = normalised_finals(md)
    names = sorted({k for c in md.configs for k in c})
    order = [n for n in names if n not in conditions] + [n for n in names if n in conditions]
    chosen: dict[str, Any] = {}
    for name in order:
        if name in conditions:
            parent, active = conditions[name]
            if chosen.get(parent) not in active:
                chosen[name] = None
                continue
        groups: dict[str, list[float]] = {}
        for cfg, s in zip(md.configs, score):
            value = cfg.get(name)
            if value is not None:
                groups.setdefault(json.dumps(value), []).append(float(s))
        if groups:
            best = max(groups, key=lambda v: (np.mean(groups[v]), len(groups[v])))
            chosen[name] = json.loads(best)
    return chosen
