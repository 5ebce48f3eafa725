"""run/refit.py: what an epoch of the fine-tune really costs, and the schedule length it leads to."""

from __future__ import annotations

import types

from hf_quicktune.run.refit import (
    epoch_wall_seconds,
    measured_epoch_parts,
    measured_epoch_seconds,
    refit_epochs,
    refit_fine_tune,
    refit_fraction,
)


def _steps(*ends, started=2.0, first_job=1, trial_id=0):
    """Told epochs ending at ``ends``: the first ``first_job`` in one job submitted at ``started`` (told together,
    so they share its end), then one job per epoch, each submitted when the previous one was told."""
    out = []
    for i, e in enumerate(ends):
        job_started = started if i < first_job else ends[i - 1]
        out.append({"trial_id": trial_id, "status": "ok", "epoch": i + 1, "elapsed_s": e, "job_started_s": job_started})
    return out


def _opt(epochs, status="ok"):
    return types.SimpleNamespace(trials={0: types.SimpleNamespace(epochs=epochs, status=status)})


def test_an_epoch_costs_the_time_from_the_previous_epochs_end_loop_included():
    assert epoch_wall_seconds(_steps(14.0, 25.5, 36.0), 0) == [[12.0], [11.5], [10.5]]  # the first: from its submission
    # the epochs of one job are told together when it ends: each gets the job's mean
    assert epoch_wall_seconds(_steps(11.0, 11.0, 11.0, 13.5, started=2.0, first_job=3), 0) == [[3.0] * 3, [2.5]]
    assert measured_epoch_seconds(_steps(14.0), 0) == 12.0  # the first alone while it is the only one
    assert measured_epoch_seconds(_steps(14.0, 25.5), 0) == 11.5  # then left out: it carries one-time costs
    assert measured_epoch_seconds(_steps(11.0, 11.0, 11.0, 13.5, first_job=3), 0) == 2.5
    # the median of the last three after the first: one slow epoch does not move it
    assert measured_epoch_seconds(_steps(14.0, 24.0, 34.0, 54.0, 64.0), 0) == 10.0
    assert measured_epoch_seconds(_steps(14.0, 24.0, 34.0, 44.0, 49.0, 54.0, 59.0), 0) == 5.0  # recent epochs
    failed = _steps(14.0) + [{"trial_id": 0, "status": "diverged", "epoch": 2, "elapsed_s": 30.0}]
    assert measured_epoch_seconds(failed, 0) == 12.0 and measured_epoch_seconds(_steps(14.0), 1) is None


def test_an_epochs_cost_is_measured_over_the_latest_epochs_spanning_recent_seconds():
    """This VM's speed moves in stretches of a few seconds: a run of 0.85 s epochs among 1.2 s ones (a fewshot
    search's finishing incumbent) moved the median of the last three, and the schedule with it, back and forth
    between 153 and 208 epochs. The median spans RECENT_SECONDS (at least RECENT epochs): short epochs are measured
    over as many as that takes, long ones over the last RECENT."""
    from hf_quicktune.run.refit import RECENT, RECENT_SECONDS

    ends = [2.0]
    for wall in [1.2] * 20 + [0.85] * 4:
        ends.append(ends[-1] + wall)
    steps = _steps(*ends[1:], started=0.0)
    assert round(measured_epoch_seconds(steps, 0), 3) == 1.2  # the median of the last three was 0.85
    ends = [2.0] + [2.0 + 30.0 * i for i in range(1, 6)]
    assert measured_epoch_seconds(_steps(*ends[1:], started=0.0), 0) == 30.0
    # a speed that lasts more than the window is followed
    ends = [2.0]
    for wall in [1.2] * 20 + [0.85] * 30:
        ends.append(ends[-1] + wall)
    assert round(measured_epoch_seconds(_steps(*ends[1:], started=0.0), 0), 3) == 0.85
    assert RECENT_SECONDS > RECENT * 1.2


def test_the_length_is_the_epochs_done_plus_what_the_time_left_buys():
    assert refit_epochs(1, 30.0, 131.0, 4) == 5  # mnist5k: 4.77 affordable epochs had become 4
    assert refit_epochs(2, 5.0, 100.0, 18) == 22
    # too long: shortened to what fits, so the cosine anneals before the budget ends it
    assert refit_epochs(4, 14.0, 60.0, 12) == 8  # 10 of 12 epochs had been done when the budget ended it
    assert refit_epochs(1, 14.3, 29.0, 4) == 3
    assert refit_epochs(1, 14.3, 29.0, 4, shorten=False) == 4 and refit_epochs(1, 14.3, 80.0, 4, shorten=False) == 6
    # a dead band of half an epoch: an overrun of less than that keeps the length (one slow epoch must not
    # make it flip back and forth), and the schedule never ends before the next epoch
    assert refit_epochs(2, 10.0, 26.0, 5) == 5 and refit_epochs(2, 10.0, 24.0, 5) == 4
    assert refit_epochs(3, 10.0, 2.0, 8) == 4
    assert refit_epochs(1, 0.1, 1e6, 4) == 50  # never past the space's schedule
    assert refit_epochs(1, float("nan"), 100.0, 4) == 4


