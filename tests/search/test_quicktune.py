"""QuickTuneOptimizer / DyHPOOptimizer: the ask/tell contract plus Quick-Tune specifics."""

from __future__ import annotations

import numpy as np
import pytest

from hf_quicktune.errors import SpaceError
from hf_quicktune.search import DyHPOOptimizer, FeatureEncoder, Prior, QuickTuneOptimizer, Space
from hf_quicktune.search.acquisition import acquisition_scores, incumbent_at, incumbents_by_budget
from hf_quicktune.search.base import TrialState

from .contract import OptimizerContract
from .simulator import MODEL_FEATURES, CurveSimulator, toy_space

FAST = dict(full_refit_steps=4, refit_steps=2, cost_steps=2, full_refit_until=3)
META = {"num_instances": 500, "num_classes": 5}


def tiny_prior(seed: int = 0) -> Prior:
    """An (untrained) prior over the toy space: enough to exercise the prior code path."""
    enc = FeatureEncoder.fit(toy_space(), 4, model_features=MODEL_FEATURES,
                             meta_features=[{"num_instances": 100, "num_classes": 2},
                                            {"num_instances": 5000, "num_classes": 50}])
    return Prior.create(enc, seed=seed)


class TestDyHPOContract(OptimizerContract):
    steps = 10

    def make_optimizer(self, pool, max_epochs, seed):
        return DyHPOOptimizer(pool, max_epochs=max_epochs, seed=seed, space=toy_space(),
                              model_features=MODEL_FEATURES, **FAST)


class TestQuickTuneContract(OptimizerContract):
    steps = 10
    prior = tiny_prior()

    def make_optimizer(self, pool, max_epochs, seed):
        return QuickTuneOptimizer(pool, max_epochs=max_epochs, seed=seed, prior=self.prior, meta_features=META,
                                  model_features=MODEL_FEATURES, **FAST)


@pytest.mark.parametrize("acquisition", ["ucb", "ei"])
def test_other_acquisitions_run_and_skip_the_cost_model(acquisition):
    sim = CurveSimulator(n=8, max_epochs=3)
    opt = DyHPOOptimizer(sim.pool, max_epochs=3, space=sim.space, acquisition=acquisition, **FAST)
    seen = sim.run(opt, 6)
    assert len(seen) == 6 and len(set(seen)) == 6
    assert not opt.cost_model.fitted  # costs only matter for ei_per_cost


def test_pool_sampled_from_a_space_with_the_seed():
    space = toy_space()
    a = DyHPOOptimizer(space, max_epochs=3, pool_size=25, seed=4, **FAST)
    b = DyHPOOptimizer(space, max_epochs=3, pool_size=25, seed=4, **FAST)
    assert len(a.pool) == 25 and a.pool == b.pool == space.sample(25, seed=4)


def test_prior_is_not_modified_by_search():
    prior = tiny_prior()
    before = {k: v.clone() for k, v in prior.surrogate.state_dict().items()}
    sim = CurveSimulator(n=8, max_epochs=4)
    opt = QuickTuneOptimizer(sim.pool, max_epochs=4, prior=prior, meta_features=META,
                             model_features=MODEL_FEATURES, **FAST)
    sim.run(opt, 5)
    after = prior.surrogate.state_dict()
    assert all(np.array_equal(before[k].numpy(), after[k].numpy()) for k in before)
    changed = opt.surrogate.state_dict()
    assert any(not np.array_equal(before[k].numpy(), changed[k].numpy()) for k in before)


def test_pool_outside_the_priors_space_is_rejected():
    prior = tiny_prior()
    pool = [{"model": "small", "lr": 0.01, "batch_size": 16, "opt": "rmsprop", "momentum": None}]
    with pytest.raises(SpaceError, match="prior's space"):
        QuickTuneOptimizer(pool, max_epochs=4, prior=prior, **FAST)


def test_overhead_is_measured_per_ask_tell_pair():
    sim = CurveSimulator(n=8, max_epochs=3)
    opt = DyHPOOptimizer(sim.pool, max_epochs=3, space=sim.space, **FAST)
    sim.run(opt, 4)
    assert len(opt.overhead_history) == 4
    assert all(t > 0 for t in opt.overhead_history)
    assert opt.overhead_seconds == pytest.approx(sum(opt.overhead_history))
    assert opt.last_overhead_seconds == opt.overhead_history[-1]
    assert opt.state_dict()["overhead_history"] == opt.overhead_history


