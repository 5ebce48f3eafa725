"""Extrapolating queries (``horizon="max"``), the learned GP mean, the bounded conditioning set,
the refit schedule and the cached posterior."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from hf_quicktune.search import DyHPOOptimizer, FeatureEncoder, Prior, QuickTuneOptimizer
from hf_quicktune.search.base import Optimizer
from hf_quicktune.search.surrogate import DeepKernelSurrogate

from .contract import OptimizerContract
from .simulator import MODEL_FEATURES, CurveSimulator, toy_space

FAST = dict(full_refit_steps=4, refit_steps=2, cost_steps=2, full_refit_until=3)
META = {"num_instances": 500, "num_classes": 5}


def tiny_prior(seed: int = 0, mean: str = "mlp") -> Prior:
    enc = FeatureEncoder.fit(toy_space(), 4, model_features=MODEL_FEATURES,
                             meta_features=[{"num_instances": 100, "num_classes": 2},
                                            {"num_instances": 5000, "num_classes": 50}])
    return Prior.create(enc, seed=seed, mean=mean)


class TestQuickTuneMaxHorizonContract(OptimizerContract):
    steps = 10
    prior = tiny_prior()

    def make_optimizer(self, pool, max_epochs, seed):
        return QuickTuneOptimizer(pool, max_epochs=max_epochs, seed=seed, prior=self.prior, meta_features=META,
                                  model_features=MODEL_FEATURES, horizon="max", **FAST)


def test_encoder_marks_how_much_of_the_curve_was_seen():
    enc = FeatureEncoder.fit(toy_space(), 6)
    cfg = toy_space().sample(3, seed=0)
    X = enc.encode(cfg, [4, 6, 3], [[0.1, 0.2, 0.3, 0.4, 0.5], [0.1], [0.1, 0.2, 0.3]])
    # next-epoch query (cut to epochs 1..3), 5 epochs ahead from one epoch, next-epoch query
    assert X.seen.tolist() == pytest.approx([3 / 6, 1 / 6, 2 / 6])
    assert X.budget.tolist() == pytest.approx([4 / 6, 1.0, 3 / 6])
    assert X.curve[0].tolist() == pytest.approx([0.1, 0.2, 0.3, 0, 0, 0])
    assert X.curve[1].tolist() == pytest.approx([0.1, 0, 0, 0, 0, 0])


def test_bad_horizon_is_rejected():
    with pytest.raises(ValueError, match="horizon"):
        DyHPOOptimizer(CurveSimulator(n=5).pool, max_epochs=3, horizon="final")


def test_max_horizon_scores_final_accuracy_against_the_global_incumbent():
    sim = CurveSimulator(n=12, max_epochs=5)
    opt = QuickTuneOptimizer(sim.pool, max_epochs=5, prior=tiny_prior(), meta_features=META,
                             model_features=MODEL_FEATURES, horizon="max", **FAST)
    sim.run(opt, 6)
    ids = opt.candidates()
    assert all(opt.target_epoch(i) == 5 for i in ids)
    X, y, c = opt._training_data()
    n_trials = sum(1 for st in opt.trials.values() if st.scores)
    assert len(y) == len(opt._obs) + n_trials  # one configuration-only point per trial
    assert np.isnan(c[len(opt._obs):]).all()  # ... which has no cost of its own
    assert (X.seen[len(opt._obs):] == 0).all()
    # the incumbent of every candidate is the best score seen at any epoch
    mean, std, cost = opt.predict(ids, noise=False)
    from hf_quicktune.search.acquisition import acquisition_scores

    scale = np.array([opt.uncertainty_scale(opt._forecast_kind(i)) for i in ids])
    expected = acquisition_scores("ei_per_cost", mean, scale * std, np.full(len(ids), opt.best()[2]), cost)
    assert np.allclose(opt.acquisition_values(ids), expected)


def test_conditioning_set_is_bounded_and_keeps_each_trials_newest_point():
    sim = CurveSimulator(n=10, max_epochs=8)
    opt = DyHPOOptimizer(sim.pool, max_epochs=8, space=sim.space, max_condition=12, **FAST)
    for t in range(6):  # 6 trials x 4 epochs = 24 observations
        for e in range(1, 5):
            Optimizer.tell(opt, t, e, *sim.observe(t, e)[:2])
            opt._add_observation(t, e)
    opt._refit()
    X_cond, y_cond = opt.surrogate.conditioning
    assert len(y_cond) == 12
    for v in sim.curves[:6, 3]:  # every trial's epoch-4 score is among the conditioned targets
        assert np.isclose(y_cond.numpy(), v, atol=1e-6).any()
    # a larger bound conditions on everything
    opt.max_condition = 100
    opt._refit()
    assert len(opt.surrogate.conditioning[1]) == 24


def test_refit_schedule_fits_weights_less_often_than_it_conditions():
    sim = CurveSimulator(n=40, max_epochs=6)
    every = DyHPOOptimizer(sim.pool, max_epochs=6, space=sim.space, refit_every=0.0, **FAST)
    sparse = DyHPOOptimizer(sim.pool, max_epochs=6, space=sim.space, refit_every=0.25, **FAST)
    sim.run(every, 40)
    sim.run(sparse, 40)
    every.predict([0]), sparse.predict([0])  # the 40th observation is fitted when a decision needs it
    assert every.n_refits == 40
    assert FAST["full_refit_until"] <= sparse.n_refits < 20
    # ... but the posterior always includes the newest observation
    assert len(sparse.surrogate.conditioning[1]) == len(sparse._obs) == 40


def test_cached_posterior_matches_a_fresh_computation_and_follows_weight_changes():
    sim = CurveSimulator(n=30, max_epochs=6)
    enc = FeatureEncoder.fit(toy_space(), 6, model_features=MODEL_FEATURES)
    ids = list(range(20))
    X = enc.encode([sim.pool[i] for i in ids], [3] * 20, [sim.curves[i, :2] for i in ids],
                   model_features=MODEL_FEATURES)
    y = sim.curves[ids, 2].astype(np.float32)
    s = DeepKernelSurrogate(enc, seed=0)
    s.fit(X[:15], y[:15], steps=3, lr=1e-2)
    first = s.predict(X[15:])
    fresh = copy.deepcopy(s)
    fresh._cache = None
    assert np.allclose(first[0], fresh.predict(X[15:])[0]) and np.allclose(first[1], fresh.predict(X[15:])[1])
    s.fit(X[:15], y[:15], steps=5, lr=5e-2)  # new weights: the cache must not be reused
    after = s.predict(X[15:])
    fresh2 = copy.deepcopy(s)
    fresh2._cache = None
    assert np.allclose(after[0], fresh2.predict(X[15:])[0])
    assert not np.allclose(after[0], first[0])


def test_learned_mean_ranks_configurations_without_observations():
    """An MLP GP mean trained with the mean-MSE term predicts from the configuration alone; a
    constant mean cannot (its prior prediction is the same for every input)."""
    torch.manual_seed(0)
    sim = CurveSimulator(n=120, max_epochs=6, seed=3)
    enc = FeatureEncoder.fit(toy_space(), 6, model_features=MODEL_FEATURES)
    X = enc.encode(sim.pool, [6] * 120, [[]] * 120, model_features=MODEL_FEATURES)
    y = torch.tensor(sim.curves[:, -1], dtype=torch.float32)
    preds = {}
    for mean in ("mlp", "constant"):
        s = DeepKernelSurrogate(enc, seed=0, mean=mean)
        opt = torch.optim.Adam(s.parameters(), lr=1e-2)
        for _ in range(300):
            opt.zero_grad()
            loss = s.loss(X[:80], y[:80], mean_weight=10.0 if mean == "mlp" else 0.0)
            loss.backward()
            opt.step()
        s.clear_condition()
        preds[mean] = s.predict(X[80:])[0]
    assert spearmanr(preds["mlp"], sim.curves[80:, -1])[0] > 0.45  # 0.65 measured (40 held-out configurations)
    assert np.ptp(preds["constant"]) == pytest.approx(0.0, abs=1e-9)


def test_prior_keeps_its_mean_kind(tmp_path):
    prior = tiny_prior(mean="mlp")
    prior.save(tmp_path / "p")
    loaded = Prior.load(tmp_path / "p")
    assert loaded.surrogate.mean == "mlp"
    for k, v in prior.surrogate.tensors().items():
        assert torch.equal(v, loaded.surrogate.tensors()[k])


def test_predict_final_forecasts_each_trial_at_the_end_of_its_schedule_from_its_curve():
    """The forecast benchmarks/finish_choice.py compares paused trials by: the latent accuracy at ``max_epochs``
    from each trial's curve so far, whatever epoch it paused at; the acquisition's ``predict`` scores the next
    epoch instead."""
    sim = CurveSimulator(n=12, max_epochs=5)
    opt = QuickTuneOptimizer(sim.pool, max_epochs=5, prior=tiny_prior(), meta_features=META,
                             model_features=MODEL_FEATURES, **FAST)
    sim.run(opt, 6)
    ids = sorted(opt.trials)
    mean, std = opt.predict_final(ids)
    assert mean.shape == std.shape == (len(ids),) and np.isfinite(mean).all() and (std >= 0).all()
    at_end = opt.surrogate.predict(opt._encode(ids, [5] * len(ids), opt._curves(ids)), noise=False)
    assert np.allclose(mean, at_end[0]) and np.allclose(std, at_end[1])
    next_epoch = opt.surrogate.predict(opt._encode(ids, [opt.next_epoch(i) for i in ids], opt._curves(ids)),
                                       noise=False)
    assert not np.allclose(mean, next_epoch[0])  # another epoch than the acquisition's: the forecast differs


def test_a_longer_schedule_leaves_the_trials_that_finished_the_shorter_one_finished():
    """A re-fit lengthens the schedule of the trial the end of a budget finishes (``set_max_epochs``); with several
    workers the others go on asking. A trial that had reached the old end, or is in flight to it, finished there
    (its learning rate annealed): it is never suggested or continued again, also after a resume; the trials short
    of it go on to the new end. A shorter schedule closes nothing."""
    sim = CurveSimulator(n=6, max_epochs=6)  # curves long enough for the longer schedule
    opt = QuickTuneOptimizer(sim.pool, max_epochs=4, seed=0, **FAST)
    for tid, epochs in ((0, 4), (1, 2), (2, 3)):
        for e in range(1, epochs + 1):
            opt.tell(tid, e, *sim.observe(tid, e))
    opt.in_flight[2] = 4  # on another worker, to the old end
    opt.set_max_epochs(6)
    assert opt.closed == {0, 2} and opt.is_done(0) and opt.is_done(2) and not opt.is_done(1)
    with pytest.raises(ValueError, match="cannot be continued"):
        opt.continue_trial(0)
    opt.tell(2, 4, *sim.observe(2, 4))
    assert opt.continue_trial(1).epoch == 3  # short of the old end: on to the new one
    opt.release(1)
    again = QuickTuneOptimizer(sim.pool, max_epochs=4, seed=0, **FAST)
    again.load_state_dict(opt.state_dict())
    assert again.closed == {0, 2} and again.max_epochs == 6
    seen = set()
    while (s := again.ask()) is not None:
        seen.add(s.trial_id)
        again.tell(s.trial_id, s.epoch, *sim.observe(s.trial_id, s.epoch))
    assert not seen & {0, 2} and again.trials[1].epochs == 6  # the search ran to its end without them
    shorter = QuickTuneOptimizer(sim.pool, max_epochs=4, seed=0, **FAST)
    shorter.tell(0, 1, *sim.observe(0, 1))
    shorter.set_max_epochs(1)
    shorter.set_max_epochs(4)
    assert shorter.closed == {0}  # it had reached the 1-epoch end
