"""The result of ranking: a table of scores per candidate, sortable and serialisable."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from hf_quicktune.errors import ConfigError

#: columns of the table that are not scores
INFO_COLUMNS = ("feature_seconds", "model_seconds", "num_params")


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

        By ``"ensemble"`` (the order ``run`` keeps its ``--top-k`` from) a random-init baseline never
        comes before its pretrained twin (``info["twins"]``: same architecture, pretrained weights);
        it moves to just after it. Why: the scores rate frozen features under the linearized view of
        fine-tuning, which assumes training stays near the initial weights (Deshpande et al. 2021,
        §3). A random-init network must move far; its features are random projections of the
        pixels, linearly separable on easy data (a logistic probe on random Lite0 features of
        builtin:digits scores 0.90, the ImageNet Lite0 0.85), yet the same network fine-tuned from
        ImageNet weights beats it (benchmarks/rank_quality.py). A single score (``by="knn"``) is its raw order.
        """
        if by != "ensemble" and by not in self.scores:
            raise ConfigError(
                f"cannot order by '{by}': this ranking has scores {', '.join(self.scores)} and 'ensemble'."
            )

        def key(name: str):
            v = self.table[name].get(by, math.nan)
            bad = v is None or math.isnan(v)
            return (bad, 0.0 if bad else -v, name)

        raw = sorted(self.table, key=key)
        if by != "ensemble":
            return raw
        twins = {s: [t for t in ts if t in self.table] for s, ts in (self.info.get("twins") or {}).items()}
        out: list[str] = []
        waiting: list[str] = []
        for name in raw:
            if any(t not in out for t in twins.get(name, ())):
                waiting.append(name)
                continue
            out.append(name)
            ready = [w for w in waiting if all(t in out for t in twins[w])]
            waiting = [w for w in waiting if w not in ready]
            out.extend(ready)
        return out + waiting

    def kept(self, top_k: int) -> list[str]:
        """What ``run --top-k`` keeps: see :func:`keep_top_k`."""
        return keep_top_k(self.order(), top_k, self.baselines)

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
            "baselines": sorted(self.baselines),
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


def keep_top_k(order: list[str], top_k: int, baselines=()) -> list[str]:
    """The ``top_k`` first pretrained candidates of ``order``, plus every random-init baseline.

    The zero-cost scores cannot rate how fast a network trains from random initialisation (it is
    not a fine-tuning of the features they see): on builtin:digits at 32 px, scratch:resnet10t
    has the lowest score of the offline zoo under every score and the highest fine-tuned accuracy
    (benchmarks/rank_quality.py). So ``--top-k`` limits the pretrained candidates only; baselines
    (few, cheap, and what tells a user what pretraining is worth) always reach the search, which
    judges them by their learning curves. With no pretrained candidate, the first ``top_k`` are kept.
    """
    base = set(baselines)
    pretrained = [c for c in order if c not in base]
    if not pretrained:
        return list(order[:top_k])
    keep = set(pretrained[:top_k]) | base
    return [c for c in order if c in keep]
