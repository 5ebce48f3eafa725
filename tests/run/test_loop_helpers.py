"""Pure helpers of the run's search setup: model features for the optimizer, batch sizes that fit the data."""

from __future__ import annotations

import math

from hf_quicktune.run.search_setup import zero_cost_features as _model_features


def test_only_finite_model_properties_common_to_all_kept_candidates():
    ranking = {
        "kept": ["a", "b"],
        "table": {
            "a": {"lfc": 0.2, "logme": 1.5, "lgc": math.nan, "leep": -1.0, "ensemble": 1.0,
                  "num_params": 4_000_000, "feature_seconds": 3.2, "model_seconds": 2.1},
            "b": {"lfc": 0.1, "logme": 0.9, "lgc": 0.3, "ensemble": 0.0,
                  "num_params": 1_000_000, "feature_seconds": 0.4, "model_seconds": 0.2},
            "c": {"lfc": 0.0},  # not kept: ignored
        },
    }
    feats = _model_features(ranking)
    assert set(feats) == {"a", "b"}
    # lgc is NaN for a, leep missing for b, feature_seconds and model_seconds are timings of this machine
    assert set(feats["a"]) == {"lfc", "logme", "ensemble", "num_params"}
    assert feats["b"]["num_params"] == 1_000_000.0


def test_no_common_feature_gives_none():
    assert _model_features({"kept": ["a"], "table": {"a": {"feature_seconds": 1.0}}}) is None


def test_batch_sizes_fit_the_images_trained_per_epoch():
    from hf_quicktune.constants import recipes_dir
    from hf_quicktune.run.search_setup import fit_batch_sizes as _fit_batch_sizes
    from hf_quicktune.search.space import Space

    space = Space.from_yaml(str(recipes_dir() / "spaces" / "quicktune.yaml"))
    small = _fit_batch_sizes(space, train_size=256)
    assert max(small.hps["batch_size"].choices) == 64
    assert all(c["batch_size"] <= 64 for c in small.with_choices("model", ["m"]).sample(50, seed=0))
    assert _fit_batch_sizes(space, train_size=100_000).hps["batch_size"].choices == space.hps["batch_size"].choices
    assert _fit_batch_sizes(space, train_size=3).hps["batch_size"].choices == [2]  # never empty


def test_score_features_off_leaves_only_the_descriptors():
    from hf_quicktune.run.search_setup import model_features
    from hf_quicktune.zoo import get_candidate

    name = "scratch:resnet10t"
    ranking = {"kept": [name], "table": {name: {"lfc": 0.2, "logme": 1.5, "knn": 0.7}}}
    candidates = {name: get_candidate(name)}
    on = model_features(ranking, candidates, 32)
    off = model_features(ranking, candidates, 32, scores=False)
    assert {"lfc", "logme", "knn"} <= set(on[name])
    assert not {"lfc", "logme", "knn"} & set(off[name]) and set(off[name]) == set(on[name]) - {"lfc", "logme", "knn"}
    assert off[name]  # the descriptors stay


def test_local_workers_train_a_no_search_run_in_process_and_a_search_on_ray(tmp_path, monkeypatch):
    """A budget too small to search trains one configuration: ``--workers 2`` on this machine would only split
    its cores with trials that cannot beat it, so it trains in-process (and says so); a search gets Ray, and so
    does a cluster (``--ray-address``) either way. Ray itself is replaced here: only the choice is tested."""
    import io

    from hf_quicktune.run import ray_executor
    from hf_quicktune.run.executor import InProcessExecutor
    from hf_quicktune.run.loop import make_executor
    from hf_quicktune.run.progress import PlainReporter
    from hf_quicktune.run.settings import RunSettings
    from hf_quicktune.run.state import RunState

    class FakeRay:
        def __init__(self, *args, **kwargs):
            pass

    monkeypatch.setattr(ray_executor, "RayExecutor", FakeRay)
    state = RunState(tmp_path)
    two = RunSettings(dataset="builtin:digits", budget="1m", workers=2).validate()
    out = io.StringIO()
    assert isinstance(make_executor(two, state, {}, None, PlainReporter(out), searching=False), InProcessExecutor)
    assert "--workers 2: a budget too small to search trains one configuration, so it trains in this process" \
        in out.getvalue()
    assert isinstance(make_executor(two, state, {}, None, PlainReporter(io.StringIO())), FakeRay)
    cluster = RunSettings(dataset="builtin:digits", budget="1m", workers=2, ray_address="auto").validate()
    assert isinstance(make_executor(cluster, state, {}, None, PlainReporter(io.StringIO()), searching=False), FakeRay)
    one = RunSettings(dataset="builtin:digits", budget="1m").validate()
    out = io.StringIO()
    assert isinstance(make_executor(one, state, {}, None, PlainReporter(out), searching=False), InProcessExecutor)
    assert out.getvalue() == ""