def test_refit_is_warm_after_the_first_observations_and_full_when_the_fit_degrades():
    sim = CurveSimulator(n=10, max_epochs=3)
    opt = DyHPOOptimizer(sim.pool, max_epochs=3, space=sim.space, **FAST)
    opt.refit.degrade_tol = 1e9  # never counts as degraded
    sim.run(opt, 6)
    assert opt.n_refits == 5  # fitted at each ask: the sixth observation waits for the next decision
    opt.predict([0])
    assert opt.n_refits == 6
    assert opt.n_full_refits == 3  # the first full_refit_until=3 only
    opt.refit.degrade_tol = -1e9  # any warm update now counts as degraded
    sim.run(opt, 1)
    opt.predict([0])
    assert opt.n_full_refits == 4


def test_epochs_told_together_are_fitted_once_when_the_next_decision_needs_them():
    """A job of k epochs is told k times before the next ask: one fit, not k (each refit is the optimizer's
    costliest step); the posterior then holds all k observations. A resumed state keeps the pending fit."""
    sim = CurveSimulator(n=10, max_epochs=6)
    opt = DyHPOOptimizer(sim.pool, max_epochs=6, space=sim.space, **FAST)
    for t in (0, 1):
        for e in range(1, 4):
            opt.tell(t, e, *sim.observe(t, e)[:2])
    assert opt.n_refits == 0
    state = opt.state_dict()
    assert state["stale"] is True
    resumed = DyHPOOptimizer(sim.pool, max_epochs=6, space=sim.space, **FAST)
    resumed.load_state_dict(state)
    a, b = opt.ask(), resumed.ask()
    assert opt.n_refits == resumed.n_refits == 1
    assert len(opt.surrogate.conditioning[1]) == 6
    assert (a.trial_id, a.epoch) == (b.trial_id, b.epoch)
    assert opt.state_dict()["stale"] is False


def test_cost_model_is_updated_online_with_observed_costs():
    sim = CurveSimulator(n=10, max_epochs=3)
    opt = DyHPOOptimizer(sim.pool, max_epochs=3, space=sim.space, **FAST)
    assert not opt.cost_model.fitted
    sim.run(opt, 3)
    assert opt.cost_model.fitted
    before = opt.cost_model.tensors()
    sim.run(opt, 1)
    after = opt.cost_model.tensors()
    assert any(not np.array_equal(before[k].numpy(), after[k].numpy()) for k in before)


def test_paused_trial_cost_is_its_observed_cost_after_the_first_epoch():
    """The next epoch of a paused trial costs the mean of its epochs after the first (the first carries
    one-off costs); with only the first epoch seen, the cost model's prediction for the second is used."""
    sim = CurveSimulator(n=6, max_epochs=4)
    opt = DyHPOOptimizer(sim.pool, max_epochs=4, space=sim.space, **FAST)
    s = opt.ask()
    tid = s.trial_id
    opt.tell(tid, 1, sim.curves[tid, 0], 10.0 * sim.costs[tid, 0])  # an expensive first epoch
    _, _, cost = opt.predict([tid])
    model_cost = opt.cost_model.predict(opt._inputs([tid]))
    assert cost[0] == pytest.approx(model_cost[0])
    opt.tell(tid, 2, sim.curves[tid, 1], 2.0)
    opt.tell(tid, 3, sim.curves[tid, 2], 4.0)
    _, _, cost = opt.predict([tid])
    assert cost[0] == pytest.approx(3.0)


def test_exploits_the_better_trial_when_curves_are_clear():
    """Two trials observed for two epochs; the clearly better curve is continued, not the worse one."""
    pool = [{"x": 0.1}, {"x": 0.9}, {"x": 0.5}]
    opt = DyHPOOptimizer(pool, max_epochs=5, acquisition="ei", full_refit_steps=0, refit_steps=0, full_refit_until=10)
    for e in (1, 2):
        opt.tell(0, e, 0.2 + 0.01 * e, 1.0)
        if e == 2:
            opt.refit.full_refit_steps = 60  # train only on the last refit, to keep the test fast
        opt.tell(1, e, 0.7 + 0.1 * e, 1.0)
    s = opt.ask()
    assert s.trial_id != 0


