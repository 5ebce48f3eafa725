"""Re-fitting a no-search run's schedule to the epochs it really gets, after every epoch.

A budget too small to search trains one fine-tune whose schedule length was fitted before any epoch ran
(:mod:`~hf_quicktune.run.schedule`: timed steps, loaded batches and a checkpoint write). That estimate was
5-24 % off on the product benchmark, and one machine's speed drifts during a run (mnist5k epochs of 14-24 s
against 13-15 s predicted, benchmarks/product_vs_finetune.py). A schedule fitted too short ends with budget
unused; one fitted too long is cut by the budget before its cosine anneals (10 epochs of a 12-epoch
schedule). A practitioner watching the clock would re-plan; the run does it for them, so that its cosine
ends with the budget rather than after a fixed epoch count.

After each job of the fine-tune (its first spans the optimizer's ``initial_epochs``, later ones one epoch),
the run measures what an epoch costs here: the median of its last :data:`RECENT` epochs' wall times, or more
epochs until they span :data:`RECENT_SECONDS` (each
job from the previous one's end: training, evaluation, checkpoint and the loop around them; the epochs of
one job share its mean, as they are told together), leaving out the first job once a later one exists (it
carries one-time costs: building the model, the loader's first batches). The schedule becomes the epochs
done plus what the budget left buys at that cost: longer when the budget buys more; shorter only once
:data:`RECENT` epochs after the first job are measured (the first job would cut epochs that fit, a single
slow epoch a whole stretch of the schedule) and only when the epochs it still has would overrun the budget
by more than :data:`SHORTEN_SLACK` epochs (a dead band against timing noise). Either change is at least
:data:`MIN_CHANGE` of the epochs left (and at least one), and comes at most once every :data:`RECENT`
epochs: a change used to rebuild the trial's engine, whose slower next epoch had fed further changes (the
engine kept in memory now changes its horizon in place, ``Trial.set_schedule``). The
learning rate continues on the new horizon from the epochs done (``Trial(horizon_may_change=True)``);
``settings.json`` and the optimizer state keep the new length, ``schedule.json`` lists each re-fit. With
``--workers`` every Ray actor takes the change (``RayExecutor.reschedule``).

Whole epochs leave a part of the last one's time unused, or overrun it; when a re-fit keeps the length,
:func:`refit_fraction` re-plans the epochs left to end with the budget, each on a share of the images
(:func:`~hf_quicktune.run.schedule.fractional_epochs`); a re-plan that adds or drops an epoch is a change of length
and obeys the length's rule (:func:`_length_may_change`), else only the share of the epochs left moves.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from hf_quicktune.run.outcome import OK
from hf_quicktune.run.schedule import DEFAULT_MAX_EPOCHS

#: how many of the latest epochs the cost of an epoch is the median of, at least
RECENT = 3
#: ... and at least the latest epochs spanning this many seconds: this VM's speed moves in stretches of a few
#: seconds, and the median of three ~1-second epochs followed each (a fewshot search's finishing incumbent re-fitted
#: its 160-epoch schedule between 153 and 208 epochs at measured epochs of 0.86-1.32 s:
#: benchmarks/product_vs_finetune.py prints the re-fits)
RECENT_SECONDS = 20.0
#: a schedule is shortened only when its remaining epochs overrun the time left by more than this many epochs
SHORTEN_SLACK = 0.5
#: a re-fit changes the length by at least this share of the epochs the schedule has left (and at least one):
#: a few epochs more or less of a long schedule are a few percent of the budget, and each change rebuilt the
#: engine, whose slower next epoch had fed more changes (9 re-fits in one 90 s digits run)
MIN_CHANGE = 0.1
#: a re-plan of the epochs' share of the images that leaves time (:func:`refit_fraction`) is taken when the
#: epochs left train at least this share of an epoch's images more
RAISE_MIN = 0.05


def _job_steps(steps: Sequence[Mapping[str, Any]], trial_id: int) -> list[tuple[float, list[Mapping[str, Any]]]]:
    """``trial_id``'s jobs as (wall seconds, their steps): from the tell before its submission (:func:`_job_start`)
    to the tell of its last epoch, so the loop between jobs counts too. A job's epochs
    are told together when it ends (one ``job_started_s``), so only a job's total is known, not its epochs'."""
    ok = [s for s in steps if s.get("trial_id") == trial_id and s.get("status") == OK]
    jobs: list[list[Mapping[str, Any]]] = []
    for step in ok:
        started = step.get("job_started_s")
        if jobs and started is not None and jobs[-1][-1].get("job_started_s") == started:
            jobs[-1].append(step)
        else:
            jobs.append([step])
    told = sorted(float(s["elapsed_s"]) for s in steps if s.get("elapsed_s") is not None)
    out: list[tuple[float, list[Mapping[str, Any]]]] = []
    for i, job in enumerate(jobs):
        start = _job_start(told, job[0].get("job_started_s"), jobs[i - 1][-1].get("elapsed_s") if i else None)
        end = job[-1].get("elapsed_s")
        if start is None or end is None or float(end) - float(start) <= 0:
            continue
        out.append((float(end) - float(start), job))
    return out


def _job_start(told: list[float], submitted: Any, previous_end: Any = None) -> float | None:
    """When a job submitted at run second ``submitted`` began for its wall time: the tell of the last step told
    before it (of any trial: the loop between that tell and the submission counts), else its submission.
    Counting from the same trial's previous job (``previous_end``, kept for steps without a submission time)
    billed a searched trial's resumed epoch with every other trial's jobs in between (the end of a search
    re-fits its incumbent, :meth:`~hf_quicktune.run.search_loop.Search.finishing`)."""
    if submitted is None:
        return None if previous_end is None else float(previous_end)
    before = [t for t in told if t <= float(submitted)]
    return before[-1] if before else float(submitted)


def _jobs(steps: Sequence[Mapping[str, Any]], trial_id: int) -> list[tuple[float, int]]:
    """``trial_id``'s jobs as (wall seconds, epochs): :func:`_job_steps`."""
    return [(seconds, len(job)) for seconds, job in _job_steps(steps, trial_id)]


