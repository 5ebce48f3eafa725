"""Model-free baselines on the ask/tell API: random search, successive halving, ASHA, Hyperband."""

from hf_quicktune.search.baselines.asha import ASHA
from hf_quicktune.search.baselines.hyperband import Hyperband, SuccessiveHalving
from hf_quicktune.search.baselines.random_search import RandomSearch

__all__ = ["ASHA", "Hyperband", "RandomSearch", "SuccessiveHalving"]