def test_load_state_for_another_pool_is_refused():
    from hf_quicktune.errors import MetaError

    sim = CurveSimulator(n=6, max_epochs=3)
    opt = DyHPOOptimizer(sim.pool, max_epochs=3, space=sim.space, **FAST)
    sim.run(opt, 2)
    other = DyHPOOptimizer(CurveSimulator(n=6, max_epochs=3, seed=9).pool, max_epochs=3, space=sim.space, **FAST)
    with pytest.raises(MetaError, match="different candidate pool"):
        other.load_state_dict(opt.state_dict())


def test_search_and_meta_training_encode_meta_features_identically(tmp_path):
    """The reference scaled meta-features by 1/1000 at meta-training and 1/10000 at search time."""
    prior = tiny_prior()
    sim = CurveSimulator(n=5, max_epochs=4)
    # meta-training path: the prior's encoder on raw observations
    train_side = prior.encoder.encode(sim.pool, [1] * 5, [[]] * 5, meta_features=META,
                                      model_features=MODEL_FEATURES)
    prior.save(tmp_path / "p")
    opt = QuickTuneOptimizer(sim.pool, max_epochs=4, prior=Prior.load(tmp_path / "p"), meta_features=META,
                             model_features=MODEL_FEATURES, **FAST)
    search_side = opt._inputs(range(5))
    for name in ("config", "model_index", "model_features", "budget", "curve", "meta"):
        assert np.array_equal(getattr(train_side, name).numpy(), getattr(search_side, name).numpy()), name
    assert np.abs(search_side.meta.numpy()).max() > 0.1  # really scaled, not all zero


def test_dyhpo_refuses_a_prior():
    with pytest.raises(ValueError, match="prior"):
        DyHPOOptimizer([{"x": 1.0}], prior=tiny_prior())


def test_trial_state_epochs_drive_next_epoch():
    opt = DyHPOOptimizer([{"x": 0.0}, {"x": 1.0}], max_epochs=3)
    opt.trials[1] = TrialState([0.1, 0.2], [1.0, 1.0])
    assert opt.next_epoch(0) == 1 and opt.next_epoch(1) == 3


def test_space_and_pool_interplay_inferred_space():
    pool = [{"a": float(i), "b": "x" if i % 2 else "y"} for i in range(20)]
    opt = DyHPOOptimizer(pool, max_epochs=2, **FAST)
    assert isinstance(opt.encoder.space, Space)
    assert opt.encoder.config_dim == 3


def test_acquisition_uses_the_latent_posterior():
    """The acquisition scores EI on the latent accuracy's std (no observation noise), per trial at its next epoch."""
    from hf_quicktune.search.acquisition import acquisition_scores, incumbent_at, incumbents_by_budget

    sim = CurveSimulator(n=8, max_epochs=4)
    opt = DyHPOOptimizer(sim.pool, max_epochs=4, space=sim.space, acquisition="ei", **FAST)
    sim.run(opt, 5)
    ids = opt.candidates()
    mean, std, cost = opt.predict(ids, noise=False)
    _, noisy, _ = opt.predict(ids)
    assert np.all(std < noisy)
    bb = incumbents_by_budget({t: st.scores for t, st in opt.trials.items()})
    best = np.array([incumbent_at(bb, opt.next_epoch(i)) for i in ids])
    scale = np.array([opt.uncertainty_scale(opt._forecast_kind(i)) for i in ids])
    np.testing.assert_allclose(opt.acquisition_values(ids), acquisition_scores("ei", mean, scale * std, best, cost))


