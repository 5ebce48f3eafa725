"""Meta-training the prior on a tiny synthetic meta-dataset; priors per held-out fold; Hub round trip."""

from __future__ import annotations

import numpy as np
import pytest

from hf_quicktune.meta.synthetic import make_synthetic
from hf_quicktune.meta.train import MetaTrainConfig, meta_train, split_datasets


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    md = make_synthetic(n_datasets=6, n_configs=40, max_epochs=10, seed=0, models=True)
    cfg = MetaTrainConfig(steps=80, val_every=20, val_episodes=6, patience=10, lr=3e-3)
    result = meta_train(md, cfg)
    path = result.prior.save(tmp_path_factory.mktemp("prior"))
    return md, result, path


def test_split_datasets_is_disjoint_and_complete():
    names = [f"d{i}" for i in range(10)]
    s = split_datasets(names, (0.6, 0.2, 0.2), seed=3)
    assert sorted(s["train"] + s["val"] + s["test"]) == sorted(names)
    assert (len(s["train"]), len(s["val"]), len(s["test"])) == (6, 2, 2)
    assert split_datasets(names, (0.6, 0.2, 0.2), seed=3) == s
    two = split_datasets(["a", "b"], (0.6, 0.2, 0.2), seed=0)
    assert len(two["train"]) == 1 and len(two["val"]) == 1 and two["test"] == []


def test_meta_training_learns_and_keeps_splits_apart(trained):
    md, result, _ = trained
    s = result.splits
    assert not set(s["train"]) & (set(s["val"]) | set(s["test"]))
    # the scaler of dataset meta-features is fitted on the train datasets only
    scaler = result.prior.encoder.meta_scaler
    train_mf = np.log1p(md.meta_features.loc[s["train"], scaler.names].to_numpy())
    np.testing.assert_allclose(scaler.mean, train_mf.mean(axis=0), rtol=1e-6)
    # held-out datasets: the conditioned surrogate beats predicting the context mean
    assert result.test_mse < result.baseline_test_mse
    assert result.history and result.best_step in [h["step"] for h in result.history]
    assert result.val_mse == min(h["val_mse"] for h in result.history)


def test_prior_round_trip_predicts_the_same(trained):
    from hf_quicktune.search.prior import Prior

    md, result, path = trained
    loaded = Prior.load(path)
    assert loaded.provenance["splits"] == result.splits
    cfgs = [dict(md.configs[i], model=md.models[i]) for i in range(5)]
    inputs = loaded.encoder.encode(cfgs, [3] * 5, [md.curves[i, :2] for i in range(5)],
                                   meta_features=md.meta_features.iloc[0].to_dict())
    np.testing.assert_allclose(loaded.surrogate.predict(inputs)[0], result.prior.surrogate.predict(inputs)[0],
                               rtol=1e-5)
    np.testing.assert_allclose(loaded.cost_model.predict(inputs), result.prior.cost_model.predict(inputs), rtol=1e-5)
    assert (path / "zero_shot.json").is_file() and loaded.zero_shot is not None
    x = np.random.default_rng(0).normal(size=(7, loaded.zero_shot.n_features))
    np.testing.assert_array_equal(loaded.zero_shot.predict(x), result.prior.zero_shot.predict(x))


def test_fold_prior_refuses_leakage(tmp_path):
    from hf_quicktune.bench.priors import fold_prior

    md = make_synthetic(n_datasets=3, n_configs=10, max_epochs=4)
    with pytest.raises(ValueError, match="held-out"):
        fold_prior(md, ["synth_0"], tmp_path / "p", steps=2)


@pytest.mark.hub
def test_push_and_load_prior_from_hub(hub, trained):
    import uuid

    from hf_quicktune.meta.hub import load_prior, push_prior

    md, result, path = trained
    me = hub.api.whoami()["name"]
    repo_id = f"{me}/prior-{uuid.uuid4().hex[:6]}"
    push_prior(path, repo_id, endpoint=hub.endpoint)
    files = set(hub.api.list_repo_files(repo_id))
    assert {"prior.json", "surrogate.safetensors", "cost_model.safetensors", "zero_shot.json", "README.md"} <= files
    loaded = load_prior(repo_id, endpoint=hub.endpoint)
    assert loaded.provenance["splits"] == result.splits
    x = np.random.default_rng(0).normal(size=(7, loaded.zero_shot.n_features))
    np.testing.assert_array_equal(loaded.zero_shot.predict(x), result.prior.zero_shot.predict(x))
    for k, v in result.prior.surrogate.tensors().items():
        assert np.allclose(loaded.surrogate.tensors()[k].numpy(), v.numpy())