def test_refits_after_every_epoch_of_a_trial_that_goes_on():
    opt = _opt(1)
    change = refit_fine_tune(opt, _steps(32.0), 0, 120.0, 4)
    assert change == {"after_epoch": 1, "epoch_s": 30.0, "seconds_left": 120.0, "from": 4, "max_epochs": 5}
    assert refit_fine_tune(opt, _steps(32.0), 0, None, 4) is None  # no wall-clock budget
    assert refit_fine_tune(opt, _steps(32.0), 0, 95.0, 4) is None  # 1 + 3 = 4: the length stays
    # the first job (model built, loader warmed) never shortens it, nor do fewer than 3 epochs after it (one
    # slow epoch); then it may
    assert refit_fine_tune(opt, _steps(32.0), 0, 30.0, 4) is None
    opt.trials[0].epochs = 3
    assert refit_fine_tune(opt, _steps(32.0, 62.0, 92.0), 0, 30.0, 6) is None
    opt.trials[0].epochs = 4
    assert refit_fine_tune(opt, _steps(32.0, 62.0, 92.0, 122.0), 0, 30.0, 6)["max_epochs"] == 5
    # late epochs are re-fitted too: a machine that slowed down (10 s -> 20 s epochs) shortens the schedule
    opt.trials[0].epochs = 5
    steps = _steps(12.0, 22.0, 42.0, 62.0, 82.0)
    assert refit_fine_tune(opt, steps, 0, 50.0, 9) == {
        "after_epoch": 5, "epoch_s": 20.0, "seconds_left": 50.0, "from": 9, "max_epochs": 7}
    # ... and one that sped up lengthens it
    steps = _steps(22.0, 42.0, 52.0, 62.0, 72.0)
    assert refit_fine_tune(opt, steps, 0, 100.0, 9)["max_epochs"] == 15
    assert refit_fine_tune(opt, steps, 0, 100.0, 5) is None  # its schedule is done
    opt.trials[0] = types.SimpleNamespace(epochs=1, status="diverged")
    assert refit_fine_tune(opt, _steps(32.0), 0, 500.0, 4) is None


def test_a_searched_trials_epoch_costs_its_own_job_not_the_other_trials_jobs_between():
    """In a search other trials' jobs run between two of a trial's jobs; its resumed epoch costs the time from the
    tell before its submission (the loop between counts), not from its own previous epoch's end (which billed it
    with the other trials' jobs: the finishing incumbent of a search is re-fitted from these figures)."""
    steps = [
        {"trial_id": 0, "status": "ok", "epoch": 1, "elapsed_s": 12.0, "job_started_s": 2.0},
        {"trial_id": 1, "status": "ok", "epoch": 1, "elapsed_s": 22.5, "job_started_s": 12.5},
        {"trial_id": 2, "status": "ok", "epoch": 1, "elapsed_s": 33.0, "job_started_s": 23.0},
        {"trial_id": 0, "status": "ok", "epoch": 2, "elapsed_s": 44.0, "job_started_s": 34.0},  # 11 s from 33
        {"trial_id": 0, "status": "ok", "epoch": 3, "elapsed_s": 54.0, "job_started_s": 44.5},  # 10 s from 44
    ]
    assert epoch_wall_seconds(steps, 0) == [[10.0], [11.0], [10.0]]  # was [[10], [32], [10]]
    assert epoch_wall_seconds(steps, 2) == [[10.5]]  # a first job too: from the tell before it
    assert measured_epoch_seconds(steps, 0) == 10.5
    # steps of an older run without submission times: from the trial's previous epoch, as before
    old = [{k: v for k, v in s.items() if k != "job_started_s"} for s in steps]
    assert epoch_wall_seconds(old, 0) == [[32.0], [10.0]]