def epoch_wall_seconds(steps: Sequence[Mapping[str, Any]], trial_id: int) -> list[list[float]]:
    """Wall seconds of each of ``trial_id``'s epochs as the run saw them, grouped by job (each epoch of a
    job of several gets the job's mean): see :func:`_jobs`."""
    return [[seconds / epochs] * epochs for seconds, epochs in _jobs(steps, trial_id)]


def measured_epoch_seconds(steps: Sequence[Mapping[str, Any]], trial_id: int, recent: int = RECENT) -> float | None:
    """What an epoch of ``trial_id`` costs here: the median of its last ``recent`` epochs' wall seconds, or of more
    until they span :data:`RECENT_SECONDS` (:func:`epoch_wall_seconds`), its first job left out once a later
    one exists. None before any epoch."""
    jobs = epoch_wall_seconds(steps, trial_id)
    if len(jobs) > 1:
        jobs = jobs[1:]
    walls = [w for job in jobs for w in job]
    if not walls:
        return None
    return float(statistics.median(walls[-_window(walls, recent):]))


def _window(walls: Sequence[float], recent: int) -> int:
    """How many of the latest epochs (wall seconds ``walls``) a measure takes: ``recent``, or more until they span
    :data:`RECENT_SECONDS`."""
    n, spanned = 0, 0.0
    for wall in reversed(walls):
        if n >= recent and spanned >= RECENT_SECONDS:
            break
        n, spanned = n + 1, spanned + wall
    return max(1, n)


def measured_epoch_parts(steps: Sequence[Mapping[str, Any]], trial_id: int, train_images: int,
                         recent: int = RECENT) -> tuple[float, float] | None:
    """``(seconds of a whole epoch's training, seconds of the rest of an epoch)`` of ``trial_id`` here, on the
    epochs :func:`measured_epoch_seconds` takes: the training of all ``train_images`` at each epoch's measured
    throughput (``ips``: an epoch of a share of the images is priced whole), and the rest (evaluation,
    checkpoint, the loop) its wall seconds less its training seconds (``cost - eval_s``); medians. None
    without those figures."""
    jobs = _job_steps(steps, trial_id)
    if len(jobs) > 1:
        jobs = jobs[1:]
    epochs = [(seconds / len(job), step) for seconds, job in jobs for step in job]
    epochs = epochs[-_window([wall for wall, _ in epochs], recent):]
    full, rest = [], []
    for wall, step in epochs:
        ips = step.get("ips")
        train = float(step.get("cost") or 0.0) - float(step.get("eval_s") or 0.0)
        if not ips or float(ips) <= 0 or train <= 0:
            return None
        full.append(train_images / float(ips))
        rest.append(max(0.0, wall - train))
    if not full:
        return None
    return float(statistics.median(full)), float(statistics.median(rest))


