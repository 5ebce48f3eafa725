"""Stratified sampling, the mean-rank ensemble and RankResult (pure, fast)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from hf_quicktune.errors import ConfigError
from hf_quicktune.rank import RankResult, keep_top_k, mean_rank_ensemble, parse_scores
from hf_quicktune.rank.ensemble import normalised_ranks
from hf_quicktune.rank.sampling import stratified_sample


def test_stratified_sample_is_proportional_covers_classes_and_deterministic():
    labels = np.array([0] * 500 + [1] * 300 + [2] * 150 + [3] * 50 + [4] * 2)
    idx = stratified_sample(labels, 100, seed=0)
    assert len(idx) == 100 and len(set(idx.tolist())) == 100 and np.all(np.diff(idx) > 0)
    counts = np.bincount(labels[idx], minlength=5)
    assert counts.min() >= 1  # the tiny class is present
    expected = np.bincount(labels) / len(labels) * 100
    assert np.all(np.abs(counts - expected) <= 1.5)
    assert np.array_equal(idx, stratified_sample(labels, 100, seed=0))
    assert not np.array_equal(idx, stratified_sample(labels, 100, seed=1))


def test_stratified_samples_of_one_seed_are_nested():
    """A smaller sample lies within every larger one of the same seed, so `rank --n 1000` then a run's 256 images
    reuse the cached features: no class ever loses images as n grows (largest-remainder quotas do: classes of 36,
    58, 44, 38 and 33 images got 7 images of the last class at n = 41 and 6 at n = 42)."""
    balanced = np.repeat(np.arange(10), 500)  # mnist5k's shape
    small, large = stratified_sample(balanced, 256, seed=3), stratified_sample(balanced, 1000, seed=3)
    assert np.isin(small, large).all()
    for sizes in ([500, 300, 150, 50, 2], [36, 58, 44, 38, 33]):
        labels = np.repeat(np.arange(5), sizes)
        previous = np.array([], dtype=np.int64)
        for n in range(1, min(400, len(labels))):
            sample = stratified_sample(labels, n, seed=1)
            assert len(sample) == n and np.isin(previous, sample).all(), (sizes, n)
            counts = np.bincount(labels[sample], minlength=5)
            share = np.bincount(labels) / len(labels) * n
            if n >= 5:  # one image of every class first, then each within one image of its share
                assert counts.min() >= 1 and np.all(np.abs(counts - share) < 1 + (counts == 1)), (n, counts)
            previous = sample
    other = stratified_sample(balanced, 256, seed=4)
    assert not np.isin(other, stratified_sample(balanced, 1000, seed=3)).all()  # another seed draws other images


def test_stratified_sample_small_and_large_n():
    labels = np.repeat(np.arange(10), 3)
    assert np.array_equal(stratified_sample(labels, 1000), np.arange(30))
    idx = stratified_sample(labels, 4, seed=2)
    assert len(idx) == 4 and len(set(labels[idx].tolist())) == 4  # fewer samples than classes
    idx = stratified_sample(labels, 29, seed=2)
    assert len(idx) == 29


def test_normalised_ranks_best_is_one_ties_average_nan_dropped():
    r = normalised_ranks({"a": 0.1, "b": 0.5, "c": 0.5, "d": math.nan, "e": -3.0})
    assert r["e"] == 0.0 and r["a"] == pytest.approx(1 / 3)
    assert r["b"] == r["c"] == pytest.approx((2 / 3 + 1) / 2)
    assert "d" not in r
    assert normalised_ranks({"x": 2.0}) == {"x": 1.0}


def test_mean_rank_ensemble_is_scale_free():
    table = {
        "big": {"lfc": 0.9, "logme": -0.1, "knn": 0.2},
        "mid": {"lfc": 0.5, "logme": -0.5, "knn": 0.9},
        "low": {"lfc": 0.1, "logme": -900.0, "knn": 0.1},
    }
    ens = mean_rank_ensemble(table, ["lfc", "logme", "knn"])
    assert ens["big"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert ens["mid"] == pytest.approx((0.5 + 0.5 + 1) / 3)
    assert ens["low"] == 0.0
    # a score missing for some candidate (NaN) is left out: no free top rank for the few that have it
    table["big"]["leep"] = -1.0
    table["mid"]["leep"] = math.nan
    assert mean_rank_ensemble(table, ["lfc", "logme", "knn", "leep"]) == ens
    # ... unless no score is common to all: then each candidate averages what it has
    sparse = {
        "a": {"lfc": 0.1, "leep": math.nan},
        "b": {"lfc": math.nan, "leep": 2.0},
        "c": {"lfc": 0.5, "leep": 1.0},
    }
    assert mean_rank_ensemble(sparse, ["lfc", "leep"]) == {"a": 0.0, "b": 1.0, "c": 0.5}


def test_rank_result_order_json_roundtrip_and_errors():
    res = RankResult(
        table={
            "a": {"lfc": 0.2, "leep": math.nan, "ensemble": 0.25, "feature_seconds": 1.0, "num_params": 10},
            "b": {"lfc": 0.7, "leep": -1.0, "ensemble": 0.75, "feature_seconds": 2.0, "num_params": 20},
        },
        scores=["lfc", "leep"],
        dataset="d",
        n=5,
    )
    assert res.order() == ["b", "a"] and res.best() == "b"
    assert res.order("leep") == ["b", "a"]  # NaN last
    text = res.to_json()
    data = json.loads(text)  # strict JSON: NaN became null
    assert data["table"]["a"]["leep"] is None and data["order"] == ["b", "a"]
    back = RankResult.from_json(text)
    assert math.isnan(back.table["a"]["leep"]) and back.order() == res.order()
    with pytest.raises(ConfigError, match="cannot order by 'nce'"):
        res.order("nce")


def test_ensemble_order_keeps_a_random_init_baseline_behind_its_pretrained_twin():
    table = {
        "scratch:x": {"knn": 0.9, "ensemble": 1.0},
        "scratch:z": {"knn": 0.85, "ensemble": 0.9},
        "y": {"knn": 0.7, "ensemble": 0.7},
        "x": {"knn": 0.8, "ensemble": 0.5},
        "x.v2": {"knn": 0.1, "ensemble": 0.1},
        "scratch:w": {"knn": 0.0, "ensemble": 0.0},
    }
    info = {"baselines": ["scratch:x", "scratch:z", "scratch:w"], "twins": {"scratch:x": ["x", "x.v2"]}}
    res = RankResult(table=table, scores=["knn"], info=info)
    # scratch:x waits for both pretrained x's; scratch:z has no twin and keeps its place
    assert res.order() == ["scratch:z", "y", "x", "x.v2", "scratch:x", "scratch:w"]
    assert res.order("knn") == ["scratch:x", "scratch:z", "x", "y", "x.v2", "scratch:w"]  # a single score: raw
    back = RankResult.from_json(res.to_json())
    assert back.order() == res.order() and back.to_dict()["order"] == res.order()
    assert back.to_dict()["baselines"] == ["scratch:w", "scratch:x", "scratch:z"]
    # no twins recorded (older ranking.json): plain ensemble order
    assert RankResult(table=table, scores=["knn"]).order()[0] == "scratch:x"


def test_keep_top_k_limits_pretrained_candidates_and_keeps_every_baseline():
    order = ["scratch:z", "y", "x", "x.v2", "scratch:x", "scratch:w"]
    base = ["scratch:x", "scratch:z", "scratch:w"]
    assert keep_top_k(order, 2, base) == ["scratch:z", "y", "x", "scratch:x", "scratch:w"]
    assert keep_top_k(order, 1, base) == ["scratch:z", "y", "scratch:x", "scratch:w"]
    assert keep_top_k(order, 10, base) == order
    assert keep_top_k(order, 2) == ["scratch:z", "y"]  # no baselines known: plain top-k
    assert keep_top_k(["scratch:a", "scratch:b", "scratch:c"], 2, ["scratch:a", "scratch:b", "scratch:c"]) == [
        "scratch:a", "scratch:b"]  # nothing pretrained: the scores are all there is
    res = RankResult(table={c: {"ensemble": 1.0 - i / 10} for i, c in enumerate(order)}, scores=[],
                     info={"baselines": base})
    assert res.kept(1) == keep_top_k(res.order(), 1, base)


def test_parse_scores():
    assert parse_scores("lfc, LogME,knn,lfc") == ["lfc", "logme", "knn"]
    with pytest.raises(ConfigError, match="choose from"):
        parse_scores("lfc,hscore")


def test_rank_top_k_says_what_a_run_would_keep_and_drop(capsys):
    """`rank --top-k K`: a column with `run --top-k K`'s verdict per candidate (the K best pretrained by the
    ensemble, every random-init baseline kept)."""
    from hf_quicktune.commands.rank import _print_table

    table = {"y": {"knn": 0.7, "ensemble": 0.9}, "x": {"knn": 0.8, "ensemble": 0.5},
             "scratch:w": {"knn": 0.0, "ensemble": 0.0}, "z": {"knn": 0.1, "ensemble": 0.2}}
    res = RankResult(table=table, scores=["knn"], dataset="d", n=8, info={"baselines": ["scratch:w"]})
    _print_table(res, "ensemble", "zoo", top_k=1)
    cells = [[c.strip() for c in line.split("│")] for line in capsys.readouterr().out.splitlines()]
    verdict = {row[2]: row[-2] for row in cells if len(row) > 3 and row[2] in table}
    assert verdict == {"y": "kept", "x": "dropped", "z": "dropped", "scratch:w": "kept"}
    _print_table(res, "ensemble", "zoo")
    assert "--top-k" not in capsys.readouterr().out.split("All scores")[0]  # no column unless asked