def test_a_second_concurrent_ask_believes_the_first_and_avoids_its_twin():
    """Kriging believer (quicktune._believing): with a trial in flight, the GP is conditioned on its
    believed outcome, so the identical configuration (its twin in the pool) loses its uncertainty bonus
    and the next worker gets another configuration; the posterior is restored afterwards."""
    sim = CurveSimulator(n=8, max_epochs=4, seed=3)
    pool = sim.pool + [dict(c) for c in sim.pool]  # member i and i + 8 are twins
    twin = {i: (i + 8) % 16 for i in range(16)}
    opt = DyHPOOptimizer(pool, max_epochs=4, seed=0, space=toy_space(), acquisition="ucb", exploration=5.0, **FAST)
    for _ in range(3):
        s = opt.ask()
        opt.tell(s.trial_id, s.epoch, *sim.observe(s.trial_id % 8, s.epoch))
    cands = opt.candidates()
    before = opt.acquisition_values(cands)
    first = opt.ask()
    assert first.epoch == 1 and twin[first.trial_id] in cands  # a new configuration, its twin untried
    j = cands.index(twin[first.trial_id])
    assert before[j] == pytest.approx(before[cands.index(first.trial_id)])  # alone, the twin ties with it
    second = opt.ask()
    assert second.trial_id not in (first.trial_id, twin[first.trial_id])
    mean0, std0, _ = opt.predict([twin[first.trial_id]], noise=False)
    with opt._believing():
        believed = opt.acquisition_values(cands)
        mean1, std1, _ = opt.predict([twin[first.trial_id]], noise=False)
        fantasies = dict(opt._fantasies)
    assert believed[j] < before[j]
    assert std1[0] < 0.5 * std0[0]  # the twin's uncertainty is (mostly) gone with the believed point
    # the believed outcome is the posterior mean capped at the best score told (_believed; the cap has its own
    # test below): the twin's mean moves to about that lie (the UCB pick may be predicted above or below the
    # best, depending on the fit: above with the numerical libraries of 2026-12-01, below with 2026-12-02's)
    best = max(s for st in opt.trials.values() for s in st.scores)
    lie = min(mean0[0], best)
    assert fantasies[first.trial_id][1] == pytest.approx(lie)
    # conditioned on the lie at the same input, the mean moves a share w of the way to it and the variance keeps
    # 1 - w; the std more than halved above means w > 3/4
    assert lie - 1e-3 <= mean1[0] <= lie + 0.25 * (mean0[0] - lie) + 1e-3
    opt.release(first.trial_id)
    opt.release(second.trial_id)
    np.testing.assert_allclose(opt.acquisition_values(cands), before)  # the believed points are gone


def test_a_believed_outcome_is_never_above_the_best_score_told(monkeypatch):
    """The believer's lie is capped at the best score told (believer._believed): a posterior mean
    extrapolated past every observation (a new trial believed at 1.33 accuracy on the extended set's
    PLT_VIL) would be the incumbent of every later epoch and take the best trial's EI to ~0 while it runs."""
    sim = CurveSimulator(n=8, max_epochs=4, seed=3)
    opt = DyHPOOptimizer(sim.pool, max_epochs=4, seed=0, space=toy_space(), **FAST)
    for _ in range(4):
        s = opt.ask()
        opt.tell(s.trial_id, s.epoch, *sim.observe(s.trial_id, s.epoch))
    running = opt.ask()
    best = max(s for st in opt.trials.values() for s in st.scores)
    real = opt.surrogate.predict

    def optimistic(inputs, noise=True):
        mean, std = real(inputs, noise)
        return mean + 1.0, std  # every mean above anything an accuracy can be

    monkeypatch.setattr(opt.surrogate, "predict", optimistic)
    with opt._believing():
        believed = dict(opt._fantasies)
    assert believed[running.trial_id] == (running.epoch, pytest.approx(best))


@pytest.mark.parametrize("ceiling", [1.0, None])
def test_expected_improvement_stops_at_the_largest_accuracy(monkeypatch, ceiling):
    """An accuracy cannot exceed 1: with ``score_ceiling=1`` no member's EI is above 1 minus its
    incumbent, however far above 1 the surrogate's mean is extrapolated; without it, it is."""
    sim = CurveSimulator(n=8, max_epochs=4, seed=3)
    opt = DyHPOOptimizer(sim.pool, max_epochs=4, seed=0, space=toy_space(), acquisition="ei", score_ceiling=ceiling,
                         **FAST)
    for _ in range(4):
        s = opt.ask()
        opt.tell(s.trial_id, s.epoch, *sim.observe(s.trial_id, s.epoch))
    real = opt.surrogate.predict

    def optimistic(inputs, noise=True):
        mean, std = real(inputs, noise)
        return mean + 1.0, std  # every mean above anything an accuracy can be

    monkeypatch.setattr(opt.surrogate, "predict", optimistic)
    ids = list(range(len(sim.pool)))
    by_budget = incumbents_by_budget({t: st.scores for t, st in opt.trials.items()})
    room = np.array([1.0 - max(0.0, incumbent_at(by_budget, opt.next_epoch(i))) for i in ids])
    values = opt.acquisition_values(ids)
    if ceiling is None:
        assert np.any(values > room + 0.1)
    else:
        assert np.all(values <= room + 1e-9)
        assert np.all(values > 0)