def refit_fraction(steps: Sequence[Mapping[str, Any]], trial_id: int, epochs_done: int, seconds_left: float,
                   current: int, fraction: float, train_images: int,
                   most: int = DEFAULT_MAX_EPOCHS, batch_size: int | None = None, *,
                   keep_length: bool = False) -> tuple[int, float] | None:
    """The schedule re-planned so that its last epoch ends with ``seconds_left`` (the budget left less the
    end's reserve), as ``(max_epochs, epoch_fraction)``, or None to keep ``(current, fraction)``.

    Whole epochs leave a part of one unused, or the budget cuts the last one, which is then lost with the
    end of its learning-rate schedule (a 4th mnist5k epoch fitted after the first was cut, 36 s of 180 unused;
    benchmarks/product_vs_finetune.py). When the epochs left, priced by :func:`measured_epoch_parts`,
    overrun the time, they are re-planned with :func:`~hf_quicktune.run.schedule.fractional_epochs` (never
    longer): a smaller share of the images each, or one epoch fewer when that trains more. When they leave
    time, the re-plan (up to ``most`` epochs) is taken if it trains at least :data:`RAISE_MIN` of an
    epoch's images more. A measurement of the first job only (one-time costs included) may not reduce the
    plan, except the share of a last epoch left: that epoch would otherwise start only when half of it fits
    (:data:`~hf_quicktune.run.budget.Budget.ENDS_EARLY_SHARE`) and end before its learning rate anneals (a
    2-epoch fine-tune of a 1-minute run on 150 images stopped after its first, 12 s of 60 unused), and the
    one-time costs only make its share smaller than what fits. A time left that cannot even evaluate another
    epoch leaves it as it is (the budget ends the run; a re-plan to one whole epoch more told the log and
    ``summary.json`` of a share never trained). ``batch_size`` given: shares of whole batches, what the trainer
    trains (:func:`~hf_quicktune.train.step.grid_fraction`; a share between two batch counts trained the larger,
    and the next re-fit chased the overrun). ``keep_length``: only the share of the ``current`` epochs moves."""
    from hf_quicktune.run.schedule import FRACTION_FILL, fractional_epochs

    parts = measured_epoch_parts(steps, trial_id, train_images)
    left = current - epochs_done
    if parts is None or left < 1 or not math.isfinite(seconds_left):
        return None
    full, rest = parts
    grid = {"images": train_images, "batch_size": batch_size} if batch_size else {}
    after_first = len(_jobs(steps, trial_id)) > 1
    if left * (rest + fraction * full) > seconds_left:
        if (not after_first and left > 1) or FRACTION_FILL * seconds_left <= rest:
            return None  # the first job alone re-plans only a last epoch; or not even the next epoch's evaluation
            # fits: the budget ends the run, not a re-plan
        n, f = fractional_epochs(max(0.0, seconds_left), full, rest, most=left, least=left if keep_length else 1,
                                 **grid)
        if keep_length and f >= fraction:
            return None  # not even a smaller share fits the epochs left: the budget ends the run
    else:
        n, f = fractional_epochs(max(0.0, seconds_left), full, rest, least=left if keep_length else 1,
                                 most=left if keep_length else max(1, most - epochs_done), **grid)
        if n * f < left * fraction + RAISE_MIN:
            return None
    if (epochs_done + n, f) == (current, fraction):
        return None
    return epochs_done + n, f


def refit_epochs(epochs_done: int, epoch_s: float, seconds_left: float, current: int, *,
                 most: int = DEFAULT_MAX_EPOCHS, slack: float = SHORTEN_SLACK, shorten: bool = True) -> int:
    """The schedule length: ``epochs_done`` plus the epochs ``seconds_left`` buys at ``epoch_s`` each, at most
    ``most``; but ``current`` when that is shorter and ``current`` overruns the time left by at most ``slack``
    epochs (a dead band against noise), and never below ``epochs_done + 1`` (the budget stops the run, not
    the schedule). ``shorten=False``: never shorter."""
    if epoch_s <= 0 or not math.isfinite(epoch_s) or not math.isfinite(seconds_left):
        return current
    left = max(0.0, seconds_left)
    longer = min(most, epochs_done + math.floor(left / epoch_s))
    if longer > current:
        return int(longer)
    if shorten and current - epochs_done > left / epoch_s + slack:
        return int(max(epochs_done + 1, longer))
    return current


def last_length_change(refits: Sequence[Mapping[str, Any]]) -> int | None:
    """The epoch after which the latest of ``refits`` (``schedule.json``'s) changed the schedule's length, for
    :func:`refit_fine_tune`'s ``last_change``: a re-plan of the share of the images alone is not one."""
    lengths = [r for r in refits if "epoch_fraction" not in r or r.get("length")]
    return lengths[-1].get("after_epoch") if lengths else None


