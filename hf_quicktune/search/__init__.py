"""Search: spaces, surrogates, acquisition and ask/tell optimizers. Pure: numpy/torch/gpytorch only."""

from hf_quicktune.search.base import Optimizer, Suggestion, TrialState

__all__ = ["Optimizer", "Suggestion", "TrialState"]
