"""Evaluation metrics shipped with the package as `evaluate` modules (loaded from a local path,
so they work offline: ``evaluate.load("accuracy")`` would need the Hub)."""

from __future__ import annotations

import functools
from pathlib import Path

TOPK_ACCURACY = str(Path(__file__).with_name("topk_accuracy.py"))


@functools.lru_cache(maxsize=1)
def load_topk_accuracy():
    """The ``topk_accuracy`` metric as an ``evaluate.EvaluationModule``."""
    import evaluate

    return evaluate.load(TOPK_ACCURACY)
