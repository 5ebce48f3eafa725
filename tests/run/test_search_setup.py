"""The search's setup: the pool a prior fills, the robust and by-hand defaults, schedule scaling, the initial design."""

from __future__ import annotations

import pytest

from hf_quicktune.meta.priors import resolve_prior
from hf_quicktune.run import search_setup
from hf_quicktune.run.settings import RunSettings
from hf_quicktune.run.state import RunState

NAMES = ["scratch:resnet10t", "tf_efficientnet_lite0", "tf_efficientnet_lite1"]
FEATURES = {
    "scratch:resnet10t": {"params_m": 5.4, "input_px": 32, "pretrain_images_m": 0.0, "attention": 0.0},
    "tf_efficientnet_lite0": {"params_m": 4.7, "input_px": 32, "pretrain_images_m": 1.28, "attention": 0.0},
    "tf_efficientnet_lite1": {"params_m": 5.4, "input_px": 32, "pretrain_images_m": 1.28, "attention": 0.0},
}
META = {"num_train": 1438, "num_classes": 10}


def settings(**kw):
    return RunSettings(**{"dataset": "builtin:digits", "max_trials": 1, "pool_size": 16, "max_epochs": 10, **kw}).validate()


def test_with_the_prior_the_pool_starts_with_its_best_pretrained_prediction_then_the_by_hand_default(tmp_path):
    from hf_quicktune.search.quicktune import QuickTuneOptimizer

    prior, _ = resolve_prior("default")
    s = settings()
    pool = search_setup.build_pool(s, RunState(tmp_path / "a"), NAMES, 1438, prior=prior, meta=META,
                                   features=FEATURES, scratch={"scratch:resnet10t"})
    assert len(pool) == 16 and pool[0]["model"] != "scratch:resnet10t"
    scorer = QuickTuneOptimizer(pool, max_epochs=10, prior=prior, meta_features=META, model_features=FEATURES)
    pretrained = [i for i, c in enumerate(pool) if c["model"] != "scratch:resnet10t" and i != 1]
    predicted = dict(zip(pretrained, scorer.zero_shot(pretrained)))
    cost = dict(zip(pretrained, scorer.predict(pretrained, noise=False)[2]))
    # pool member 0 is the prior's zero-shot choice among the draws at most at their median cost: no
    # pretrained member that costs no more is predicted more accurate, and it is not the costliest
    assert 0 in pretrained and all(predicted[i] <= predicted[0] + 1e-7 for i in pretrained if cost[i] <= cost[0])
    assert cost[0] < max(cost.values())
    by_hand = pool[1]
    assert by_hand["model"] == "tf_efficientnet_lite0"  # the best-ranked pretrained candidate
    assert (by_hand["opt"], by_hand["lr"], by_hand["sched"], by_hand["batch_size"]) == ("adamw", 1e-3, "cosine", 32)
    assert by_hand["momentum"] is None and by_hand["data_augmentation"] == "none" and by_hand["pct_to_freeze"] == 0.0
    for c in pool:  # scratch candidates never freeze or linear-probe random features
        if c["model"] == "scratch:resnet10t":
            assert c["pct_to_freeze"] == 0.0 and c["linear_probing"] is False
    # the pool is kept in pool.json: a resumed run gets the same one
    again = search_setup.build_pool(s, RunState(tmp_path / "a"), NAMES, 1438, prior=None, meta=META, features=None)
    assert again == pool


def test_without_a_prior_the_robust_default_then_the_by_hand_default(tmp_path):
    pool = search_setup.build_pool(settings(prior="none"), RunState(tmp_path / "b"), NAMES, 1438, prior=None,
                                   meta=META, features=None, scratch={"scratch:resnet10t"})
    robust = search_setup.robust_default(
        search_setup.fit_batch_sizes(__import__("hf_quicktune.search.space", fromlist=["Space"]).Space.from_yaml(
            "recipes/spaces/quicktune.yaml").with_choices("model", NAMES), 1438), "tf_efficientnet_lite0")
    assert pool[0] == robust and pool[1]["lr"] == 1e-3 and len(pool) == 16


def test_the_initial_design_is_asked_before_the_acquisition(tmp_path, caplog):
    prior, _ = resolve_prior("default")
    s = settings()
    with caplog.at_level("INFO"):
        pool = search_setup.build_pool(s, RunState(tmp_path / "c"), NAMES, 1438, prior=prior, meta=META,
                                       features=FEATURES, scratch={"scratch:resnet10t"})
        opt = search_setup.make_optimizer(s, pool, prior=prior, meta=META, features=FEATURES, num_classes=10)
    # the pool's scorer and the search's optimizer both hold the prior: the schedule mismatch is said once
    said = [r.getMessage() for r in caplog.records if "meta-trained with max_epochs" in r.getMessage()]
    assert said == ["the prior was meta-trained with max_epochs=50, this search uses 10; budgets are scaled by "
                    "the prior's"]
    first = opt.ask()
    assert first.trial_id == 0 and first.epoch == opt.initial_epochs
    for e in range(1, first.epoch + 1):
        opt.tell(0, e, 0.5, 1.0)
    assert opt.ask().trial_id == 1  # the by-hand default, whatever the acquisition would say
    assert opt.score_floor == pytest.approx(0.11)
    # another metric's chance (macro F1 on imbalanced classes) moves the floor with it
    low = search_setup.make_optimizer(s, pool, prior=prior, meta=META, features=FEATURES, num_classes=10, chance=0.06)
    assert low.score_floor == pytest.approx(0.07)


