"""The trial a run keeps, and the one a budget's end finishes, compared at equal epochs (search/leader.py)."""

from __future__ import annotations

import math

from hf_quicktune.search.base import DIVERGED, TrialState
from hf_quicktune.search.leader import best_within, equal_epoch_leader, incumbent, lead_needed


def _trials(**curves):
    return {int(k[1:]): TrialState(scores=list(v), costs=[1.0] * len(v)) for k, v in curves.items()}


def test_best_within_reads_only_the_first_epochs():
    st = TrialState(scores=[0.2, 0.5, 0.4, 0.9])
    assert best_within(st, 1) == 0.2 and best_within(st, 3) == 0.5 and best_within(st, 4) == 0.9
    assert best_within(TrialState(), 2) == float("-inf")


def test_the_best_observed_trial_leads_unless_a_shorter_one_was_ahead_at_its_own_epochs():
    # t0 searched 3 epochs (its best 0.60 observed at epoch 3); t1 has one epoch at 0.58: behind t0's best but
    # ahead of t0's first epoch (0.50). t2's one epoch (0.45) is behind: only t1 leads.
    trials = _trials(t0=[0.50, 0.55, 0.60], t1=[0.58], t2=[0.45])
    assert equal_epoch_leader(trials, [0, 1, 2], 0) == 1
    # without t1 the best observed stays the one
    assert equal_epoch_leader(trials, [0, 2], 0) == 0
    # a trial ahead by more wins: t3's 2 epochs reach 0.70 against t0's 0.55 at 2 (ahead 0.15 > t1's 0.08)
    trials[3] = TrialState(scores=[0.40, 0.70], costs=[1.0, 1.0])
    assert equal_epoch_leader(trials, [0, 1, 2, 3], 0) == 3


def test_a_trial_with_as_many_epochs_is_compared_by_its_best_score_only():
    trials = _trials(t0=[0.2, 0.6], t1=[0.5, 0.55])  # t1 is ahead at epoch 1 but has as many epochs
    assert equal_epoch_leader(trials, [0, 1], 0) == 0


def test_a_finished_best_trial_is_not_open_but_still_the_yardstick():
    trials = _trials(t0=[0.5, 0.6, 0.7, 0.8], t1=[0.45], t2=[0.55])
    assert equal_epoch_leader(trials, [1], 0) is None  # nothing open is ahead of the finished trial: none to finish
    assert equal_epoch_leader(trials, [1, 2], 0) == 2  # t2 was ahead of t0's first epoch
    assert equal_epoch_leader({}, [], None) is None


def test_a_lead_must_exceed_the_noise_of_the_validation_split():
    # one standard error of the difference of 0.627 and 0.616 on 359 images (a fewshot run's lead of 4 images, the
    # trial ahead then a frozen Lite1 that plateaued at 69 % where the fine-tune it displaced reaches ~90 %)
    se = math.sqrt((0.627 * 0.373 + 0.616 * 0.384) / 359)
    assert math.isclose(lead_needed(0.627, 0.616, 359, 1.0), se) and 0.011 < se
    assert math.isclose(lead_needed(0.627, 0.616, 359, 2.0), 2 * se)
    assert lead_needed(0.627, 0.616, None, 1.0) == 0.0 and lead_needed(0.627, 0.616, 359, 0.0) == 0.0
    trials = _trials(t0=[0.30, 0.50, 0.616, 0.70], t1=[0.40, 0.52, 0.627])
    assert equal_epoch_leader(trials, [0, 1], 0) == 1  # any lead
    assert equal_epoch_leader(trials, [0, 1], 0, val_images=359, z=1.0) == 0  # within the noise
    assert equal_epoch_leader(trials, [0, 1], 0, val_images=100_000, z=1.0) == 1  # many images: a real lead


def test_the_incumbent_breaks_ties_by_the_last_score_then_the_lower_id_and_keeps_a_failed_trials_best_epoch():
    # t3 was told first and reached 0.6 first; t1 reached it too and ended higher (0.58 > 0.5): t1, at its epoch 2
    trials = {3: TrialState(scores=[0.6, 0.5]), 1: TrialState(scores=[0.4, 0.6, 0.58]), 2: TrialState(scores=[0.3])}
    assert incumbent(trials) == (1, 2, 0.6)
    trials[0] = TrialState(scores=[0.55, 0.6, 0.58])  # the same best and last: the lower id, at its first 0.6
    assert incumbent(trials) == (0, 2, 0.6)
    trials[4] = TrialState(scores=[0.9], status=DIVERGED)  # its epoch 1 is kept (and exported): it diverged later
    assert incumbent(trials) == (4, 1, 0.9)
    assert incumbent(trials, can_go_on=True) == (0, 2, 0.6)  # the best that can train further
    assert incumbent({}) is None and incumbent({5: TrialState(status=DIVERGED)}) is None

