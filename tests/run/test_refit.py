"""run/refit.py: what an epoch of the fine-tune really cost, and the schedule length it leads to."""

from __future__ import annotations

import types

from hf_quicktune.run.refit import REFIT_EPOCHS, measured_epoch_seconds, refit_epochs, refit_fine_tune


def _steps(*ends, started=2.0, trial_id=0):
    return [{"trial_id": trial_id, "status": "ok", "epoch": i + 1, "elapsed_s": e, "job_started_s": started}
            for i, e in enumerate(ends)]


def test_an_epoch_costs_the_time_from_the_previous_epochs_end_loop_included():
    assert measured_epoch_seconds(_steps(14.0), 0) == 12.0  # the first: from its job's submission
    assert measured_epoch_seconds(_steps(14.0, 25.5), 0) == 11.5  # later: end to end, the loop between included
    failed = _steps(14.0) + [{"trial_id": 0, "status": "diverged", "epoch": 2, "elapsed_s": 30.0}]
    assert measured_epoch_seconds(failed, 0) == 12.0 and measured_epoch_seconds(_steps(14.0), 1) is None


def test_the_length_is_the_epochs_done_plus_what_the_time_left_buys():
    assert refit_epochs(1, 30.0, 131.0, 4) == 5  # mnist5k: 4.77 affordable epochs had become 4
    assert refit_epochs(2, 5.0, 100.0, 18) == 22
    # never shorter: a first epoch with one-time costs would cut an epoch that fits
    assert refit_epochs(1, 14.3, 29.0, 4) == 4 and refit_epochs(2, 5.0, 100.0, 24) == 24
    assert refit_epochs(1, 0.1, 1e6, 4) == 50  # never past the space's schedule
    assert refit_epochs(1, float("nan"), 100.0, 4) == 4


def test_refits_only_the_first_epochs_of_a_trial_that_goes_on():
    opt = types.SimpleNamespace(trials={0: types.SimpleNamespace(epochs=1, status="ok")})
    change = refit_fine_tune(opt, _steps(32.0), 0, 120.0, 4)
    assert change == {"after_epoch": 1, "epoch_s": 30.0, "seconds_left": 120.0, "from": 4, "max_epochs": 5}
    assert refit_fine_tune(opt, _steps(32.0), 0, None, 4) is None  # no wall-clock budget
    assert refit_fine_tune(opt, _steps(32.0), 0, 95.0, 4) is None  # 1 + 3 = 4: the length stays
    opt.trials[0].epochs = REFIT_EPOCHS + 1
    assert refit_fine_tune(opt, _steps(10.0, 20.0, 30.0), 0, 500.0, 4) is None  # late: the schedule stays
    opt.trials[0] = types.SimpleNamespace(epochs=1, status="diverged")
    assert refit_fine_tune(opt, _steps(32.0), 0, 500.0, 4) is None


def test_the_refit_window_opens_after_a_first_job_of_several_epochs():
    """A prior's learnt initial_epochs makes the fine-tune's first job several epochs long (3 of a 26-epoch
    schedule): its end and the next epoch are still re-fitted; the epoch after is not."""
    opt = types.SimpleNamespace(initial_epochs=3, trials={0: types.SimpleNamespace(epochs=3, status="ok")})
    steps = _steps(12.0, 14.0, 16.0, started=2.0)  # one job: a 10 s first epoch, then 2 s epochs
    change = refit_fine_tune(opt, steps, 0, 60.0, 26)
    assert change == {"after_epoch": 3, "epoch_s": 2.0, "seconds_left": 60.0, "from": 26, "max_epochs": 33}
    opt.trials[0].epochs = 4
    steps = _steps(12.0, 14.0, 16.0, 18.0)
    assert refit_fine_tune(opt, steps, 0, 70.0, 33) == {
        "after_epoch": 4, "epoch_s": 2.0, "seconds_left": 70.0, "from": 33, "max_epochs": 39}
    opt.trials[0].epochs = 5  # past the window: the schedule stays, however much time is left
    assert refit_fine_tune(opt, _steps(12.0, 14.0, 16.0, 18.0, 20.0), 0, 500.0, 39) is None
    opt.initial_epochs = 1  # the paper's one-epoch first job: the window is epochs 1 and 2, as before
    assert refit_fine_tune(opt, _steps(12.0, 14.0, 16.0), 0, 500.0, 39) is None
