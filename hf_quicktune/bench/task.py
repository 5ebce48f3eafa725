"""One target dataset of a replayed meta-dataset, as the bench's method factories receive it.

Its own module so that ``methods`` (the registry) and the factories it loads lazily
(``gray_box``, the peers) all import it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Task:
    """The pool (one configuration per recorded run, ``model`` merged in when the meta-dataset has
    models), meta-features, zero-cost scores and — for meta-learned methods — the prior
    meta-trained *without* this dataset."""

    dataset: str
    pool: list[dict[str, Any]]
    max_epochs: int
    meta_features: dict[str, float]
    prior: Any = None  # hf_quicktune.search.prior.Prior for meta-learned methods
    zero_cost: dict[str, dict[str, float]] | None = None  # model -> {score name: value}
    # model -> {descriptor: value} (the meta-dataset's mf.* columns): how a prior that describes models by
    # their features sees the pool's models, as `run` passes the zoo's descriptors
    model_features: dict[str, dict[str, float]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
