"""Deep-kernel GP surrogate, cost model, feature encoding and the Prior round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hf_quicktune.errors import MetaError
from hf_quicktune.search.cost import CostModel
from hf_quicktune.search.features import FeatureEncoder, FeatureScaler
from hf_quicktune.search.prior import Prior
from hf_quicktune.search.space import Space
from hf_quicktune.search.surrogate import DeepKernelSurrogate

from .simulator import MODEL_FEATURES, CurveSimulator, toy_space

META_ROWS = [{"n": 100, "c": 2}, {"n": 1000, "c": 10}, {"n": 50000, "c": 100}]


def encoder(max_epochs: int = 6, models: bool = True, meta: bool = True) -> FeatureEncoder:
    return FeatureEncoder.fit(toy_space(), max_epochs, model_features=MODEL_FEATURES if models else None,
                              meta_features=META_ROWS if meta else None)


def dataset(sim: CurveSimulator, enc: FeatureEncoder, rows: range, epoch_of=lambda i: 1 + i % 6):
    ids = list(rows)
    epochs = [epoch_of(i) for i in ids]
    X = enc.encode([sim.pool[i] for i in ids], epochs, [sim.curves[i, : e - 1] for i, e in zip(ids, epochs)],
                   meta_features={"n": 1000, "c": 10}, model_features=MODEL_FEATURES)
    y = np.array([sim.curves[i, e - 1] for i, e in zip(ids, epochs)], dtype=np.float32)
    return X, y


def test_encoder_dims_and_unknown_models():
    enc = encoder()
    assert enc.excluded == ("model",)
    assert enc.config_dim == toy_space().dim - 3
    assert enc.n_models == 4  # 3 models + the unknown slot
    assert (enc.model_feature_dim, enc.meta_dim) == (1, 2)
    cfg = dict(toy_space().sample(1)[0], model="never-seen")
    X = enc.encode([cfg], [3], [[0.1, 0.2, 0.3, 0.4]], meta_features={"n": 10, "c": 2}, model_features={})
    assert X.model_index.tolist() == [0]
    assert X.model_features.tolist() == [[0.0]]  # missing features -> the training mean
    assert X.curve[0].tolist() == pytest.approx([0.1, 0.2, 0, 0, 0, 0])  # only epochs before the target
    assert X.budget.tolist() == pytest.approx([0.5])


def test_scaler_round_trip_and_log_standardisation():
    sc = FeatureScaler.fit(META_ROWS)
    z = sc.transform(META_ROWS)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-5)
    again = FeatureScaler.from_dict(sc.to_dict())
    np.testing.assert_array_equal(again.transform([{"n": 777, "c": 3}]), sc.transform([{"n": 777, "c": 3}]))
    assert sc.transform([{"n": 777}])[0, 0] == 0.0  # missing value -> mean


def test_every_parameter_is_used_in_the_forward_pass():
    """The reference defined a layer its forward never used; here every weight gets a gradient."""
    sim = CurveSimulator(n=24, max_epochs=6)
    enc = encoder()
    for model in (DeepKernelSurrogate(enc), CostModel(enc)):
        X, y = dataset(sim, enc, range(24))
        if isinstance(model, CostModel):
            model.fit(X, sim.costs[:24, 0], steps=0)
            loss = model.loss(X, sim.costs[:24, 0])
        else:
            loss = model.loss(X, y)
        model.zero_grad()
        loss.backward()
        unused = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
        assert not unused, unused


def test_surrogate_fits_curves_better_than_the_mean():
    sim = CurveSimulator(n=120, max_epochs=6, seed=2)
    enc = encoder()
    Xtr, ytr = dataset(sim, enc, range(90))
    Xte, yte = dataset(sim, enc, range(90, 120))
    sur = DeepKernelSurrogate(enc)
    first = float(sur.loss(Xtr, torch.as_tensor(ytr)).detach())
    last = sur.fit(Xtr, ytr, steps=60, lr=1e-2, warm_start=False)
    assert last < first
    mean, std = sur.predict(Xte)
    assert mean.shape == std.shape == (30,) and np.all(std > 0)
    mse = float(np.mean((mean - yte) ** 2))
    baseline = float(np.mean((ytr.mean() - yte) ** 2))
    assert mse < 0.5 * baseline, (mse, baseline)


def test_fit_warm_start_versus_reset():
    sim = CurveSimulator(n=20, max_epochs=6)
    enc = encoder()
    X, y = dataset(sim, enc, range(20))
    sur = DeepKernelSurrogate(enc)
    init = {k: v.clone() for k, v in sur.state_dict().items()}
    sur.fit(X, y, steps=5, lr=1e-2)
    sur.reset()
    assert all(torch.equal(init[k], v) for k, v in sur.state_dict().items())
    sur.fit(X, y, steps=5, lr=1e-2)
    sur.mark_initial()
    trained = {k: v.clone() for k, v in sur.state_dict().items()}
    sur.fit(X, y, steps=0, warm_start=False)
    assert all(torch.equal(trained[k], v) for k, v in sur.state_dict().items())


def test_predict_without_data_returns_the_prior():
    enc = encoder(models=False, meta=False)
    sim = CurveSimulator(n=4, max_epochs=6)
    X, _ = dataset(sim, enc, range(4))
    mean, std = DeepKernelSurrogate(enc).predict(X)
    assert np.allclose(mean, mean[0]) and np.all(std > 0)


def test_cost_model_clamps_to_a_positive_minimum_and_learns_online():
    sim = CurveSimulator(n=60, max_epochs=6)
    enc = encoder()
    X, _ = dataset(sim, enc, range(60), epoch_of=lambda i: 1)
    costs = sim.costs[:60, 0]
    cm = CostModel(enc, min_seconds=0.5)
    assert np.all(cm.predict(X) == 1.0)  # before any cost was seen: the default
    before = float(np.mean((np.log(np.full(60, 1.0)) - np.log(costs)) ** 2))
    cm.update(X, costs, steps=150, lr=1e-2)
    pred = cm.predict(X)
    after = float(np.mean((np.log(pred) - np.log(costs)) ** 2))
    assert after < 0.25 * before
    large = np.array([c["model"] == "large" for c in sim.pool[:60]])
    assert pred[large].mean() > pred[~large].mean()  # large models take longer
    tiny = CostModel(enc, min_seconds=0.5)
    tiny.fit(X, np.full(60, 1e-6), steps=20, lr=1e-2)
    assert np.all(tiny.predict(X) >= 0.5)  # clamped, never 0 or 1e-6
    with pytest.raises(ValueError):
        CostModel(enc, min_seconds=0.0)


def test_prior_save_load_round_trip(tmp_path):
    sim = CurveSimulator(n=30, max_epochs=6)
    prior = Prior.create(encoder(), provenance={"meta_dataset": "toy", "steps": 3})
    X, y = dataset(sim, prior.encoder, range(30))
    prior.surrogate.fit(X, y, steps=3, lr=1e-2)
    prior.cost_model.fit(X, sim.costs[:30, 0], steps=3)
    prior.save(tmp_path / "prior")
    assert sorted(p.name for p in (tmp_path / "prior").iterdir()) == [
        "cost_model.safetensors", "prior.json", "surrogate.safetensors"]
    loaded = Prior.load(tmp_path / "prior")
    assert loaded.provenance == {"meta_dataset": "toy", "steps": 3}
    assert loaded.encoder.space == prior.encoder.space
    assert loaded.encoder.to_dict() == prior.encoder.to_dict()
    X2, _ = dataset(sim, loaded.encoder, range(30))
    loaded.surrogate.condition(X2, y)
    m1, s1 = prior.surrogate.predict(X)
    m2, s2 = loaded.surrogate.predict(X2)
    np.testing.assert_allclose(m1, m2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s1, s2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(prior.cost_model.predict(X), loaded.cost_model.predict(X2), rtol=1e-5)


def test_prior_load_errors(tmp_path):
    with pytest.raises(MetaError, match="no prior.json"):
        Prior.load(tmp_path)
    (tmp_path / "prior.json").write_text('{"format": "something-else"}')
    with pytest.raises(MetaError, match="format"):
        Prior.load(tmp_path)


def test_space_without_model_key():
    space = Space.from_yaml(__import__("pathlib").Path(__file__).resolve().parents[2] / "recipes/spaces/lcbench.yaml")
    enc = FeatureEncoder.fit(space, 52, meta_features=[{"num_instances": 1000}, {"num_instances": 50000}])
    assert enc.n_models == 0 and enc.excluded == () and enc.config_dim == 7
    pool = space.sample(5)
    X = enc.encode(pool, [1] * 5, [[]] * 5, meta_features={"num_instances": 3000})
    mean, std = DeepKernelSurrogate(enc).predict(X)
    assert mean.shape == (5,)


def test_conditioning_accessors():
    sim = CurveSimulator(n=10, max_epochs=6)
    enc = encoder()
    X, y = dataset(sim, enc, range(10))
    sur = DeepKernelSurrogate(enc)
    prior_mean, _ = sur.predict(X)
    assert sur.conditioning is None
    sur.condition(X, y)
    assert sur.conditioning is not None and torch.equal(sur.conditioning[1], torch.as_tensor(y))
    post_mean, _ = sur.predict(X)
    assert not np.allclose(post_mean, prior_mean)
    sur.clear_condition()
    np.testing.assert_allclose(sur.predict(X)[0], prior_mean)


def test_latent_std_excludes_the_observation_noise():
    """EI is defined on the latent accuracy: at a conditioning input the latent std is below the
    noise std, the predictive (noisy) std above it, and both share the mean."""
    sim = CurveSimulator(n=20, max_epochs=6)
    enc = encoder()
    X, y = dataset(sim, enc, range(20))
    sur = DeepKernelSurrogate(enc)
    sur.fit(X, y, steps=30, lr=1e-2)
    noise_sd = float(sur.likelihood.noise.detach().sqrt())
    m_noisy, s_noisy = sur.predict(X)
    m_latent, s_latent = sur.predict(X, noise=False)
    assert np.allclose(m_noisy, m_latent)
    assert np.all(s_noisy >= noise_sd * 0.999)
    assert np.all(s_latent < s_noisy)
    assert np.median(s_latent) < noise_sd
    np.testing.assert_allclose(s_noisy ** 2, s_latent ** 2 + noise_sd ** 2, rtol=1e-3, atol=1e-7)


def test_posterior_is_gpytorchs_exact_posterior():
    """predict() computes the exact GP posterior (no LOVE approximation): same mean and variances as
    gpytorch's exact prediction, latent and with noise, and never a negative latent variance."""
    import gpytorch

    sim = CurveSimulator(n=40, max_epochs=6)
    enc = encoder()
    X, y = dataset(sim, enc, range(40))
    sur = DeepKernelSurrogate(enc)
    sur.fit(X[:30], y[:30], steps=30, lr=1e-2)
    mean, std = sur.predict(X[30:])
    _, latent = sur.predict(X[30:], noise=False)
    sur.eval()
    with torch.no_grad(), gpytorch.settings.fast_pred_var(False):
        f = sur.gp(sur.feature_extractor(X[30:]))
        obs = sur.likelihood(f)
    np.testing.assert_allclose(mean, obs.mean.numpy(), atol=1e-5)
    np.testing.assert_allclose(std, obs.variance.sqrt().numpy(), atol=1e-5)
    np.testing.assert_allclose(latent, f.variance.clamp_min(0).sqrt().numpy(), atol=1e-4)
    assert np.all(latent > 0)


