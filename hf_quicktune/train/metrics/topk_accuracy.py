"""Top-k accuracy as an `evaluate` metric.

``predictions`` are each sample's class indices ranked by score (the first is the argmax),
``references`` the true labels. Returns ``top1`` and, for every ``k`` requested that is not
larger than the ranking length, ``top{k}``: the fraction of samples whose label is among the
first k predictions.
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "Top-k classification accuracy (fraction in [0, 1]) from ranked predictions."
_KWARGS_DESCRIPTION = """
Args:
    predictions (list of list of int): class indices ranked by decreasing score.
    references (list of int): ground-truth class indices.
    ks (tuple of int): which k to report, default (1, 5).
Returns:
    dict with "top1" and "top{k}" for each k <= len(predictions[0]).
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class TopkAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("int64")),
                    "references": datasets.Value("int64"),
                }
            ),
        )

    def _compute(self, predictions, references, ks=(1, 5)):
        ranked = np.asarray(predictions, dtype=np.int64)
        labels = np.asarray(references, dtype=np.int64)
        if ranked.ndim != 2 or len(ranked) != len(labels):
            raise ValueError("predictions must be one ranking (list of class indices) per reference")
        hits = ranked == labels[:, None]
        out = {}
        for k in ks:
            if k <= ranked.shape[1]:
                out[f"top{k}"] = float(hits[:, :k].any(axis=1).mean()) if len(labels) else float("nan")
        return out