def test_refit_policy_and_its_keywords():
    from hf_quicktune.search.quicktune import RefitPolicy

    pool = CurveSimulator(n=4, max_epochs=3).pool
    opt = DyHPOOptimizer(pool, max_epochs=3, space=toy_space(), refit=RefitPolicy(refit_steps=7, fit_subset=9),
                         refit_steps=3)
    assert (opt.refit.refit_steps, opt.refit.fit_subset, opt.refit.full_refit_steps) == (3, 9, 100)
    assert opt.refit.lr == 1e-2  # resolved default
    with pytest.raises(TypeError, match="refit_stepz"):
        DyHPOOptimizer(pool, max_epochs=3, space=toy_space(), refit_stepz=3)


def test_ask_with_max_cost_suggests_only_steps_predicted_to_fit():
    """``ask(max_cost=budget left)``: a member whose next step is predicted to cost more is not suggested,
    even when the acquisition prefers it; None when no member fits (the pool is not used up)."""
    pool = [{"x": 0.1}, {"x": 0.9}]
    opt = DyHPOOptimizer(pool, max_epochs=6, acquisition="ei", full_refit_steps=60, refit_steps=0,
                         full_refit_until=10)
    first = opt.ask(max_cost=1e-9)  # before any observation the cap is ignored: costs are only a guess
    assert first is not None
    opt.release(first.trial_id)
    for e in (1, 2, 3):
        opt.tell(0, e, 0.2 + 0.01 * e, 1.0)  # poor and cheap: its next epoch costs 1 s (observed)
        opt.tell(1, e, 0.6 + 0.1 * e, 100.0)  # good and expensive: 100 s an epoch
    assert list(opt.step_costs([0, 1])) == pytest.approx([1.0, 100.0])
    free = opt.ask()
    assert free is not None and free.trial_id == 1  # without a cap the acquisition takes the good one
    opt.release(1)
    capped = opt.ask(max_cost=50.0)
    assert capped is not None and capped.trial_id == 0
    opt.release(0)
    assert opt.ask(max_cost=0.5) is None
    assert opt.candidates() == [0, 1] and not opt.in_flight


def _two_trials_cheap_and_expensive(**kwargs):
    """Two trials with parallel curves: 0 is a little worse and 100x cheaper than 1."""
    opt = DyHPOOptimizer([{"x": 0.1}, {"x": 0.9}], max_epochs=10, full_refit_steps=60, refit_steps=0,
                         full_refit_until=10, **kwargs)
    for e in (1, 2, 3):
        opt.tell(0, e, 0.45 + 0.05 * e, 1.0)
        opt.tell(1, e, 0.47 + 0.05 * e, 100.0)
    return opt


def test_cost_cooling_moves_from_ei_per_cost_to_ei_as_the_budget_is_spent():
    """CArBO cost cooling: with the whole budget left the cheap trial wins (EI per cost); near its end the
    acquisition is EI divided by cost ** (fraction left), and the better, expensive trial wins."""
    opt = _two_trials_cheap_and_expensive(cost_cooling=True)
    early = opt.ask(max_cost=10_000.0)
    assert opt.budget_total == 10_000.0 and early is not None and early.trial_id == 0
    opt.release(0)
    late = opt.ask(max_cost=150.0)
    assert late is not None and late.trial_id == 1
    opt.release(1)
    assert opt.budget_total == 10_000.0  # the total is the largest budget left ever given
    # the exponent is the fraction left: scores are EI / cost ** 0.25 with a quarter of the budget left
    mean, std, cost = opt.predict([0, 1], noise=False)
    best = np.full(2, 0.62)
    opt._max_cost = 2_500.0
    try:
        got = opt.acquisition_values([0, 1])
    finally:
        opt._max_cost = None
    scale = opt.uncertainty_scale("continued")
    want = acquisition_scores("ei_per_cost", mean, std * scale, best, cost, cost_exponent=0.25)
    assert got == pytest.approx(want)
    # without cooling the cheap trial wins to the end
    plain = _two_trials_cheap_and_expensive()
    s = plain.ask(max_cost=150.0)
    assert s is not None and s.trial_id == 0


