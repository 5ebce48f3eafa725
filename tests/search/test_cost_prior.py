"""CostPrior: outside seconds-per-epoch predictions used until the cost model has seen the model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hf_quicktune.search.cost import CostPrior

POOL = [{"model": "a", "lr": 0.1}, {"model": "a", "lr": 0.01}, {"model": "b", "lr": 0.1}, {"model": "c", "lr": 0.1}]


def test_prior_replaces_the_uninformed_prediction_then_calibrates_and_steps_aside():
    prior = CostPrior.from_pool(POOL, {0: 10.0, 1: 20.0, 2: 4.0})  # no prior for member 3
    model_pred = np.array([1.0, 1.0, 1.0, 1.0])
    ids = [0, 1, 2, 3]
    # nothing observed: the prior as is, the cost model where there is no prior
    assert prior.apply(ids, model_pred, {}).tolist() == [10.0, 20.0, 4.0, 1.0]
    # trial 2 (model b) ran two epochs at 6 s each: its model is seen -> cost model's value for b;
    # the other models' priors are scaled by the observed/prior ratio 6/4 = 1.5
    out = prior.apply(ids, model_pred, {2: [6.0, 6.0]})
    assert out.tolist() == [15.0, 30.0, 1.0, 1.0]
    # once model a has a cost, its members use the cost model too
    out = prior.apply(ids, model_pred, {2: [6.0], 0: [12.0]})
    assert out.tolist() == [1.0, 1.0, 1.0, 1.0]
    assert prior.calibration({2: [6.0], 0: [12.0]}) == pytest.approx(np.median([1.5, 1.2]))
    assert prior.apply(ids, model_pred, {}) is not model_pred  # never modifies its input in place


def test_state_round_trip_and_validation():
    prior = CostPrior.from_pool(POOL, {0: 10.0, 3: 2.5}, min_seconds=0.5)
    again = CostPrior.from_state(json.loads(json.dumps(prior.state_dict())))
    pred = np.ones(4)
    assert again.apply([0, 1, 2, 3], pred, {}).tolist() == prior.apply([0, 1, 2, 3], pred, {}).tolist()
    assert again.models == {0: "a", 1: "a", 2: "b", 3: "c"} and again.min_seconds == 0.5
    with pytest.raises(ValueError, match="positive and finite"):
        CostPrior({0: float("nan")})
    with pytest.raises(ValueError, match="positive and finite"):
        CostPrior({0: 0.0})


def test_step_seconds_uses_observed_epochs_after_the_first_and_scales_by_epochs():
    import numpy as np

    from hf_quicktune.search.cost import step_seconds

    observed = {0: [9.0, 2.0, 4.0], 1: [5.0]}  # trial 0: first epoch's one-off cost left out; trial 1: one epoch
    out = step_seconds([0, 1, 2], np.array([1.0, 1.5, 2.0]), observed, min_seconds=1e-3)
    assert out.tolist() == [3.0, 1.5, 2.0]
    out = step_seconds([0, 2], np.array([1.0, 2.0]), observed, min_seconds=1e-3, epochs=[1, 5])
    assert out.tolist() == [3.0, 10.0]
