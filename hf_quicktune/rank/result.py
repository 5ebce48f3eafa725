"""The result of ranking: a table of scores per candidate, sortable and serialisable."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from hf_quicktune.errors import ConfigError

#: columns of the table that are not scores
INFO_COLUMNS = ("feature_seconds", "num_params")


@dataclass
class RankResult:
    """``table``: candidate name -> {score name: value, "ensemble": value, "feature_seconds", "num_params"}.

    Every score (and the ensemble) is higher-is-better; a score that does not apply to a
    candidate (e.g. LEEP without a source head) is NaN.
    """

    table: dict[str, dict[str, float]]
    scores: list[str]
    dataset: str = ""
    n: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def baselines(self) -> set[str]:
        """Random-init candidates (``info["baselines"]``, set by :func:`hf_quicktune.rank.rank`)."""
        return set(self.info.get("baselines") or ())

    def order(self, by: str = "ensemble") -> list[str]:
        """Candidate names, best first, by ``by`` (a score name or "ensemble"); NaN last.

        By ``"ensemble"`` (the order ``run --top-k`` keeps from) random-init baselines come after
        every pretrained candidate, ordered among themselves by the ensemble. Why: the scores rate
        frozen features under the linearized view of fine-tuning, which assumes training stays
        near the initial weights (Deshpande et al. 2021, §3). That holds for pretrained weights; a
        random-init network must move far, so its features (random projections of the pixels,
        which can be linearly separable on easy data) say little about how it fine-tunes. A
        single score (``by="knn"`` ...) is its raw order.
        """
        if by != "ensemble" and by not in self.scores:
            raise ConfigError(
                f"cannot order by '{by}': this ranking has scores {', '.join(self.scores)} and 'ensemble'."
            )
        baselines = self.baselines if by == "ensemble" else set()

        def key(name: str):
            v = self.table[name].get(by, math.nan)
            bad = v is None or math.isnan(v)
            return (name in baselines, bad, 0.0 if bad else -v, name)

        return sorted(self.table, key=key)

    def best(self, by: str = "ensemble") -> str:
        return self.order(by)[0]

    def to_dict(self) -> dict[str, Any]:
        def clean(v):
            return None if isinstance(v, float) and math.isnan(v) else v

        return {
            "dataset": self.dataset,
            "n": self.n,
            "scores": list(self.scores),
            "order": self.order(),
            "table": {c: {k: clean(v) for k, v in row.items()} for c, row in self.table.items()},
            "info": self.info,
        }

    def to_json(self, indent: int | None = 2) -> str:
        """JSON with NaN written as null (valid JSON for any consumer)."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> RankResult:
        data = json.loads(text)
        table = {
            c: {k: (math.nan if v is None else v) for k, v in row.items()} for c, row in data["table"].items()
        }
        return cls(
            table=table,
            scores=data["scores"],
            dataset=data.get("dataset", ""),
            n=data.get("n", 0),
            info=data.get("info", {}),
        )