def test_a_refit_grows_up_to_the_longest_schedule_it_is_given():
    """``most``: the no-search fine-tune's ceiling (more than 50 epochs on a small training set, like its fitted
    schedule), a finishing incumbent's share over its searched schedule (run/plan.refit_run_schedule)."""
    opt = _opt(3)
    steps = _steps(3.0, 4.0, 5.0)  # 1 s epochs after the first
    assert refit_fine_tune(opt, steps, 0, 500.0, 40)["max_epochs"] == 50  # the space's 50 by default
    assert refit_fine_tune(opt, steps, 0, 500.0, 40, most=120)["max_epochs"] == 120
    assert refit_fine_tune(opt, steps, 0, 60.0, 40, most=120)["max_epochs"] == 63  # what the time left buys
    assert refit_fine_tune(opt, steps, 0, 500.0, 80, most=60) is None  # never shortened for the cap: 80 stays


def test_a_first_job_of_several_epochs_lengthens_only_then_its_later_epochs_decide():
    """A prior's learnt initial_epochs makes the fine-tune's first job several epochs long (3 of a 26-epoch
    schedule, told together when the job ends): its mean epoch (model built, loader warmed) may lengthen the
    schedule, never shorten it; the epochs after it measure what an epoch costs."""
    first = _steps(12.0, 12.0, 12.0, first_job=3)  # 10 s for 3 epochs, one-time costs included
    opt = _opt(3)
    assert refit_fine_tune(opt, first, 0, 60.0, 26) is None  # 18 more at 3.3 s: shorter, not from this job
    change = refit_fine_tune(opt, first, 0, 100.0, 26)
    assert change == {"after_epoch": 3, "epoch_s": 3.333, "seconds_left": 100.0, "from": 26, "max_epochs": 33}
    opt.trials[0].epochs = 5
    steps = _steps(12.0, 12.0, 12.0, 14.0, 16.0, first_job=3)  # then 2 s epochs
    assert refit_fine_tune(opt, steps, 0, 60.0, 26) == {
        "after_epoch": 5, "epoch_s": 2.0, "seconds_left": 60.0, "from": 26, "max_epochs": 35}


def test_a_change_is_material_and_waits_for_epochs_measured_after_the_previous_one():
    """Each change rebuilds the trial's engine (its next epoch is slower): a change is at least MIN_CHANGE of the
    epochs left (at least one) and comes RECENT epochs after the previous one, so changes do not feed changes."""
    opt = _opt(8)
    steps = _steps(*[2.0 + 2.0 * e for e in range(1, 9)])  # 2 s epochs
    # 80 s buy 40 more: 48 epochs, 2 more than the 46 planned: less than a tenth of the 38 left, so it stays
    assert refit_fine_tune(opt, steps, 0, 80.0, 46) is None
    assert refit_fine_tune(opt, steps, 0, 80.0, 44)["max_epochs"] == 48  # 4 more: a change
    assert refit_fine_tune(opt, steps, 0, 80.0, 53)["max_epochs"] == 48  # 5 fewer, of 45 left: a change
    # near the end a single epoch is material
    opt.trials[0].epochs = 8
    assert refit_fine_tune(opt, steps, 0, 2.0, 10)["max_epochs"] == 9
    # fewer than RECENT epochs since the previous change at epoch 6: nothing yet; at epoch 5 it was 3 ago
    assert refit_fine_tune(opt, steps, 0, 80.0, 44, last_change=6) is None
    assert refit_fine_tune(opt, steps, 0, 80.0, 44, last_change=5)["max_epochs"] == 48


def _timed(*walls, train=8.0, ips=12.5, eval_s=1.0):
    """One-epoch jobs of ``walls`` seconds back to back from 0 s, each training ``train`` s (its ``cost`` is
    training + evaluation) at ``ips`` images/s."""
    ends = [sum(walls[: i + 1]) for i in range(len(walls))]
    return [{**s, "cost": train + eval_s, "eval_s": eval_s, "ips": ips} for s in _steps(*ends, started=0.0)]


def test_an_epochs_parts_are_its_whole_training_at_the_measured_throughput_and_the_rest():
    # 100 images at 12.5 images/s: 8 s of training for a whole epoch; the rest of a 10 s epoch is 2 s
    assert measured_epoch_parts(_timed(11.0), 0, 100) == (8.0, 3.0)  # the first job alone: one-time costs in
    assert measured_epoch_parts(_timed(11.0, 10.0, 10.0), 0, 100) == (8.0, 2.0)  # then left out
    # an epoch of a share of the images (4 s of training at the same throughput) is priced whole
    assert measured_epoch_parts(_timed(11.0, 6.0, 6.0, train=4.0), 0, 100) == (8.0, 2.0)
    assert measured_epoch_parts([{k: v for k, v in s.items() if k != "ips"} for s in _timed(11.0, 10.0)], 0, 100) is None