def test_epoch_valued_hyperparameters_scale_to_the_run_schedule():
    cfg = {"warmup_epochs": 10, "decay_epochs": 20, "patience_epochs": 2, "lr": 1e-3}
    assert search_setup.scale_schedule(cfg, 10) == {"warmup_epochs": 2, "decay_epochs": 4, "patience_epochs": 1,
                                                    "lr": 1e-3}
    assert search_setup.scale_schedule(cfg, 50) == cfg and search_setup.scale_schedule(cfg, 100) == cfg
    assert search_setup.scale_schedule({"warmup_epochs": 5, "decay_epochs": None}, 4) == {
        "warmup_epochs": 0, "decay_epochs": None}


def test_a_space_the_prior_was_not_trained_on_says_to_pass_prior_none(tmp_path):
    from hf_quicktune.errors import SpaceError

    space = tmp_path / "tiny.yaml"
    space.write_text("name: tiny\nhyperparameters:\n  model: {type: categorical, choices: []}\n"
                     "  lr: {type: ordinal, choices: [1.0e-4, 1.0e-3]}\n  width: {type: ordinal, choices: [8, 16]}\n")
    prior, _ = resolve_prior("default")
    s = settings(space=str(space))
    with pytest.raises(SpaceError, match="--prior none"):
        search_setup.build_pool(s, RunState(tmp_path / "d"), NAMES, 1438, prior=prior, meta=META, features=FEATURES)


def test_a_budget_too_small_to_search_puts_the_by_hand_configuration_first(tmp_path, monkeypatch):
    from hf_quicktune.search.quicktune import QuickTuneOptimizer

    def no_scoring(*args, **kwargs):
        raise AssertionError("a run that does not search scored the pool with the prior")

    # such a run trains member 0 only: the prior's zero-shot scoring of 16 x pool-size draws is not paid for
    monkeypatch.setattr(QuickTuneOptimizer, "zero_shot_order", no_scoring)
    monkeypatch.setattr(QuickTuneOptimizer, "zero_shot", no_scoring)
    prior, _ = resolve_prior("default")
    s = settings()
    without = search_setup.build_pool(s, RunState(tmp_path / "none"), NAMES, 1438, prior=None, meta=META,
                                      features=None, scratch={"scratch:resnet10t"}, by_hand_first=True)
    pool = search_setup.build_pool(s, RunState(tmp_path / "b"), NAMES, 1438, prior=prior, meta=META,
                                   features=FEATURES, scratch={"scratch:resnet10t"}, by_hand_first=True)
    assert len(pool) == 16 and (pool[0]["opt"], pool[0]["lr"], pool[0]["sched"]) == ("adamw", 1e-3, "cosine")
    assert pool[0]["model"] == "tf_efficientnet_lite0" and pool[0] not in pool[1:]
    assert pool == without  # the same seeded members with or without a prior
    opt = search_setup.make_optimizer(s, pool, prior=prior, meta=META, features=FEATURES, num_classes=10,
                                      search=False)
    assert opt.initial_design == [0] and opt.ask().trial_id == 0


@pytest.mark.parametrize("size", [1, 2, 3])
@pytest.mark.parametrize("by_hand_first", [False, True])
def test_a_tiny_pool_holds_pool_size_distinct_members(tmp_path, size, by_hand_first):
    """``--pool-size 1`` crashed while the prior filled it (half of one member is none); every size holds exactly
    that many distinct members, the first being the prior's choice (or the by-hand one when the budget is too small
    to search), then the by-hand configuration."""
    prior, _ = resolve_prior("default")
    for label, p in (("prior", prior), ("none", None)):
        s = settings(pool_size=size, prior="default" if p else "none")
        pool = search_setup.build_pool(s, RunState(tmp_path / f"{label}-{size}-{by_hand_first}"), NAMES, 1438,
                                       prior=p, meta=META, features=FEATURES, scratch={"scratch:resnet10t"},
                                       by_hand_first=by_hand_first)
        assert len(pool) == size and all(pool[i] not in pool[i + 1:] for i in range(size)), label
        by_hand = [i for i, c in enumerate(pool) if (c["opt"], c["lr"], c["sched"], c["pct_to_freeze"],
                                                     c["data_augmentation"]) == ("adamw", 1e-3, "cosine", 0.0, "none")]
        assert by_hand == ([0] if by_hand_first else [1] if size > 1 else []), (label, by_hand)