def test_cost_cooling_budget_survives_a_resume():
    opt = _two_trials_cheap_and_expensive(cost_cooling=True)
    opt.release(opt.ask(max_cost=10_000.0).trial_id)
    again = _two_trials_cheap_and_expensive(cost_cooling=True)
    again.load_state_dict(opt.state_dict())
    assert again.budget_total == 10_000.0


def test_forecast_errors_recalibrate_the_std_the_acquisition_uses():
    """Each asked epoch's forecast (mean, std at ask time) is scored when that epoch is told, apart for new and
    for continued trials; the acquisition's std of each candidate is scaled by its kind's calibration factor;
    the errors and pending forecasts survive a state round trip; a released suggestion's forecast is dropped."""
    from hf_quicktune.search.acquisition import acquisition_scores, incumbent_at, incumbents_by_budget

    sim = CurveSimulator(n=8, max_epochs=4)
    opt = DyHPOOptimizer(sim.pool, max_epochs=4, space=sim.space, acquisition="ei", **FAST)
    s = opt.ask()
    f = opt.calibration.forecasts[s.trial_id]
    assert f.epoch == s.epoch and f.std > 0 and f.kind == "new"
    m0, sd0 = opt.surrogate.predict(opt._encode([s.trial_id], [s.epoch], [[]]), noise=True)
    assert (f.mean, f.std) == pytest.approx((float(m0[0]), float(sd0[0])))  # the noisy posterior at ask time
    score, cost, status = sim.observe(s.trial_id, s.epoch)
    opt.tell(s.trial_id, s.epoch, score, cost, status)
    assert opt.calibration.errors == {"new": [pytest.approx((score - f.mean) / f.std)], "continued": []}
    assert not opt.calibration.forecasts
    opt.calibration.errors["new"] = [3.0, -4.0, 0.0, 5.0]  # RMS sqrt(50/4)
    opt.calibration.errors["continued"] = [0.1, -0.2, 0.1]  # under-confidence is left alone
    assert opt.uncertainty_scale("new") == pytest.approx(np.sqrt(12.5)) and opt.uncertainty_scale("continued") == 1.0
    ids = opt.candidates()
    assert s.trial_id in ids and len(ids) > 1
    m, sd, c = opt.predict(ids, noise=False)
    scale = np.array([1.0 if i == s.trial_id else np.sqrt(12.5) for i in ids])
    bb = incumbents_by_budget({t: st.scores for t, st in opt.trials.items()})
    best = np.array([incumbent_at(bb, opt.next_epoch(i)) for i in ids])
    np.testing.assert_allclose(opt.acquisition_values(ids), acquisition_scores("ei", m, scale * sd, best, c))
    pending = opt.ask()
    state = opt.state_dict()
    again = DyHPOOptimizer(sim.pool, max_epochs=4, space=sim.space, acquisition="ei", **FAST)
    again.load_state_dict(state)
    assert again.calibration.errors == opt.calibration.errors
    assert again.calibration.forecasts == opt.calibration.forecasts and pending.trial_id in opt.calibration.forecasts
    opt.release(pending.trial_id)
    assert pending.trial_id not in opt.calibration.forecasts


@pytest.mark.parametrize("start_batch", ["start", "believer", "distinct"])
def test_asks_beside_a_start_in_flight_follow_start_batch(start_batch):
    """Several workers at the start of a search (``start_batch``): with ``"start"`` the second ask, made
    before any report, is the zero-shot order's next pick, here the first pick's twin (the same configuration,
    the same prediction); with ``"distinct"`` the order's best of another model; with ``"believer"`` it is the acquisition's choice with the first believed, which
    takes the twin's uncertainty away and asks another configuration. The prior's posterior (nothing
    conditioned on) is restored after the ask."""
    sim = CurveSimulator(n=8, max_epochs=4, seed=3)
    pool = sim.pool + [dict(c) for c in sim.pool]  # member i and i + 8 are twins
    opt = QuickTuneOptimizer(pool, max_epochs=4, seed=0, prior=tiny_prior(), meta_features=META,
                             model_features=MODEL_FEATURES, start="zero_shot", start_batch=start_batch, **FAST)
    order = opt.zero_shot_order(list(range(16)))
    first = opt.ask()
    assert first.trial_id == order[0]
    twin = (first.trial_id + 8) % 16
    second = opt.ask()
    assert opt.surrogate.conditioning is None
    if start_batch == "start":
        assert second.trial_id == order[1] == twin
    elif start_batch == "distinct":  # the zero-shot order's best of another model
        other = [i for i in order if pool[i]["model"] != pool[first.trial_id]["model"]]
        assert second.trial_id == other[0] != order[1]
    else:
        assert second.trial_id not in (first.trial_id, twin)
        opt.release(second.trial_id)  # the first alone in flight: its believed acquisition again
        cands = opt.candidates()
        with opt._believing():
            scores = opt.acquisition_values(cands)
        assert cands[int(np.argmax(scores))] == second.trial_id
    assert second.epoch == 1


