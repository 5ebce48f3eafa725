"""Search: spaces, surrogates, acquisition and ask/tell optimizers. Pure: numpy/torch/gpytorch only.

Light to import: the torch/gpytorch-based parts (surrogate, cost model, prior, optimizers) load on
first attribute access.
"""

from __future__ import annotations

import importlib
from typing import Any

from hf_quicktune.search.base import Optimizer, Suggestion, TrialState
from hf_quicktune.search.space import Hyperparameter, Space

_LAZY = {
    "QuickTuneOptimizer": "hf_quicktune.search.quicktune",
    "DyHPOOptimizer": "hf_quicktune.search.quicktune",
    "Prior": "hf_quicktune.search.prior",
    "DeepKernelSurrogate": "hf_quicktune.search.surrogate",
    "CostModel": "hf_quicktune.search.cost",
    "FeatureEncoder": "hf_quicktune.search.features",
    "FeatureScaler": "hf_quicktune.search.features",
    "SurrogateInputs": "hf_quicktune.search.features",
    "save_state": "hf_quicktune.search.serialization",
    "load_state": "hf_quicktune.search.serialization",
}

__all__ = ["Optimizer", "Suggestion", "TrialState", "Space", "Hyperparameter", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