def test_schedule_grid_reads_a_curve_at_the_same_points_of_another_schedule():
    from hf_quicktune.search.features import schedule_grid

    curve = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]  # epochs 1-6 of a 12-epoch schedule
    # on a 4-epoch grid, slot j is epoch 3j of 12: the 6 observed epochs reach slots 1-2
    np.testing.assert_allclose(schedule_grid(curve, 12, 4), [0.3, 0.6])
    # a 3-epoch schedule on a 6-epoch grid: slot j is epoch j / 2; before the first epoch, its score
    np.testing.assert_allclose(schedule_grid([0.2, 0.4, 0.8], 3, 6), [0.2, 0.2, 0.3, 0.4, 0.6, 0.8])
    # a 7-epoch schedule on a 2-epoch grid: 3 epochs reach no slot (the first is epoch 3.5)
    assert schedule_grid([0.1, 0.2, 0.3], 7, 2).shape == (0,)
    np.testing.assert_allclose(schedule_grid([0.1, 0.2, 0.3, 0.4], 7, 2), [0.35])
    # the same schedule: the curve itself
    np.testing.assert_allclose(schedule_grid([0.1, 0.5], 6, 6), [0.1, 0.5])


def test_the_encoder_reads_another_schedule_relative_to_its_own():
    enc = encoder(max_epochs=6)
    sim = CurveSimulator(n=4, max_epochs=12, seed=0)
    cfgs = [sim.pool[0]] * 3
    curve = list(sim.curves[0, :8])
    kw = dict(meta_features={"n": 1000, "c": 10}, model_features=MODEL_FEATURES)
    same = enc.encode(cfgs, [3, 6, 9], [curve] * 3, **kw)
    rel = enc.encode(cfgs, [3, 6, 9], [curve] * 3, schedule_epochs=12, **kw)
    # epoch e of 12 is the point e / 12 (epoch e of the encoder's 6 would be e / 6, past 1 at e = 9)
    np.testing.assert_allclose(same.budget.numpy(), [0.5, 1.0, 1.5])
    np.testing.assert_allclose(rel.budget.numpy(), [0.25, 0.5, 0.75])
    # the 8 epochs seen before epoch 9 of 12 fill 4 of the 6-epoch grid's slots: epochs 2, 4, 6, 8
    np.testing.assert_allclose(rel.curve[2, :4].numpy(), [curve[1], curve[3], curve[5], curve[7]], rtol=1e-6)
    assert float(rel.curve[2, 4:].abs().sum()) == 0.0
    np.testing.assert_allclose(rel.seen.numpy(), [1 / 6, 2 / 6, 4 / 6], rtol=1e-6)
    # the configuration, model and dataset inputs do not depend on the schedule
    for name in ("config", "model_index", "model_features", "meta"):
        assert torch.equal(getattr(same, name), getattr(rel, name))
    # a schedule of the encoder's own length is encoded as without one
    own = enc.encode(cfgs, [3, 6, 9], [curve] * 3, schedule_epochs=6, **kw)
    for name in ("budget", "curve", "seen"):
        assert torch.equal(getattr(own, name), getattr(same, name))
