"""How a search starts (zero-shot with a prior, pool member 0, a seeded draw) and the score floor."""

from __future__ import annotations

import numpy as np
import pytest

from hf_quicktune.meta.synthetic import make_synthetic
from hf_quicktune.meta.train import build_encoder
from hf_quicktune.search.prior import Prior
from hf_quicktune.search.quicktune import QuickTuneOptimizer


@pytest.fixture(scope="module")
def setup():
    md = make_synthetic(n_datasets=3, n_configs=30, max_epochs=6, seed=1, models=True)
    prior = Prior.create(build_encoder(md, md.dataset_names), seed=3)
    pool = [dict(md.configs[i], model=md.models[i]) for i in range(30)]
    meta = md.meta_features.iloc[0].to_dict()
    return prior, pool, meta


def test_with_a_prior_the_first_trial_is_the_best_zero_shot_prediction_at_a_typical_cost_whatever_the_seed(setup):
    prior, pool, meta = setup
    firsts = set()
    for seed in (0, 1, 2):
        opt = QuickTuneOptimizer(pool, max_epochs=6, prior=prior, meta_features=meta, seed=seed)
        predicted = opt.zero_shot(range(len(pool)))
        cost = opt.predict(range(len(pool)), noise=False)[2]
        typical = np.flatnonzero(cost <= np.median(cost))
        s = opt.ask()
        assert s.trial_id == int(typical[np.argmax(predicted[typical])]) and s.epoch == 1
        firsts.add(s.trial_id)
    assert len(firsts) == 1
    order = opt.zero_shot_order(range(len(pool)))
    assert sorted(order) == list(range(len(pool)))
    head, tail = order[: len(typical)], order[len(typical):]
    assert set(head) == set(typical.tolist())  # the members at most at the median cost first ...
    assert np.all(np.diff(predicted[head]) <= 1e-7) and np.all(np.diff(predicted[tail]) <= 1e-7)  # ... each by accuracy


def test_the_zero_shot_start_skips_the_best_prediction_when_it_costs_more_than_a_typical_member(setup):
    from hf_quicktune.search.cost import CostPrior

    prior, pool, meta = setup
    plain = QuickTuneOptimizer(pool, max_epochs=6, prior=prior, meta_features=meta)
    ranked = [int(i) for i in np.argsort(-plain.zero_shot(range(len(pool))))]
    # every member costs 1 s an epoch but the prior's favourite, 50 s (a 384-px model, a batch of 2)
    seconds = {i: (50.0 if i == ranked[0] else 1.0) for i in range(len(pool))}
    opt = QuickTuneOptimizer(pool, max_epochs=6, prior=prior, meta_features=meta,
                             cost_prior=CostPrior.from_pool(pool, seconds))
    assert opt.ask().trial_id == ranked[1]
    assert opt.zero_shot_order(range(len(pool)))[-1] == ranked[0]


def test_zero_shot_predictions_depend_on_the_dataset(setup):
    prior, pool, meta = setup
    other = {k: v * 50 for k, v in meta.items()}
    a = QuickTuneOptimizer(pool, max_epochs=6, prior=prior, meta_features=meta).zero_shot(range(10))
    b = QuickTuneOptimizer(pool, max_epochs=6, prior=prior, meta_features=other).zero_shot(range(10))
    assert not np.allclose(a, b)


def test_start_first_takes_pool_member_zero_and_random_depends_on_the_seed(setup):
    _, pool, _ = setup
    for seed in (0, 1, 2, 3):
        assert QuickTuneOptimizer(pool, max_epochs=6, seed=seed, start="first").ask().trial_id == 0
    draws = {QuickTuneOptimizer(pool, max_epochs=6, seed=seed).ask().trial_id for seed in range(6)}
    assert len(draws) > 1  # the paper's start: a seeded random draw
    with pytest.raises(ValueError, match="needs a prior"):
        QuickTuneOptimizer(pool, max_epochs=6, start="zero_shot")


def test_trials_that_do_not_beat_the_floor_are_not_continued(setup):
    _, pool, _ = setup
    opt = QuickTuneOptimizer(pool[:3], max_epochs=6, start="first", score_floor=0.1, initial_epochs=1)
    opt.tell(0, 1, 0.05, 1.0)
    assert 0 in opt.candidates()  # one epoch: too early to judge
    opt.tell(0, 2, 0.09, 1.0)
    assert 0 not in opt.candidates() and opt.below_floor(0)
    opt.tell(1, 1, 0.05, 1.0)
    opt.tell(1, 2, 0.3, 1.0)
    assert 1 in opt.candidates()
    for _ in range(5):
        s = opt.ask()
        assert s.trial_id != 0
        opt.tell(s.trial_id, s.epoch, 0.5, 1.0)
