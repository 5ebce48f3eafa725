"""Zero-training ranking of candidate models (issue 5).

``rank(dataset, candidates)`` extracts penultimate features of every candidate on a stratified
sample of the training images (cached on disk), computes transferability scores (LFC, LGC,
LogME, kNN, LEEP, NCE; see :mod:`hf_quicktune.rank.scores`) and their mean-rank ensemble, and
returns a :class:`RankResult`. Importing this package is light (numpy only).
"""

from hf_quicktune.rank.api import DEFAULT_SCORES, LOAD_ROWS_OVER, parse_scores, rank
from hf_quicktune.rank.ensemble import mean_rank_ensemble
from hf_quicktune.rank.result import RankResult, keep_top_k
from hf_quicktune.rank.scores import SCORES

__all__ = ["DEFAULT_SCORES", "LOAD_ROWS_OVER", "SCORES", "RankResult", "keep_top_k", "mean_rank_ensemble",
           "parse_scores", "rank"]