def test_epochs_that_would_overrun_the_budget_train_a_share_of_the_images_each():
    steps = _timed(11.0, 10.0)
    # 3 epochs of 10 s left in 25 s: the last would be cut by the budget; 3 of 77 % of the images fill 98 % of it
    assert refit_fraction(steps, 0, 2, 25.0, 5, 1.0, 100) == (5, 0.7708)
    # or one fewer, when that trains more images: in 14 s, 2 of 61 % (3 of 32 % would train fewer)
    assert refit_fraction(steps, 0, 2, 14.0, 5, 1.0, 100) == (4, 0.6074)
    # the first job alone (its one-time costs) does not reduce a plan
    assert refit_fraction(_timed(11.0), 0, 1, 25.0, 5, 1.0, 100) is None
    # but the share of a last epoch left, which the budget would otherwise refuse (less than half of it fits)
    # or end before its learning rate anneals: 6 s left train 36 % of the images after a 3 s evaluation
    assert refit_fraction(_timed(11.0), 0, 1, 6.0, 2, 1.0, 100) == (2, 0.36)
    assert refit_fraction(_timed(11.0), 0, 1, 6.0, 2, 0.33, 100) is None  # 33 % fit: the gain is noise
    assert refit_fraction(steps, 0, 2, 31.0, 5, 1.0, 100) is None  # 3 x 10 s fit
    assert refit_fraction(steps, 0, 5, 31.0, 5, 1.0, 100) is None  # the schedule is done
    # 1.5 s left cannot even evaluate an epoch (2 s): the plan stays, the budget ends the run
    assert refit_fraction(steps, 0, 2, 1.5, 3, 0.9, 100) is None
    assert refit_fraction(steps, 0, 2, 2.5, 3, 0.9, 100) == (3, 0.0562)  # a sliver of an epoch still fits


def test_time_left_over_buys_an_epoch_more_of_a_share_of_the_images_when_it_trains_more():
    steps = _timed(11.0, 10.0)
    # 34 s left for 3 whole epochs planned in 30 s: 4 of 79 % (3.17 epochs' images) instead
    assert refit_fraction(steps, 0, 2, 34.0, 5, 1.0, 100) == (6, 0.7912)
    # the same from 3 epochs of 80 % (2.4 epochs' images in 25.2 s)
    assert refit_fraction(steps, 0, 2, 34.0, 5, 0.8, 100) == (6, 0.7912)
    # a gain below RAISE_MIN of an epoch's images is left to noise: 3 whole in 31 s (4 of 72 % train 2.9)
    assert refit_fraction(steps, 0, 2, 31.0, 5, 1.0, 100) is None
    assert refit_fraction(steps, 0, 2, 34.0, 6, 0.78, 100) is None  # 4 of 79.12 % where 4 of 78 % are planned
    # refit_fine_tune: the length's re-fit first; when it keeps the length, the share of the images
    opt = _opt(2)
    assert refit_fine_tune(opt, steps, 0, 34.0, 5, fraction=1.0, train_images=100) == {
        "after_epoch": 2, "epoch_s": 10.0, "seconds_left": 34.0, "from": 5, "max_epochs": 6, "fraction_from": 1.0,
        "epoch_fraction": 0.7912, "length": True}  # one epoch more: a change of length for the next re-fit
    assert refit_fine_tune(opt, steps, 0, 34.0, 5) is None  # no image count: lengths only
    assert refit_fine_tune(opt, steps, 0, 80.0, 5, fraction=1.0, train_images=100)["max_epochs"] == 10  # a length