def refit_fine_tune(opt: Any, steps: Sequence[Mapping[str, Any]], trial_id: int, seconds_left: float | None,
                    current: int, last_change: int | None = None, *, fraction: float = 1.0,
                    train_images: int | None = None, most: int = DEFAULT_MAX_EPOCHS,
                    batch_size: int | None = None) -> dict[str, Any] | None:
    """The re-fit after ``trial_id``'s latest epoch, or None (no budget, the trial ended or finished its
    schedule, fewer than :data:`RECENT` epochs since the previous change of its length at epoch
    ``last_change``, or a change smaller than :data:`MIN_CHANGE`): ``{"after_epoch", "epoch_s",
    "seconds_left", "from", "max_epochs"}``. ``seconds_left``: the budget left now, less the run's end reserve.

    ``train_images`` given (the images of a whole epoch), the epochs' share of the images (``fraction`` now) is
    re-planned to end with the budget (:func:`refit_fraction`): when the length stays, on the current length
    (the change then has ``"fraction_from"`` and ``"epoch_fraction"``, and is not a change of length for
    ``last_change``); after a change of length, on the new length at most (the change then has ``"length":
    True`` too), since the new length was priced at the epochs' current share: a length re-fit that kept a
    share of the images left a last epoch on that share where the time left trained all of them.
    ``most``: the longest schedule a re-fit may make (never shorter than ``current`` on that account).
    ``batch_size``: the trial's, which puts the share on whole batches."""
    st = opt.trials.get(trial_id)
    if seconds_left is None or st is None or st.status != OK or not 1 <= st.epochs < current:
        return None
    epoch_s = measured_epoch_seconds(steps, trial_id)
    if epoch_s is None:
        return None
    change = {"after_epoch": st.epochs, "epoch_s": round(epoch_s, 3), "seconds_left": round(seconds_left, 3),
              "from": current}
    length = _refit_length(steps, trial_id, st.epochs, epoch_s, seconds_left, current, last_change, most)
    if length is not None:
        replanned = refit_fraction(steps, trial_id, st.epochs, seconds_left, length, fraction, train_images,
                                   length, batch_size=batch_size) if train_images else None
        if replanned is None:
            return {**change, "max_epochs": length}
        if replanned == (current, fraction):
            return None
        return {**change, "max_epochs": replanned[0], "fraction_from": fraction, "epoch_fraction": replanned[1],
                **({"length": True} if replanned[0] != current else {})}
    if train_images:
        replanned = refit_fraction(steps, trial_id, st.epochs, seconds_left, current, fraction, train_images, most,
                                   batch_size=batch_size)
        if replanned is not None and not _share_may_change_length(steps, trial_id, st.epochs, current,
                                                                  replanned[0], last_change):
            replanned = refit_fraction(steps, trial_id, st.epochs, seconds_left, current, fraction, train_images,
                                       batch_size=batch_size, keep_length=True)
        if replanned is not None:
            return {**change, "max_epochs": replanned[0], "fraction_from": fraction, "epoch_fraction": replanned[1],
                    **({"length": True} if replanned[0] != current else {})}
    return None


def _share_may_change_length(steps: Sequence[Mapping[str, Any]], trial_id: int, epochs_done: int, current: int,
                             length: int, last_change: int | None) -> bool:
    """Whether a re-plan of the share of the images may change the length: where a length re-fit could
    (:func:`_length_may_change`)."""
    return _length_may_change(steps, trial_id, epochs_done, current, length, last_change)


def _length_may_change(steps: Sequence[Mapping[str, Any]], trial_id: int, epochs_done: int, current: int,
                       length: int, last_change: int | None) -> bool:
    """Whether a re-fit may change the schedule from ``current`` epochs to ``length`` after ``epochs_done``: at
    least :data:`RECENT` epochs after the previous change of length (``last_change``), by at least
    :data:`MIN_CHANGE` of the epochs left (and at least one), and shorter only once :data:`RECENT` epochs after the
    first job are measured. The length's re-fit and the share's re-plan obey the same rule: a re-plan of the share
    that changed the length past it (each change moves the learning rate) changed a simulated 3-minute mnist5k
    fine-tune's length about twice as often (benchmarks/refit_replans.py)."""
    if length == current:
        return True
    if last_change is not None and epochs_done - last_change < RECENT:
        return False  # the epochs measured since the change are too few (and one of them rebuilt the engine)
    # the first job (one-time costs included) may lengthen the schedule, never shorten it; shortening waits for
    # RECENT epochs after it, so that one slow epoch (a 29 s one among 13-15 s ones on mnist5k) cannot cut it
    if length < current and sum(epochs for _, epochs in _jobs(steps, trial_id)[1:]) < RECENT:
        return False
    return abs(length - current) >= max(1, math.ceil(MIN_CHANGE * (current - epochs_done)))


def _refit_length(steps: Sequence[Mapping[str, Any]], trial_id: int, epochs_done: int, epoch_s: float,
                  seconds_left: float, current: int, last_change: int | None,
                  most: int = DEFAULT_MAX_EPOCHS) -> int | None:
    """The new length of :func:`refit_fine_tune`'s re-fit of whole epochs, or None (:func:`_length_may_change`
    decides whether it may move)."""
    n = refit_epochs(epochs_done, epoch_s, seconds_left, current, most=max(most, current))
    if n == current or not _length_may_change(steps, trial_id, epochs_done, current, n, last_change):
        return None
    return n
