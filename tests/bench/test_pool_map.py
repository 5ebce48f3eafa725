"""Peers' pool mapping (one Space.from_pool inference) and the bench package's import graph."""

from __future__ import annotations

import numpy as np

from hf_quicktune.bench.pool_map import PoolMap
from hf_quicktune.search.space import Space

POOL = [
    {"lr": 10.0 ** -(1 + i * 0.25), "opt": "sgd" if i % 2 else "adam", "clip": None if i % 3 == 0 else float(i),
     "bs": [16, 32, 64][i % 3]}
    for i in range(16)
]


def test_pool_map_uses_space_from_pool_inference():
    pm = PoolMap(POOL)
    assert pm.space == Space.from_pool(POOL, name="pool")
    assert pm.space.hps["lr"].log and pm.space.hps["clip"].optional and pm.space.hps["bs"].type == "ordinal"


def test_nearest_unused_prefers_exact_match_then_moves_on():
    pm = PoolMap(POOL)
    target = dict(POOL[5])
    assert pm.take_nearest_unused(target) == 5
    second = pm.take_nearest_unused(target)
    assert second != 5 and pm.used.sum() == 2
    # the runner-up is the closest of the rest by the documented distance
    d = pm.distances(target)
    d[5] = np.inf
    assert second == int(np.argmin(d))


def test_inactive_and_categorical_values_differ_by_one():
    pm = PoolMap([{"a": 0.0, "c": "x", "o": None}, {"a": 0.0, "c": "y", "o": None}, {"a": 1.0, "c": "x", "o": 1.0}]
                 + [{"a": 0.5 + i / 100, "c": "x", "o": 2.0 + i} for i in range(12)])
    d = pm.distances({"a": 0.0, "c": "x", "o": None})
    assert d[0] == 0.0 and d[1] == 1.0  # only the category differs
    assert d[2] == 1.0 + 1.0  # a at the other end of its range, o active vs inactive


def test_take_returns_none_when_pool_used_up():
    pm = PoolMap(POOL[:2])
    assert {pm.take_nearest_unused(POOL[0]), pm.take_nearest_unused(POOL[0])} == {0, 1}
    assert pm.take_nearest_unused(POOL[0]) is None


def test_optuna_peer_handles_inactive_values():
    from hf_quicktune.bench.optuna_peer import OptunaPeer
    from hf_quicktune.bench.replay import replay

    rng = np.random.default_rng(0)
    curves = np.sort(rng.uniform(0.1, 0.9, size=(len(POOL), 4)), axis=1)
    opt = OptunaPeer(POOL, max_epochs=4, seed=0, variant="tpe-hyperband")
    tr = replay(opt, curves, np.ones_like(curves), time_budget=1e9, count_overhead=False)
    assert tr.stop == "optimizer exhausted" and len(opt.trials) == len(POOL)  # every member, each once
    actives = {t.params.get("clip:active") for t in opt.study.trials}
    assert actives == {True, False}  # the sometimes-None hyperparameter is searched over with an on/off flag
    assert all(("clip" in t.params) == t.params["clip:active"] for t in opt.study.trials)