def test_a_change_of_length_re_plans_the_share_of_the_images_on_the_new_length():
    """The new length is priced at the epochs' current share; when the time left then trains more of the images,
    the share moves with it (a length re-fit that kept the share left a run's last epoch on half the images where
    the time left trained all of them), and the change still counts as one of length."""
    from hf_quicktune.run.refit import last_length_change

    steps = _timed(8.0, 7.0, 7.0, train=4.0)  # epochs of half the images: 4 s of a whole epoch's 8 s, 3 s besides
    opt = _opt(3)
    # 22 s buy 3 more 7 s epochs of half the images (6 in all, 1.5 epochs' images); 2 of 97 % train 1.95
    change = refit_fine_tune(opt, steps, 0, 22.0, 4, fraction=0.5, train_images=100)
    assert change == {"after_epoch": 3, "epoch_s": 7.0, "seconds_left": 22.0, "from": 4, "max_epochs": 5,
                      "fraction_from": 0.5, "epoch_fraction": 0.9725, "length": True}
    assert refit_fine_tune(opt, steps, 0, 22.0, 4)["max_epochs"] == 6  # without an image count: the length only
    # on whole batches of 10: 90 %
    assert refit_fine_tune(opt, steps, 0, 22.0, 4, fraction=0.5, train_images=100,
                           batch_size=10)["epoch_fraction"] == 0.9
    # whole epochs that fit stay whole (the share planner trains no more images than they do)
    whole = _timed(11.0, 10.0, 10.0)
    assert refit_fine_tune(opt, whole, 0, 40.0, 4, fraction=1.0, train_images=100) == {
        "after_epoch": 3, "epoch_s": 10.0, "seconds_left": 40.0, "from": 4, "max_epochs": 7}
    # what the next re-fit waits on: the latest change of length, a share re-plan alone is none
    refits = [{"after_epoch": 2, "max_epochs": 6}, {"after_epoch": 3, "max_epochs": 6, "epoch_fraction": 0.8},
              {"after_epoch": 5, "max_epochs": 7, "epoch_fraction": 0.9, "length": True},
              {"after_epoch": 6, "max_epochs": 7, "epoch_fraction": 0.7}]
    assert last_length_change(refits) == 5 and last_length_change(refits[:2]) == 2 and last_length_change([]) is None


def test_a_re_plan_of_the_share_changes_the_length_only_where_a_length_re_fit_could():
    """The share's re-plan moved the length past the length re-fit's dead band and spacing (each change moves the
    cosine; benchmarks/refit_replans.py counts them): it
    changes the length only at least RECENT epochs after the latest change of length, by at least MIN_CHANGE of
    the epochs left, shorter only once RECENT epochs after the first job are measured; else it moves the share of
    the epochs the schedule has."""
    steps = _timed(11.0, 10.0)
    opt = _opt(2)
    # 34 s left for 3 whole epochs of 10 s: 4 of 79 % - unless the length changed after epoch 1
    assert refit_fine_tune(opt, steps, 0, 34.0, 5, fraction=1.0, train_images=100)["max_epochs"] == 6
    assert refit_fine_tune(opt, steps, 0, 34.0, 5, last_change=1, fraction=1.0, train_images=100) is None
    # from 90 % of the images the share rises on the 3 epochs left instead: 3 of 100 % fit in 34 s
    assert refit_fine_tune(opt, steps, 0, 34.0, 5, last_change=1, fraction=0.9, train_images=100) == {
        "after_epoch": 2, "epoch_s": 10.0, "seconds_left": 34.0, "from": 5, "max_epochs": 5, "fraction_from": 0.9,
        "epoch_fraction": 1.0}
    # one epoch more of 30 left is below MIN_CHANGE (3): 30 epochs of a larger share, not 31 of a smaller one
    long = _timed(11.0, 10.0, 10.0, 10.0, 10.0)
    opt = _opt(5)
    change = refit_fine_tune(opt, long, 0, 305.0, 35, fraction=0.95, train_images=100)
    assert change["max_epochs"] == 35 and change["epoch_fraction"] == 0.9954 and "length" not in change
    # shorter: epochs of 2 s of training and 8 s besides; 26 s cannot train the 3 left (the length re-fit's dead
    # band keeps them: 0.4 epoch over); 2 whole epochs train more images than 3 of the 25 % that fit
    later = _timed(11.0, 10.0, 10.0, 10.0, train=2.0, ips=50.0)
    assert refit_fraction(later, 0, 4, 26.0, 7, 1.0, 100) == (6, 1.0)
    assert refit_fine_tune(_opt(4), later, 0, 26.0, 7, fraction=1.0, train_images=100) == {
        "after_epoch": 4, "epoch_s": 10.0, "seconds_left": 26.0, "from": 7, "max_epochs": 6, "fraction_from": 1.0,
        "epoch_fraction": 1.0, "length": True}
    # but not before RECENT epochs after the first job are measured: the 3 epochs left train a share that fits
    early = _timed(11.0, 10.0, train=2.0, ips=50.0)
    assert refit_fraction(early, 0, 2, 26.0, 5, 1.0, 100) == (4, 1.0)
    assert refit_fine_tune(_opt(2), early, 0, 26.0, 5, fraction=1.0, train_images=100) == {
        "after_epoch": 2, "epoch_s": 10.0, "seconds_left": 26.0, "from": 5, "max_epochs": 5, "fraction_from": 1.0,
        "epoch_fraction": 0.2466}