def test_meta_info_takes_a_prior_as_run_prior_does(hub, trained, tmp_path, capsys):
    """`meta info` reads what `run --prior` takes: a directory, `default` (the shipped prior) or a Hub repo id."""
    import json
    import uuid

    from hf_quicktune.cli import main
    from hf_quicktune.meta.hub import push_prior

    _, result, path = trained
    repo_id = f"{hub.api.whoami()['name']}/prior-info-{uuid.uuid4().hex[:6]}"
    push_prior(path, repo_id, endpoint=hub.endpoint)
    assert main(["meta", "info", repo_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["provenance"]["splits"] == result.splits
    assert main(["meta", "info", "default", "--json"]) == 0
    shipped = json.loads(capsys.readouterr().out)
    assert shipped["provenance"]["runs"] == 4665 and shipped["zero_shot"].startswith("gradient-boosted trees")
    assert main(["meta", "info", str(tmp_path / "nowhere")]) == 2
    assert "Pass a meta-dataset file, a prior directory" in capsys.readouterr().err


@pytest.mark.hub
def test_load_prior_unknown_repo_is_a_hub_error(hub):
    from hf_quicktune.errors import HubError
    from hf_quicktune.meta.hub import load_prior

    with pytest.raises(HubError, match="not found"):
        load_prior("nobody/does-not-exist", endpoint=hub.endpoint)


def test_sampler_draws_far_ahead_and_final_queries():
    from hf_quicktune.meta.train import _Sampler, build_encoder

    md = make_synthetic(n_datasets=3, n_configs=20, max_epochs=10, seed=1)
    enc = build_encoder(md, md.dataset_names)
    rng = np.random.default_rng(0)
    near = _Sampler(md, enc, md.dataset_names, 256)
    X, _, _ = near.draw(rng)
    # the paper's pairs: the curve seen is exactly the epochs before the target
    assert np.allclose(X.seen.numpy(), X.budget.numpy() - 1 / 10)
    far = _Sampler(md, enc, md.dataset_names, 256, extrapolate=1.0)
    X, y, _ = far.draw(rng)
    gap = np.round((X.budget.numpy() - X.seen.numpy()) * 10).astype(int)
    assert (gap >= 1).all() and (gap > 1).mean() > 0.4
    assert (X.seen.numpy() == 0).mean() > 0.25  # a third start from the configuration alone (plus k = 0 draws)
    final = _Sampler(md, enc, md.dataset_names, 64, final=1.0)
    X, y, _ = final.draw(rng)
    assert np.allclose(X.budget.numpy(), 1.0)


def test_an_old_prior_version_asks_for_retraining(trained, tmp_path):
    import json
    import shutil

    from hf_quicktune.errors import MetaError
    from hf_quicktune.search.prior import Prior

    _, _, path = trained
    old = tmp_path / "old"
    shutil.copytree(path, old)
    meta = json.loads((old / "prior.json").read_text())
    meta["version"] = 1
    (old / "prior.json").write_text(json.dumps(meta))
    with pytest.raises(MetaError, match="re-train"):
        Prior.load(old)


def test_the_zero_shot_trees_are_scikit_learns_and_start_the_search(trained):
    """The prior's configuration-only start (search/zero_shot.py): scikit-learn's gradient-boosted trees on each
    meta-training run's best accuracy, predicted without scikit-learn exactly as it predicts; the optimizer's
    zero_shot is theirs (its surrogate's mean with ``zero_shot_trees=False``) and its first trial their argmax."""
    from sklearn.ensemble import GradientBoostingRegressor

    from hf_quicktune.meta.train import fit_zero_shot
    from hf_quicktune.search.quicktune import QuickTuneOptimizer
    from hf_quicktune.search.zero_shot import TreeEnsemble, zero_shot_features

    md, result, _ = trained
    prior = result.prior
    datasets = result.splits["train"] + result.splits["val"]
    trees = fit_zero_shot(md, prior.encoder, datasets)
    rows = np.concatenate([md.indices(d) for d in datasets])
    test = md.dataset_names[-1]
    idx = md.indices(test)
    pool = [dict(md.configs[i], model=md.models[i]) for i in idx]
    meta = md.meta_features.loc[test].to_dict()
    inputs = prior.encoder.encode(pool, [md.max_epochs] * len(idx), [[] for _ in idx], meta_features=meta)
    x = zero_shot_features(inputs)
    # the same fit by scikit-learn on the same rows predicts the same values
    train_inputs = [prior.encoder.encode([dict(md.configs[i], model=md.models[i]) for i in md.indices(d)],
                                         [md.max_epochs] * len(md.indices(d)), [[] for _ in md.indices(d)],
                                         meta_features=md.meta_features.loc[d].to_dict()) for d in datasets]
    gbr = GradientBoostingRegressor(random_state=0).fit(np.vstack([zero_shot_features(t) for t in train_inputs]),
                                                        np.nanmax(md.curves[rows], axis=1))
    np.testing.assert_allclose(trees.predict(x), gbr.predict(x.astype(np.float32)), rtol=1e-12, atol=1e-12)
    again = TreeEnsemble.from_dict(trees.to_dict())
    np.testing.assert_array_equal(again.predict(x), trees.predict(x))
    with pytest.raises(ValueError, match="features"):
        trees.predict(x[:, :-1])

    opt = QuickTuneOptimizer(pool, max_epochs=md.max_epochs, prior=prior, meta_features=meta, start="zero_shot")
    np.testing.assert_allclose(opt.zero_shot(range(len(pool))), prior.zero_shot.predict(x))
    mean = QuickTuneOptimizer(pool, max_epochs=md.max_epochs, prior=prior, meta_features=meta,
                              zero_shot_trees=False).zero_shot(range(len(pool)))
    assert not np.allclose(mean, prior.zero_shot.predict(x))  # the surrogate's mean is another prediction
    first = opt.ask()
    assert first.trial_id == opt.zero_shot_order(list(range(len(pool))))[0]


def test_meta_info_says_how_a_prior_starts(trained, tmp_path, capsys):
    import json
    import shutil

    from hf_quicktune.cli import main

    _, _, path = trained
    assert main(["meta", "info", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["zero_shot"].startswith("gradient-boosted trees")
    old = shutil.copytree(path, tmp_path / "old")  # a prior trained before the trees: its start is the GP's mean
    (old / "zero_shot.json").unlink()
    assert main(["meta", "info", str(old), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["zero_shot"] == "the surrogate's mean"
    from hf_quicktune.search.prior import Prior

    assert Prior.load(old).zero_shot is None


def test_the_zero_shot_trees_skip_runs_without_a_score(trained):
    """A run whose curve holds no score (a failed import row) is left out of the trees' fit, not a NaN target that
    stops meta-training; with fewer than two scored runs there are no trees (the prior starts from its mean)."""
    from hf_quicktune.meta.train import fit_zero_shot

    md, result, _ = trained
    datasets = result.splits["train"]
    broken = md.subset(md.dataset_names)
    broken.curves = broken.curves.copy()
    first = broken.indices(datasets[0])
    broken.curves[first[:3]] = np.nan
    trees = fit_zero_shot(broken, result.prior.encoder, datasets)
    assert trees is not None and np.isfinite(trees.init)
    broken.curves[:] = np.nan
    assert fit_zero_shot(broken, result.prior.encoder, datasets) is None


def test_zero_shot_trees_with_a_horizon_predict_the_best_within_the_runs_schedule(trained):
    """The horizon ablation (MetaTrainConfig.zero_shot_horizons): trees fitted on each run's best accuracy within h
    epochs, h an input, rank a fast learner first at a short schedule and a slow one that ends higher at a long one;
    the default trees (best over the whole curve) rank the slow learner first whatever the schedule, and the
    optimizer asks the trees at its own ``max_epochs``."""
    import copy

    from hf_quicktune.meta.train import fit_zero_shot, zero_shot_inputs
    from hf_quicktune.search.quicktune import QuickTuneOptimizer
    from hf_quicktune.search.zero_shot import TreeEnsemble

    md, result, _ = trained
    fast_model = sorted({str(m) for m in md.models})[0]
    fast = np.array([str(m) == fast_model for m in md.models])
    assert 0 < fast.sum() < len(fast)
    shaped = md.subset(md.dataset_names)
    epochs = np.arange(1, md.max_epochs + 1)
    shaped.curves = np.where(fast[:, None], 0.6, 0.9 * epochs / md.max_epochs)[:, :].astype(md.curves.dtype)
    datasets = result.splits["train"] + result.splits["val"]
    aware = fit_zero_shot(shaped, result.prior.encoder, datasets, horizons=(1, 2, 4))
    plain = fit_zero_shot(shaped, result.prior.encoder, datasets)
    assert aware.horizon and not plain.horizon and aware.n_features == plain.n_features + 1
    test = md.dataset_names[-1]
    idx = md.indices(test)
    x = zero_shot_inputs(shaped, result.prior.encoder, idx, test)
    for h, fast_first in ((2, True), (md.max_epochs, False)):
        pred = aware.predict(x, horizon=h)
        assert (pred[fast[idx]].min() > pred[~fast[idx]].max()) == fast_first
        assert (pred[fast[idx]].max() < pred[~fast[idx]].min()) != fast_first
        flat = plain.predict(x, horizon=h)  # ignored by trees without a horizon
        assert flat[fast[idx]].max() < flat[~fast[idx]].min()
    with pytest.raises(ValueError, match="horizon"):
        aware.predict(x)
    again = TreeEnsemble.from_dict(aware.to_dict())
    np.testing.assert_array_equal(again.predict(x, horizon=3), aware.predict(x, horizon=3))
    assert "horizon" not in plain.to_dict()  # the shipped prior's file is unchanged by the option

    prior = copy.copy(result.prior)
    prior.zero_shot = aware
    pool = [dict(md.configs[i], model=md.models[i]) for i in idx]
    meta = md.meta_features.loc[test].to_dict()
    for max_epochs in (2, md.max_epochs):
        opt = QuickTuneOptimizer(pool, max_epochs=max_epochs, prior=prior, meta_features=meta, start="zero_shot")
        np.testing.assert_array_equal(opt.zero_shot(range(len(pool))), aware.predict(x, horizon=max_epochs))
