"""Pool configurations that make sense for their candidate.

Freezing part of the network (``pct_to_freeze > 0``) and linear probing keep pretrained features
fixed while the head adapts (Quick-Tune's space, after Kumar et al. 2022); on a random-initialisation
(``scratch:``) candidate they freeze *random* features, which only wastes trials and then gets
published as "linear probing" of random weights. :func:`repair_scratch_configs` turns both off for
those candidates (and drops the duplicates the repair creates), so the space a scratch candidate
is searched over has no freezing and no linear probing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

#: hyperparameter -> the value it takes on a random-initialisation candidate
SCRATCH_FIXED: dict[str, Any] = {"pct_to_freeze": 0.0, "linear_probing": False}


def repair_scratch_configs(pool: Iterable[Mapping[str, Any]], scratch: Iterable[str]) -> list[dict[str, Any]]:
    """``pool`` with freezing and linear probing off for configurations of a candidate in ``scratch``
    (names of random-initialisation candidates); repaired configurations equal to one already in
    the pool are dropped. Other configurations are returned unchanged, in order."""
    scratch = set(scratch)
    out, seen = [], set()
    for config in pool:
        config = dict(config)
        if config.get("model") in scratch:
            for key, value in SCRATCH_FIXED.items():
                if key in config:
                    config[key] = value
        key = json.dumps(config, sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        out.append(config)
    return out


def scratch_names(candidates: Mapping[str, Any]) -> set[str]:
    """Names of the random-initialisation candidates (``Candidate.is_scratch``)."""
    return {name for name, c in candidates.items() if getattr(c, "is_scratch", False)}
