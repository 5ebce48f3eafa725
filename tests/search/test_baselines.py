"""Random search, successive halving, ASHA and Hyperband on the ask/tell contract."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from hf_quicktune.search.baselines import ASHA, Hyperband, RandomSearch, SuccessiveHalving
from hf_quicktune.search.baselines.common import rung_levels

POOL = [{"x": i / 30} for i in range(30)]


def quality(tid: int) -> float:
    return 0.2 + 0.7 * tid / 30  # higher trial id = better configuration


def curve(tid: int, epoch: int) -> float:
    return quality(tid) * (1 - 0.5 ** epoch)


def drive(opt, steps: int, fail: set[int] = frozenset()):
    seq = []
    for _ in range(steps):
        s = opt.ask()
        if s is None:
            break
        assert s.config == POOL[s.trial_id]
        seq.append((s.trial_id, s.epoch))
        if s.trial_id in fail:
            opt.tell(s.trial_id, s.epoch, None, 0.0, status="failed")
        else:
            opt.tell(s.trial_id, s.epoch, curve(s.trial_id, s.epoch), 1.0)
    return seq


def test_rung_levels():
    assert rung_levels(9, 1, 3) == [1, 3, 9]
    assert rung_levels(52, 1, 3) == [1, 3, 9, 27, 52]
    assert rung_levels(1, 1, 3) == [1]


def test_random_search_trains_each_trial_fully_then_moves_on():
    opt = RandomSearch(POOL, max_epochs=4, seed=1)
    seq = drive(opt, 12)
    trials = [t for t, _ in seq]
    assert [e for _, e in seq] == [1, 2, 3, 4] * 3
    assert trials[0] == trials[3] != trials[4] and len(set(trials)) == 3
    assert drive(RandomSearch(POOL, max_epochs=4, seed=1), 12) == seq  # seeded
    assert drive(RandomSearch(POOL, max_epochs=4, seed=2), 12) != seq


def test_random_search_exhausts_pool():
    opt = RandomSearch(POOL[:3], max_epochs=2, seed=0)
    seq = drive(opt, 100)
    assert len(seq) == 6 and opt.ask() is None
    assert sorted(Counter(t for t, _ in seq).values()) == [2, 2, 2]


def test_asha_promotes_the_top_third_of_a_rung():
    opt = ASHA(POOL, max_epochs=9, seed=0, eta=3)
    seq = drive(opt, 4)
    first3 = [t for t, _ in seq[:3]]
    assert [e for _, e in seq[:3]] == [1, 1, 1]  # three new trials at rung 1
    assert seq[3] == (max(first3), 2)  # then the best of them continues towards rung 3


def test_asha_never_resuggests_failed_trials():
    opt = ASHA(POOL, max_epochs=9, seed=0)
    seq = drive(opt, 200, fail=set(range(0, 30, 2)))
    failed_seen = Counter(t for t, _ in seq if t % 2 == 0)
    assert failed_seen and all(c == 1 for c in failed_seen.values())
    assert opt.best()[0] % 2 == 1


def test_hyperband_bracket_structure():
    opt = Hyperband(POOL, max_epochs=9, seed=0, eta=3)
    # bracket s=2: 9 trials x 1 epoch, best 3 to epoch 3, best 1 to epoch 9 -> 9 + 3*2 + 6 = 21 steps
    seq = drive(opt, 21)
    first9 = [t for t, _ in seq[:9]]
    assert len(set(first9)) == 9 and all(e == 1 for _, e in seq[:9])
    top3 = sorted(first9, key=quality, reverse=True)[:3]
    assert sorted({t for t, _ in seq[9:15]}) == sorted(top3)
    assert {t for t, _ in seq[15:21]} == {max(first9)} and seq[20][1] == 9
    # bracket s=1: ceil(3/2 * 3) = 5 new trials at 3 epochs each
    nxt = drive(opt, 15)
    assert len({t for t, _ in nxt}) == 5 and not set(first9) & {t for t, _ in nxt}
    assert Counter(t for t, _ in nxt).most_common(1)[0][1] == 3


def test_successive_halving_repeats_the_aggressive_bracket():
    opt = SuccessiveHalving(POOL, max_epochs=9, seed=0, eta=3)
    seq = drive(opt, 30)
    assert all(e == 1 for _, e in seq[21:30])  # second bracket starts 9 new trials at 1 epoch


@pytest.mark.parametrize("cls", [RandomSearch, ASHA, Hyperband, SuccessiveHalving])
def test_state_dict_resumes_exactly(cls):
    a = cls(POOL, max_epochs=9, seed=3)
    drive(a, 17)
    state = json.loads(json.dumps(a.state_dict()))  # must be plain JSON
    b = cls(POOL, max_epochs=9, seed=999)
    b.load_state_dict(state)
    assert drive(a, 25) == drive(b, 25)
    assert a.best() == b.best()


@pytest.mark.parametrize("cls", [RandomSearch, ASHA, Hyperband])
def test_run_to_exhaustion_covers_whole_pool_without_repeating_epochs(cls):
    opt = cls(POOL[:10], max_epochs=3, seed=0)
    seq = drive(opt, 10_000)
    assert opt.ask() is None
    assert len(seq) == len(set(seq))  # no (trial, epoch) twice
    assert {t for t, _ in seq} == set(range(10))


# -- the shared optimizer contract (tests/search/contract.py) ------------------------------
from .contract import OptimizerContract  # noqa: E402


class TestRandomSearchContract(OptimizerContract):
    def make_optimizer(self, pool, max_epochs, seed):
        return RandomSearch(pool, max_epochs=max_epochs, seed=seed)


class TestASHAContract(OptimizerContract):
    covers_pool = False  # asynchronous successive halving stops the bottom of each rung for good

    def make_optimizer(self, pool, max_epochs, seed):
        return ASHA(pool, max_epochs=max_epochs, seed=seed)


class TestHyperbandContract(OptimizerContract):
    covers_pool = False

    def make_optimizer(self, pool, max_epochs, seed):
        return Hyperband(pool, max_epochs=max_epochs, seed=seed)


class TestSuccessiveHalvingContract(OptimizerContract):
    covers_pool = False

    def make_optimizer(self, pool, max_epochs, seed):
        return SuccessiveHalving(pool, max_epochs=max_epochs, seed=seed)
