"""Re-fitting a no-search run's schedule to the epochs it really gets.

A budget too small to search trains one fine-tune whose schedule length was fitted before any epoch ran
(:mod:`~hf_quicktune.run.schedule`: timed steps, loaded batches and a checkpoint write). That estimate
was 5-24 % off on the product benchmark, and the epochs it affords are rounded down: on 5,000 MNIST
digits with 3 minutes, 4.77 affordable epochs became a 4-epoch schedule that ended with 36-43 s unused,
while a practitioner's fine-tune got 5-6.

So after its first job (``initial_epochs`` epochs, one or a few) and each following epoch up to
:data:`REFIT_EPOCHS` re-fits, the run measures what an epoch really
costs (its wall time, from the previous epoch's end: training, evaluation, checkpoint and the loop around
them) and lengthens the schedule to the epochs done plus what the budget left buys at that cost, when that
is more. It never shortens it: the first epoch carries one-time costs (building the model, the loader's
first batches; in one hand run on digits, 14.3 s against 10.9 and 9.7 s for the next two), so a
shorter schedule fitted to it lost an epoch that would have fitted, and a schedule a little too long loses
little (the budget ends it near the end of its cosine, where the learning rate is a few percent of its peak). The learning
rate continues on the new horizon (``Trial(horizon_may_change=True)``); ``settings.json`` and the
optimizer state keep the new length, ``schedule.json`` lists each re-fit. Later epochs keep the schedule:
near its end a new horizon would move the learning rate where it matters most. Only in-process runs
re-fit (a Ray actor builds its trials from the settings it was started with).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from hf_quicktune.run.outcome import OK
from hf_quicktune.run.schedule import DEFAULT_MAX_EPOCHS

#: how many times the fine-tune's schedule may be re-fitted: after its first job (which includes building the model)
#: and after each epoch that follows, until this many
REFIT_EPOCHS = 2


def measured_epoch_seconds(steps: Sequence[Mapping[str, Any]], trial_id: int) -> float | None:
    """Wall seconds of ``trial_id``'s last epoch as the run saw it: from the end of its previous epoch (or,
    for the first, from its job's submission) to its own end, so the loop around the epoch counts too."""
    ok = [s for s in steps if s.get("trial_id") == trial_id and s.get("status") == OK]
    if not ok:
        return None
    last = ok[-1]
    start = ok[-2]["elapsed_s"] if len(ok) > 1 else last.get("job_started_s")
    if start is None or last.get("elapsed_s") is None:
        return None
    seconds = float(last["elapsed_s"]) - float(start)
    return seconds if seconds > 0 else None


def refit_epochs(epochs_done: int, epoch_s: float, seconds_left: float, current: int, *,
                 most: int = DEFAULT_MAX_EPOCHS) -> int:
    """The schedule length: ``current``, or longer when ``seconds_left`` buys more epochs after ``epochs_done``
    at ``epoch_s`` each (at most ``most``); never shorter (see the module docstring)."""
    if epoch_s <= 0 or not math.isfinite(epoch_s) or not math.isfinite(seconds_left):
        return current
    more = math.floor(max(0.0, seconds_left) / epoch_s)
    return int(max(current, min(most, epochs_done + more)))


def refit_fine_tune(opt: Any, steps: Sequence[Mapping[str, Any]], trial_id: int, seconds_left: float | None,
                    current: int) -> dict[str, Any] | None:
    """The re-fit after ``trial_id``'s latest epoch, or None (no budget, past its first :data:`REFIT_EPOCHS`
    jobs, the trial ended, or the length stays): ``{"after_epoch", "epoch_s", "seconds_left", "from",
    "max_epochs"}``. ``seconds_left``: the budget left now, less the run's end reserve. The first job spans
    ``opt.initial_epochs`` epochs (a prior's learnt value: 3 of a 26-epoch schedule), so the window counts
    from its end; counted from epoch 1 it never opened for schedules of 25 epochs or more."""
    st = opt.trials.get(trial_id)
    first_job = max(1, int(getattr(opt, "initial_epochs", 1) or 1))
    if seconds_left is None or st is None or st.status != OK or not 1 <= st.epochs <= first_job + REFIT_EPOCHS - 1:
        return None
    if st.epochs >= current:
        return None
    epoch_s = measured_epoch_seconds(steps, trial_id)
    if epoch_s is None:
        return None
    n = refit_epochs(st.epochs, epoch_s, seconds_left, current)
    if n == current:
        return None
    return {"after_epoch": st.epochs, "epoch_s": round(epoch_s, 3), "seconds_left": round(seconds_left, 3),
            "from": current, "max_epochs": n}
