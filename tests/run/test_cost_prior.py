"""--estimate-cost: timed seconds-per-epoch predictions for the optimizer's cost prior (tiny models, 32 px)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hf_quicktune.run.cost_prior import (
    REFERENCE_BATCH,
    SMALL_BATCH,
    epoch_seconds,
    load_or_compute,
    step_seconds,
    time_models,
)
from hf_quicktune.run.state import RunState
from hf_quicktune.zoo import get_candidate

NAMES = ["scratch:test_efficientnet", "scratch:test_resnet"]
POOL = [
    {"model": NAMES[0], "batch_size": 8, "pct_to_freeze": 0.0},
    {"model": NAMES[0], "batch_size": 16, "pct_to_freeze": 0.0},
    {"model": NAMES[0], "batch_size": 8, "pct_to_freeze": 1.0},
    {"model": NAMES[0], "batch_size": 8, "pct_to_freeze": 0.0, "linear_probing": True},
    {"model": NAMES[1], "batch_size": 4, "pct_to_freeze": 0.4},
    {"model": "not-in-the-zoo", "batch_size": 8},
]


@pytest.fixture(scope="module")
def candidates():
    return {n: get_candidate(n) for n in NAMES}


def test_epoch_seconds_follow_batches_and_freezing(candidates):
    timed = time_models(POOL, candidates, num_classes=3, image_size=32)
    secs = epoch_seconds(POOL, candidates, num_classes=3, train_size=100, image_size=32, timed=timed)
    assert sorted(secs) == [0, 1, 2, 3, 4]  # no prediction for a model outside the candidates
    assert all(v > 0 and math.isfinite(v) for v in secs.values())
    t = timed[NAMES[0]]
    assert t["per_step"] >= 0 and t["per_sample"] >= 0 and 0 < t["head_share"] <= 1
    # a step of B images costs a + b B: an epoch at B=16 is ceil(100/16) such steps
    assert secs[1] == pytest.approx(math.ceil(100 / 16) * (t["per_step"] + 16 * t["per_sample"]), rel=1e-9)
    assert secs[0] == pytest.approx(math.ceil(100 / 8) * (t["per_step"] + 8 * t["per_sample"]), rel=1e-9)
    assert secs[2] <= secs[0]  # head only: no backbone backward
    assert secs[3] == pytest.approx(secs[0], rel=1e-9)  # linear probing priced as full fine-tuning
    assert (SMALL_BATCH, REFERENCE_BATCH) == (2, 16)


def test_small_batches_pay_the_per_step_overhead():
    t = {"per_step": 0.05, "per_sample": 0.002, "head_share": 0.5}
    assert step_seconds(t, 2) == pytest.approx(0.054)
    # 240 steps of 2 images cost far more than 15 steps of 32 (the overhead is paid per step)
    assert 240 * step_seconds(t, 2) > 4 * 15 * step_seconds(t, 32)
    assert step_seconds(t, 32, trainable=0.0) == pytest.approx(0.5 * step_seconds(t, 32))


def test_stored_once_and_reloaded(tmp_path, candidates, monkeypatch):
    state = RunState(tmp_path)
    prior = load_or_compute(state, POOL, candidates, num_classes=3, train_size=50, image_size=32)
    assert (tmp_path / "cost_prior.json").exists()
    import hf_quicktune.run.cost_prior as module

    monkeypatch.setattr(module, "epoch_seconds", lambda *a, **k: pytest.fail("resume must not time again"))
    again = load_or_compute(state, POOL, candidates, num_classes=3, train_size=50, image_size=32)
    assert again.seconds == prior.seconds and again.models[4] == NAMES[1]
    # before any observation the optimizer's uninformed cost (1 s) is replaced by the prediction
    out = again.apply([0, 4, 5], np.ones(3), {})
    assert out[0] == pytest.approx(prior.seconds[0]) and out[1] == pytest.approx(prior.seconds[4]) and out[2] == 1.0


def test_make_optimizer_hands_the_prior_to_the_optimizer_which_uses_it():
    from hf_quicktune.run.settings import RunSettings
    from hf_quicktune.search.cost import CostPrior

    from .helpers import make_run_optimizer

    prior = CostPrior.from_pool(POOL, {0: 2.0})
    opt = make_run_optimizer(RunSettings(dataset="builtin:digits", max_trials=1), POOL, prior)
    assert opt.cost_prior is prior
    _, _, seconds = opt.predict([0, 1])
    # before any observation the prior's 2 s replaces the cost model's uninformed guess; member 1 has no prior
    assert seconds[0] == pytest.approx(2.0) and seconds[1] == pytest.approx(opt.cost_model.default_seconds)