def test_start_batch_is_checked():
    with pytest.raises(ValueError, match="start_batch"):
        QuickTuneOptimizer(toy_space().sample(4, seed=0), prior=tiny_prior(), start_batch="zero_shot")


@pytest.mark.parametrize("start_batch", ["start", "distinct"])
def test_distinct_starts_in_pool_order_keep_the_initial_design(start_batch):
    """``start="first"`` (the run's: the pool ordered by the caller) with workers starting together: the initial
    design's members come first, whatever their model; with ``"distinct"`` the next start is the pool's next
    member of a model no start in flight has, with ``"start"`` simply the next member."""
    space = toy_space()
    base = space.sample(1, seed=0)[0]
    pool = [dict(base, model=m, lr=lr) for m, lr in
            [("small", 1e-3), ("small", 1e-2), ("small", 3e-3), ("large", 1e-3), ("medium", 1e-3)]]
    opt = QuickTuneOptimizer(pool, max_epochs=4, seed=0, prior=tiny_prior(), meta_features=META,
                             model_features=MODEL_FEATURES, start="first", initial_design=[0, 1],
                             start_batch=start_batch, **FAST)
    asked = [opt.ask().trial_id for _ in range(4)]
    assert asked == ([0, 1, 3, 4] if start_batch == "distinct" else [0, 1, 2, 3])


def test_a_schedule_other_than_the_priors_is_read_relative_to_it_when_asked():
    """``relative_budget``: epoch e of the search's S-epoch schedule is encoded as the point e / S, the curve on the
    prior's grid (tests/search/test_surrogate.py); the schedule the told epochs belong to survives a re-fit of
    ``max_epochs`` (a finishing trial's) and a state round trip."""
    sim = CurveSimulator(n=6, max_epochs=8)
    prior = tiny_prior()  # meta-trained on 4-epoch runs
    absolute = QuickTuneOptimizer(sim.pool, max_epochs=8, prior=prior, meta_features=META,
                                  model_features=MODEL_FEATURES, relative_budget=False, **FAST)
    opt = QuickTuneOptimizer(sim.pool, max_epochs=8, prior=prior, meta_features=META, model_features=MODEL_FEATURES,
                             relative_budget=True, **FAST)
    curve = list(sim.curves[0, :5])
    np.testing.assert_allclose(absolute._encode([0], [6], [curve]).budget.numpy(), [1.5])  # past the prior's range
    rel = opt._encode([0], [6], [curve])
    np.testing.assert_allclose(rel.budget.numpy(), [0.75])
    np.testing.assert_allclose(rel.curve[0].numpy(), [curve[1], curve[3], 0.0, 0.0], rtol=1e-6)
    for _ in range(3):
        s = opt.ask()
        opt.tell(s.trial_id, s.epoch, *sim.observe(s.trial_id, s.epoch))
    opt.set_max_epochs(12)  # the finishing trial's schedule grows; the others' epochs were of the 8-epoch one
    np.testing.assert_allclose(opt._encode([0], [6], [curve]).budget.numpy(), [0.75])
    again = QuickTuneOptimizer(sim.pool, max_epochs=12, prior=prior, meta_features=META,
                               model_features=MODEL_FEATURES, relative_budget=True, **FAST)
    again.load_state_dict(opt.state_dict())
    assert again.schedule_epochs == 8
    np.testing.assert_allclose(again._encode([0], [6], [curve]).budget.numpy(), [0.75])
