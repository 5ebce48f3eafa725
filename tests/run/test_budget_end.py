"""The end of a wall-clock budget in the run loop (no training: fake executors on a ticking clock): the incumbent
trained to the end of its schedule, the no-search fine-tune, the schedule re-fitted to the time left
(run/refit.py, run/plan.refit_run_schedule), epochs of a share of the images, --max-trials."""

from __future__ import annotations

import io

import pytest

from hf_quicktune.run.budget import Budget
from hf_quicktune.run.progress import PlainReporter
from hf_quicktune.run.settings import RunSettings
from hf_quicktune.run.state import RunState
from hf_quicktune.run.trials import Outcome
from hf_quicktune.search.base import Suggestion
from hf_quicktune.train.records import EpochRecord

from .fakes import Explorer as _Explorer
from .fakes import ParallelFake as _ParallelFake


class _TickClock:
    """A run clock the fake executor advances: each epoch costs ``epoch_s`` seconds."""

    def __init__(self):
        self.elapsed = 0.0


class _TimedFake(_ParallelFake):
    """One worker; the first trial it trains scores 0.9 + e/100 at epoch e, the others 0.1 + e/100; every
    epoch moves the clock by 10 s, except one the job's ``wrap_up_s`` ends early (as the engine does)."""

    def __init__(self, state, clock):
        super().__init__(1, state)
        self.clock, self.first, self.wrap_up = clock, None, {}

    def submit(self, trial_id, config, to_epoch, *, from_epoch=0, deadline_s=None, wrap_up_s=None):
        super().submit(trial_id, config, to_epoch, from_epoch=from_epoch, deadline_s=deadline_s, wrap_up_s=wrap_up_s)
        self.wrap_up[trial_id] = wrap_up_s

    def wait(self):
        tid, to_epoch, from_epoch = self.jobs.pop()
        self.first = tid if self.first is None else self.first
        base = 0.9 if tid == self.first else 0.1
        recs = [EpochRecord(epoch=e, val_top1=base + e / 100, val_top5=None, val_loss=None, train_loss=None,
                            train_seconds=10.0, eval_seconds=0.5, images_per_second=None, peak_memory_mb=None,
                            lr=None).to_dict() for e in range(from_epoch + 1, to_epoch + 1)]
        seconds, wrap = 10.0 * len(recs), self.wrap_up.pop(tid, None)
        if wrap is not None:
            seconds = min(seconds, max(10.0 * (len(recs) - 1), wrap))  # the last epoch ends early
        self.clock.elapsed += seconds
        return Outcome(tid, to_epoch, recs, wall_s=seconds)


@pytest.mark.parametrize("budget_s, finished", [(100.0, True), (1000.0, True), (40.0, False)])
def test_the_end_of_a_wall_clock_budget_finishes_the_incumbents_schedule(tmp_path, budget_s, finished):
    from hf_quicktune.run.progress import PlainReporter
    from hf_quicktune.run.search_loop import FINISH_MARGIN, Search

    pool = [{"model": "a", "lr": 10.0 ** -i} for i in range(200)]
    opt = _Explorer(pool, max_epochs=4)
    state, clock = RunState(tmp_path), _TickClock()
    ex = _TimedFake(state, clock)
    search = Search(opt, state, pool, ex, Budget(seconds=budget_s), clock, [], {}, PlainReporter(io.StringIO()),
                     max_epochs=4)
    reason = search.run(type("NoInterrupt", (), {"check": lambda self: None})())
    assert "budget used" in reason
    steps = search.steps
    first = steps[0]["trial_id"]
    reserve = search.budget.reserve(steps)
    assert clock.elapsed <= budget_s
    if not finished:  # 40 s: the first trial's epoch and one more leave no time for its three remaining epochs
        assert opt.trials[first].epochs < 4
        return
    assert opt.trials[first].epochs == 4  # the incumbent trained to the end of its schedule
    # ... and the search ended there: the time left could not train a new trial as far (it used to open one)
    assert steps[-1]["trial_id"] == first
    assert f"the incumbent, trial {first}, finished its 4-epoch schedule" in reason
    own = [i for i, s in enumerate(steps) if s["trial_id"] == first]
    # ... in one go, started once the time left after the optimizer's next choice (one 10 s epoch) was
    # within the margin of what its 3 remaining epochs cost
    assert own[1:] == list(range(own[1], own[1] + 3))
    started_at = steps[own[1] - 1]["elapsed_s"]
    assert budget_s - started_at - reserve - 10.0 <= FINISH_MARGIN * 3 * 10.0
    assert budget_s - (started_at - 10.0) - reserve - 10.0 > FINISH_MARGIN * 3 * 10.0  # ... and not earlier
    with pytest.raises(ValueError, match="cannot be continued"):
        opt.continue_trial(first)  # at max_epochs


def test_finishing_waits_for_the_initial_design(tmp_path):
    """At 60 s finishing would start right after the first epoch; the optimizer's initial design (the by-hand
    configuration is in it) still runs first."""
    from hf_quicktune.run.progress import PlainReporter
    from hf_quicktune.run.search_loop import Search

    pool = [{"model": "a", "lr": 10.0 ** -i} for i in range(20)]
    runs = {}
    for design in ((), (0, 1)):
        opt = _Explorer(pool, max_epochs=4)
        opt.initial_design = list(design)
        state, clock = RunState(tmp_path / str(len(design))), _TickClock()
        search = Search(opt, state, pool, _TimedFake(state, clock), Budget(seconds=60.0), clock, [], {},
                         PlainReporter(io.StringIO()), max_epochs=4)
        search.run(type("NoInterrupt", (), {"check": lambda self: None})())
        runs[design] = [(s["trial_id"], s["epoch"]) for s in search.steps]
    assert runs[()][:4] == [(0, 1), (0, 2), (0, 3), (0, 4)]  # finished at once (then one more epoch fits)
    assert runs[(0, 1)][:5] == [(0, 1), (1, 1), (0, 2), (0, 3), (0, 4)]


def _no_search_run(tmp_path, fake=None):
    """A 1000 s run whose schedule found the budget too small to search (schedule.json: "search": false):
    the by-hand trial 0 is the only initial design. Returns (search, clock, stop reason)."""
    from hf_quicktune.run.progress import PlainReporter
    from hf_quicktune.run.search_loop import Search

    pool = [{"model": "a", "lr": 10.0 ** -i} for i in range(20)]
    opt = _Explorer(pool, max_epochs=4)
    opt.initial_design = [0]
    state, clock = RunState(tmp_path), _TickClock()
    search = Search(opt, state, pool, (fake or _TimedFake)(state, clock), Budget(seconds=1000.0), clock, [], {},
                     PlainReporter(io.StringIO()), max_epochs=4)
    search.searching = False
    return search, clock, search.run(type("NoInterrupt", (), {"check": lambda self: None})())


def test_a_budget_too_small_to_search_trains_the_first_trial_to_the_end_first(tmp_path):
    search, clock, stop = _no_search_run(tmp_path)
    # with 1000 s a searching run would probe new trials first (test above); this one finishes trial 0 at once
    # and stops there: the 960 s left would only buy one-epoch trials that cannot beat it
    assert [(s["trial_id"], s["epoch"]) for s in search.steps] == [(0, 1), (0, 2), (0, 3), (0, 4)]
    assert stop.startswith("the fine-tune finished its 4-epoch schedule (a budget too small to search); 16.0m of "
                           "the --budget 16.7m are left: the run was planned without a search")  # (as a resumed
    assert clock.elapsed == 40.0  # run given a larger --budget would be: the note says how to search with it)


class _Continuing(_Explorer):
    """Suggests continuing its best trial once one has a score (as the gray-box search does with the fine-tune),
    counting its asks (each one fits the surrogate of a real search)."""

    asks = 0

    def _ask(self):
        type(self).asks += 1
        if 0 in self.trials and not self.is_done(0):
            return Suggestion(0, dict(self.pool[0]), self.trials[0].epochs + 1)
        return super()._ask()


def test_a_no_search_run_asks_the_optimizer_only_for_its_first_trial(tmp_path):
    """The one fine-tune goes on without asking: the gray-box optimizer suggested continuing it after every epoch,
    and each ask fitted its surrogate (0.35 s of each 2.4 s epoch of a 60 s digits run, found with cProfile)."""
    from hf_quicktune.run.progress import PlainReporter
    from hf_quicktune.run.search_loop import Search

    pool = [{"model": "a", "lr": 10.0 ** -i} for i in range(20)]
    opt = _Continuing(pool, max_epochs=6)
    opt.initial_design = [0]
    state, clock = RunState(tmp_path), _TickClock()
    search = Search(opt, state, pool, _TimedFake(state, clock), Budget(seconds=1000.0), clock, [], {},
                     PlainReporter(io.StringIO()), max_epochs=6)
    search.searching = False
    _Continuing.asks = 0
    search.run(type("NoInterrupt", (), {"check": lambda self: None})())
    assert [(s["trial_id"], s["epoch"]) for s in search.steps] == [(0, e) for e in range(1, 7)]
    assert _Continuing.asks == 1


def test_a_short_last_epoch_the_budget_lets_start_trains_before_it_may_end_early(tmp_path):
    """The budget starts an epoch that ends early at its end (the fine-tune's, the finishing incumbent's) when it
    fits whole, or half of it with its wrap-up (validation pass and checkpoint: 1.69 s here). A 1.2 s epoch with
    1.25 s left fits whole, but its end-early time (the deadline less the wrap-up) had passed before it began: the
    engine stopped it unstarted and the run ended "the unfinished epoch was discarded" (a fewshot run's last
    epoch). It now trains at least half of its predicted seconds first."""
    from hf_quicktune.run.progress import PlainReporter
    from hf_quicktune.run.search_loop import Search

    pool = [{"model": "a", "lr": 10.0 ** -i} for i in range(4)]
    opt = _Explorer(pool, max_epochs=6)
    steps = []
    for e in (1, 2, 3):
        opt.tell(0, e, 0.5, 1.0)
        steps.append({"trial_id": 0, "model": "a", "epoch": e, "status": "ok", "wall_s": 1.2, "eval_s": 0.55})
    state, clock = RunState(tmp_path), _TickClock()
    budget = Budget(seconds=100.0)
    clock.elapsed = 100.0 - budget.reserve(steps) - 1.25
    ex = _TimedFake(state, clock)
    search = Search(opt, state, pool, ex, budget, clock, steps, {}, PlainReporter(io.StringIO()), max_epochs=6)
    search.searching = False
    suggestion = opt.continue_trial(0)
    assert budget.stop_reason(opt, steps, clock, suggestion, ends_early=True) is None  # it fits whole
    assert budget.wrap_up(steps) > 1.25  # ... but the deadline less the wrap-up has passed
    search.submit(0, suggestion.epoch)
    assert ex.wrap_up[0] == pytest.approx(0.6)  # half of its 1.2 s
    opt.release(0)
    ex.jobs.clear()
    clock.elapsed = 100.0 - budget.reserve(steps) - 10.0  # with time to spare: ended early at the usual point
    search.submit(0, suggestion.epoch)
    assert ex.wrap_up[0] == pytest.approx(10.0 - budget.wrap_up(steps))


class _Rescheduling(_TimedFake):
    def __init__(self, state, clock):
        super().__init__(state, clock)
        self.rescheduled = []

    def reschedule(self, trial_id, config, max_epochs, epoch_fraction=None):
        self.rescheduled.append((trial_id, config["lr"], max_epochs))


@pytest.mark.parametrize("budget_s, fitted, refitted, after", [(100.0, 4, 9, 1), (60.0, 8, 5, 4)])
def test_a_no_search_run_refits_its_schedule_to_the_epochs_it_really_gets(tmp_path, budget_s, fitted, refitted, after):
    """The fine-tune's length was fitted before any epoch ran; after its first epoch (10 s here) it becomes the
    epochs the budget left buys (less the 5 s end reserve): nothing is left unused; a schedule fitted too
    long is shortened once 3 epochs after the first are measured (the first may carry one-time costs, one
    epoch may be an outlier), so its cosine anneals before the budget ends (see run/refit.py)."""
    import json

    from hf_quicktune.run.plan import refit_run_schedule
    from hf_quicktune.run.progress import PlainReporter
    from hf_quicktune.run.search_loop import Search

    pool = [{"model": "a", "lr": 10.0 ** -i} for i in range(20)]
    opt = _Explorer(pool, max_epochs=fitted)
    opt.initial_design = [0]
    state, clock = RunState(tmp_path), _TickClock()
    settings = RunSettings(dataset="d", budget=f"{budget_s:.0f}s", max_epochs=fitted)
    state.save_json(state.dir / "schedule.json", {"search": False, "max_epochs": fitted})
    executor = _Rescheduling(state, clock)
    out = io.StringIO()
    search = Search(opt, state, pool, executor, Budget(seconds=budget_s), clock, [], {}, PlainReporter(out),
                     max_epochs=fitted)
    search.searching = False
    search.refit = lambda tid: refit_run_schedule(settings, state, search, executor, tid, PlainReporter(out))
    stop = search.run(type("NoInterrupt", (), {"check": lambda self: None})())
    schedule = json.loads((state.dir / "schedule.json").read_text())
    assert [(s["trial_id"], s["epoch"]) for s in search.steps] == [(0, e) for e in range(1, refitted + 1)]
    assert stop == f"the fine-tune finished its {refitted}-epoch schedule (a budget too small to search)"
    assert clock.elapsed <= budget_s - 5.0 and opt.max_epochs == refitted
    assert executor.rescheduled == [(0, 1.0, refitted)]  # the engine changes horizon in memory
    assert json.loads((state.dir / "settings.json").read_text())["max_epochs"] == refitted  # what a resume reads
    assert schedule["max_epochs"] == refitted and schedule["fitted_max_epochs"] == fitted
    assert schedule["refits"] == [{"after_epoch": after, "epoch_s": 10.0, "seconds_left": budget_s - 5.0 - 10.0 * after,
                                   "from": fitted, "max_epochs": refitted}]  # later epochs confirmed it: no second
    assert f"trains {refitted} epochs (was {fitted})" in out.getvalue()


class _FasterOnceFinishing(_Rescheduling):
    """:class:`_Rescheduling` whose first trial's epochs after its first job take ``later_s`` instead of 10 s (its
    engine kept in memory, a quieter machine: what the finishing was priced by is not what its epochs cost)."""

    later_s = 10.0

    def wait(self):
        tid, to_epoch, from_epoch = self.jobs[-1]
        out = super().wait()
        if tid == self.first and from_epoch >= 1:
            saved = (10.0 - self.later_s) * len(out.records)
            self.clock.elapsed -= saved
            out.wall_s -= saved
        return out


def _finishing_run(tmp_path, budget_s: float, *, refit: bool, later_s: float = 10.0):
    """A one-worker search of 4-epoch trials (10 s epochs; trial 0 the best, its epochs after its first job
    ``later_s``) on a schedule the run fitted, its finishing incumbent re-fitted when ``refit``. Returns
    (search, executor, clock, messages, stop reason, run second the finishing began)."""
    from hf_quicktune.run.plan import refit_run_schedule
    from hf_quicktune.run.progress import PlainReporter
    from hf_quicktune.run.search_loop import Search

    pool = [{"model": "a", "lr": 10.0 ** -i} for i in range(200)]
    opt = _Explorer(pool, max_epochs=4)
    state, clock = RunState(tmp_path), _TickClock()
    settings = RunSettings(dataset="d", budget=f"{budget_s:.0f}s", max_epochs=4)
    state.save_json(state.dir / "schedule.json", {"search": True, "max_epochs": 4})
    executor, out = _FasterOnceFinishing(state, clock), io.StringIO()
    executor.later_s = later_s
    search = Search(opt, state, pool, executor, Budget(seconds=budget_s), clock, [], {}, PlainReporter(out),
                     max_epochs=4)
    if refit:
        search.refit = lambda tid: refit_run_schedule(settings, state, search, executor, tid, PlainReporter(out))
    stop = search.run(type("NoInterrupt", (), {"check": lambda self: None})())
    began = next(s.get("job_started_s") for s in search.steps if s["trial_id"] == 0 and s["epoch"] == 2)
    return search, executor, clock, out.getvalue(), stop, began


def test_the_finishing_incumbent_of_a_one_worker_search_ends_with_the_budget(tmp_path):
    """The end of a search finishes its incumbent once the time left is within FINISH_MARGIN of what its epochs
    cost: with a schedule of half the budget the search explored only its first quarter, and the margin's slack
    went unused when the estimate was high (a fewshot run ended at 204 s of 300). With one worker its schedule is
    now re-fitted after each epoch, like the no-search fine-tune's, so the finishing starts once the remaining
    epochs need the time left (REFIT_FINISH_MARGIN): more trials are explored, and epochs faster than priced
    lengthen its schedule (up to FINISH_MARGIN x the searched one) so that it still ends with the budget; the
    other trials keep the schedule they were compared on (schedule.json)."""
    import json

    from hf_quicktune.run.search_loop import FINISH_MARGIN, REFIT_FINISH_MARGIN

    assert REFIT_FINISH_MARGIN < FINISH_MARGIN
    budget_s = 100.0
    before, _, before_clock, _, before_stop, began_before = _finishing_run(tmp_path / "fixed", budget_s, refit=False,
                                                                           later_s=6.0)
    search, executor, clock, messages, stop, began = _finishing_run(tmp_path / "refit", budget_s, refit=True,
                                                                    later_s=6.0)
    reserve = search.budget.reserve(search.steps)
    for margin, start in ((FINISH_MARGIN, began_before), (REFIT_FINISH_MARGIN, began)):
        # the first time the time left after the next one-epoch trial was within the margin of 3 epochs at 10 s
        assert budget_s - start - reserve - 10.0 <= margin * 3 * 10.0 < budget_s - (start - 10.0) - reserve - 10.0
    opened = {s["trial_id"] for s in search.steps} - {0}
    assert len(opened) > len({s["trial_id"] for s in before.steps} - {0})  # it explored longer
    assert before.opt.trials[0].epochs == 4 and budget_s - reserve - before_clock.elapsed >= 10.0  # epochs unused
    grown = search.opt.trials[0].epochs
    assert grown > 4 and search.opt.max_epochs == grown
    assert clock.elapsed <= budget_s - reserve < clock.elapsed + 6.0  # ... now less than one of its epochs
    assert f"the incumbent, trial 0, finished its {grown}-epoch schedule" in stop
    assert executor.rescheduled == [(0, 1.0, grown)]  # its engine changes horizon in memory
    assert f"so the incumbent, trial 0, trains {grown} epochs (was 4)" in messages
    schedule = json.loads((search.state.dir / "schedule.json").read_text())
    assert schedule["searched_max_epochs"] == 4 and schedule["max_epochs"] == grown
    assert {s["trial_id"]: s["epoch"] for s in search.steps if s["trial_id"] != 0} == {tid: 1 for tid in opened}
    assert "budget used" in before_stop


@pytest.mark.parametrize("with_workers", [True, False])
def test_only_the_finishing_incumbent_of_a_search_is_refitted(tmp_path, monkeypatch, with_workers):
    """During the search (trials compared on one schedule) nothing is re-fitted; the finishing incumbent is, with one
    worker and (REFIT_WITH_WORKERS) with several. (Without a schedule the run fitted, --max-epochs given, run/loop.py
    sets no re-fit hook at all: test_the_run_refits_only_a_schedule_it_fitted_to_the_budget.)"""
    from hf_quicktune.run import search_loop

    monkeypatch.setattr(search_loop, "REFIT_WITH_WORKERS", with_workers)
    calls = []
    pool = [{"model": "a", "lr": 10.0 ** -i} for i in range(200)]
    for capacity in (1, 2):
        opt = _Explorer(pool, max_epochs=4)
        state, clock = RunState(tmp_path / str(capacity)), _TickClock()
        executor = _TimedFake(state, clock)
        executor.capacity = capacity
        search = search_loop.Search(opt, state, pool, executor, Budget(seconds=100.0), clock, [], {},
                                    PlainReporter(io.StringIO()), max_epochs=4)
        search.refit = lambda tid, c=capacity, s=search: calls.append((c, tid, s.finish_trial, s.clock.elapsed))
        search.run(type("NoInterrupt", (), {"check": lambda self: None})())
    assert {c for c, *_ in calls} == ({1, 2} if with_workers else {1})
    assert all(tid == finish for _, tid, finish, _ in calls)  # the finishing incumbent's epochs only


def test_a_trial_that_finished_a_shorter_schedule_counts_as_finished_after_a_refit(tmp_path):
    """The live panel's counts: a trial at the end of the 4-epoch schedule stays finished once a re-fit lengthened
    it to 6 (it is never continued: Optimizer.closed), not paused; a trial short of the old end is paused."""
    from hf_quicktune.run.budget import Clock
    from hf_quicktune.run.search_loop import snapshot

    pool = [{"model": "a", "lr": 10.0 ** -i} for i in range(4)]
    opt = _Explorer(pool, max_epochs=4)
    for tid, epochs in ((0, 4), (1, 2)):
        for e in range(1, epochs + 1):
            opt.tell(tid, e, 0.5, 1.0)
    opt.set_max_epochs(6)
    counts = snapshot(opt, pool, [], Clock(), 100.0, 6)["counts"]
    assert counts == {"started": 2, "paused": 1, "finished": 1, "failed": 0}


class _TwoWorkersOnOneClock(_Rescheduling):
    """Two workers on the run's clock. A job trains from the moment it is submitted, 10 s an epoch (the first
    trial's epochs after its first job ``later_s``: what the finishing was priced by is not what they cost); its
    ``wrap_up_s`` ends its last epoch early (kept), its ``deadline_s`` cuts an epoch in flight (discarded). :meth:`wait`
    returns the job that ends first and moves the clock there."""

    def __init__(self, state, clock, later_s: float):
        super().__init__(state, clock)
        self.capacity, self.later_s, self.running = 2, later_s, {}

    @property
    def busy(self):
        return len(self.running)

    def submit(self, trial_id, config, to_epoch, *, from_epoch=0, deadline_s=None, wrap_up_s=None):
        assert trial_id not in self.running, "a trial in flight was submitted again"
        self.first = trial_id if self.first is None else self.first
        now = self.clock.elapsed
        self.running[trial_id] = (to_epoch, from_epoch, now, None if deadline_s is None else now + deadline_s,
                                  None if wrap_up_s is None else now + wrap_up_s)
        self.max_busy = max(self.max_busy, len(self.running))

    def _trained(self, tid):
        to_epoch, from_epoch, t, deadline, wrap = self.running[tid]
        records, each = [], self.later_s if tid == self.first and from_epoch >= 1 else 10.0
        for e in range(from_epoch + 1, to_epoch + 1):
            end = t + each
            if wrap is not None and e == to_epoch:
                end = min(end, max(t, wrap))
            if deadline is not None and end > deadline:
                return deadline, records, True
            records.append(EpochRecord(epoch=e, val_top1=(0.9 if tid == self.first else 0.1) + e / 100, val_top5=None,
                                       val_loss=None, train_loss=None, train_seconds=end - t, eval_seconds=0.5,
                                       images_per_second=None, peak_memory_mb=None, lr=None).to_dict())
            t = end
        return t, records, False

    def wait(self):
        tid = min(self.running, key=lambda t: self._trained(t)[0])
        end, records, stopped = self._trained(tid)
        to_epoch, _, start, _, _ = self.running.pop(tid)
        self.clock.elapsed = max(self.clock.elapsed, end)
        self.worker_seconds += end - start
        return Outcome(tid, to_epoch, records, stopped=stopped, wall_s=end - start)

    def shutdown(self):
        self.running = {}


def _two_worker_search(tmp_path, optimizer_class, budget_s: float, later_s: float):
    """A search of 4-epoch trials on :class:`_TwoWorkersOnOneClock` with a schedule the run fitted (its finishing
    re-fitted by the real hook): (search, executor, state)."""
    from hf_quicktune.run.plan import refit_run_schedule
    from hf_quicktune.run.search_loop import Search

    pool = [{"model": "a", "lr": 10.0 ** -i} for i in range(200)]
    opt = optimizer_class(pool, max_epochs=4)
    state, clock = RunState(tmp_path), _TickClock()
    settings = RunSettings(dataset="d", budget=f"{budget_s:.0f}s", max_epochs=4)
    state.save_json(state.dir / "schedule.json", {"search": True, "max_epochs": 4})
    executor, out = _TwoWorkersOnOneClock(state, clock, later_s=later_s), io.StringIO()
    search = Search(opt, state, pool, executor, Budget(seconds=budget_s), clock, [], {}, PlainReporter(out),
                    max_epochs=4)
    search.refit = lambda tid: refit_run_schedule(settings, state, search, executor, tid, PlainReporter(out))
    return search, executor, state


@pytest.mark.parametrize("with_workers", [True, False])
def test_the_finishing_incumbent_of_a_two_worker_search_ends_with_the_budget(tmp_path, monkeypatch, with_workers):
    """Two workers, 4-epoch trials of 10 s epochs (trial 0 the best; its later epochs take 6 s): the finishing
    incumbent's schedule is re-fitted after each of its epochs to end with the budget (REFIT_WITH_WORKERS), while the
    other worker goes on opening trials on the schedule they were compared on. Without it the finishing kept
    FINISH_MARGIN and its 4 epochs, and the run ended with more than one of them unused."""
    import json

    from hf_quicktune.run import search_loop

    monkeypatch.setattr(search_loop, "REFIT_WITH_WORKERS", with_workers)
    budget_s = 100.0
    search, executor, state = _two_worker_search(tmp_path, _Explorer, budget_s, later_s=6.0)
    opt = search.opt
    stop = search.run(type("NoInterrupt", (), {"check": lambda self: None})())
    reserve = search.budget.reserve(search.steps)
    own = [s for s in search.steps if s["trial_id"] == 0]
    others = {s["trial_id"] for s in search.steps} - {0}
    assert executor.max_busy == 2  # both workers trained at once
    assert len(others) >= 5 and all(s["epoch"] == 1 for s in search.steps if s["trial_id"] != 0)  # the other worker
    last_end = own[-1]["elapsed_s"]
    if not with_workers:
        assert len(own) == 4 and opt.max_epochs == 4 and executor.rescheduled == []
        assert budget_s - reserve - last_end > 6.0  # more than one of its epochs unused at the end
        return
    grown = len(own)
    assert grown > 4 and opt.max_epochs == grown and search.finish_trial == 0
    assert budget_s - reserve - last_end < 6.0  # less than one of its epochs left
    assert executor.rescheduled and executor.rescheduled[-1] == (0, 1.0, grown)  # its engine changes horizon
    assert stop == "budget used"  # the other worker's next trial did not fit (collected as trial 0 ended)
    schedule = json.loads((state.dir / "schedule.json").read_text())
    assert schedule["searched_max_epochs"] == 4 and schedule["max_epochs"] == grown


class _ContinuingWithWorkers(_Explorer):
    """Continues trial 0 whenever it is not in flight (as the gray-box search did with a clear incumbent on two
    workers); opens one-epoch trials otherwise."""

    def _ask(self):
        if 0 in self.trials and 0 not in self.in_flight and not self.is_done(0):
            return Suggestion(0, dict(self.pool[0]), self.trials[0].epochs + 1)
        return super()._ask()


@pytest.mark.parametrize("early", [True, False])
def test_a_two_worker_search_that_trains_its_incumbent_on_by_itself_finishes_it_with_the_budget(
        tmp_path, monkeypatch, caplog, early):
    """Two workers, 4-epoch trials of 10 s epochs, an 80 s budget: the search itself continues its incumbent (trial 0)
    on one worker, so it reaches the end of its schedule at 40 s, before the time left falls to its remaining epochs'
    cost (the ordinary finishing's trigger), and the search then stops with 35 s unused: no new trial can train 4
    epochs in them (STOP_WHEN_BEST_FINISHED). With EARLY_FINISH_WITH_WORKERS the finishing starts once trial 0 trained
    half its schedule and its end would leave less than a schedule's time (at 20 s: 55 s left, 20 s of its epochs),
    and its schedule is re-fitted then, to end with the budget (7 epochs)."""
    import json
    import logging

    from hf_quicktune.run import search_loop

    monkeypatch.setattr(search_loop, "EARLY_FINISH_WITH_WORKERS", early)
    budget_s = 80.0
    search, executor, state = _two_worker_search(tmp_path, _ContinuingWithWorkers, budget_s, later_s=10.0)
    opt = search.opt
    with caplog.at_level(logging.INFO, logger="hf_quicktune.run.search_loop"):
        stop = search.run(type("NoInterrupt", (), {"check": lambda self: None})())
    reserve = search.budget.reserve(search.steps)
    assert reserve == pytest.approx(5.0)
    own = [s for s in search.steps if s["trial_id"] == 0]
    assert executor.max_busy == 2 and all(s["epoch"] == 1 for s in search.steps if s["trial_id"] != 0)
    if not early:
        assert len(own) == 4 and search.finish_trial is None and executor.rescheduled == []
        assert own[-1]["elapsed_s"] == pytest.approx(40.0)
        assert stop == ("the incumbent, trial 0, finished its 4-epoch schedule, and the 40s left cannot train another "
                        "trial as far")
        return
    assert "finishing the incumbent, trial 0, at epoch 2 of 4: trained on from now, its end would leave 35s" in caplog.text
    assert len(own) == 7 and opt.max_epochs == 7 and search.finish_trial == 0
    assert executor.rescheduled[0] == (0, 1.0, 7)  # re-fitted before its third epoch was submitted
    assert budget_s - reserve - own[-1]["elapsed_s"] < 10.0  # less than one of its epochs left
    assert stop.startswith("budget used (the incumbent, trial 0, finished its 7-epoch schedule at the end")
    schedule = json.loads((state.dir / "schedule.json").read_text())
    assert schedule["searched_max_epochs"] == 4 and schedule["refits"][0]["after_epoch"] == 2


class _SharedEpochs(_Rescheduling):
    """Epochs whose training takes 8 s for all of the 100 training images (12.5 images/s) x the share of them
    the run's schedule trains, + 1 s of evaluation + 1 s of the rest; 1 s more for the first (one-time costs)."""

    def __init__(self, state, clock):
        super().__init__(state, clock)
        self.fraction, self.fractions = 1.0, []

    def reschedule(self, trial_id, config, max_epochs, epoch_fraction=None):
        super().reschedule(trial_id, config, max_epochs)
        self.fraction = self.fraction if epoch_fraction is None else epoch_fraction

    def trained_share(self) -> float:
        """The share of the images an epoch of the planned ``fraction`` trains: that share."""
        return self.fraction

    def wait(self):
        tid, to_epoch, from_epoch = self.jobs.pop()
        recs, wall = [], 0.0
        for e in range(from_epoch + 1, to_epoch + 1):
            train = 8.0 * self.trained_share()
            recs.append(EpochRecord(epoch=e, val_top1=0.5 + e / 100, val_top5=None, val_loss=None, train_loss=None,
                                    train_seconds=train, eval_seconds=1.0, images_per_second=12.5,
                                    peak_memory_mb=None, lr=None).to_dict())
            self.fractions.append(self.fraction)
            wall += train + 2.0 + (1.0 if e == 1 else 0.0)
        self.clock.elapsed += wall
        return Outcome(tid, to_epoch, recs, wall_s=wall)


class _SharedEpochsEndingEarly(_SharedEpochs):
    """:class:`_SharedEpochs` whose one-epoch jobs end their training early at ``wrap_up_s`` (as the engine
    does), then evaluate (2 s with the rest)."""

    def wait(self):
        tid, to_epoch, from_epoch = self.jobs[-1]
        wrap = self.wrap_up.get(tid)
        started = self.clock.elapsed
        out = super().wait()
        if wrap is not None and to_epoch - from_epoch == 1 and out.wall_s - 2.0 > wrap:
            self.clock.elapsed = started + max(0.0, wrap) + 2.0
            out.wall_s = self.clock.elapsed - started
        return out


class _BatchedEpochs(_SharedEpochs):
    """:class:`_SharedEpochs` whose epochs train whole batches of 32 of the 100 images, as the trainer does
    (train/step.epoch_batches): an epoch's training costs 8 s x the share of the images its batches hold
    (``trained``: that share, epoch by epoch)."""

    def __init__(self, state, clock):
        super().__init__(state, clock)
        self.trained: list[float] = []

    def trained_share(self) -> float:
        from hf_quicktune.train.loaders import train_batches
        from hf_quicktune.train.step import epoch_batches

        batches = epoch_batches(train_batches(100, 32), self.fraction, images=100, batch_size=32)
        self.trained.append(min(100, 32 * batches) / 100)
        return self.trained[-1]


def _shared_epochs_run(tmp_path, executor_class, loop_seconds: float = 0.0, batch_size: int | None = None):
    """A no-search run of a 5-epoch schedule in 65 s on ``executor_class`` (a :class:`_SharedEpochs`), its
    schedule re-fitted after each epoch; ``loop_seconds``: the loop's own work after each epoch (the progress
    line moves the clock); ``batch_size``: its configuration's. Returns (search, executor, clock, the re-fit
    messages, the stop reason)."""
    from hf_quicktune.run.plan import refit_run_schedule
    from hf_quicktune.run.progress import PlainReporter
    from hf_quicktune.run.search_loop import Search

    class _Reporter(PlainReporter):
        def step(self, snap):
            super().step(snap)
            clock.elapsed += loop_seconds

    pool = [{"model": "a", "lr": 10.0 ** -i, **({"batch_size": batch_size} if batch_size else {})} for i in range(20)]
    opt = _Explorer(pool, max_epochs=5)
    opt.initial_design = [0]
    state, clock = RunState(tmp_path), _TickClock()
    settings = RunSettings(dataset="d", budget="65s", max_epochs=5)
    state.save_json(state.dir / "schedule.json", {"search": False, "max_epochs": 5})
    executor = executor_class(state, clock)
    out = io.StringIO()
    search = Search(opt, state, pool, executor, Budget(seconds=65.0), clock, [], {}, _Reporter(io.StringIO()),
                     max_epochs=5)
    search.searching = False
    search.refit = lambda tid: refit_run_schedule(settings, state, search, executor, tid, PlainReporter(out), 100)
    stop = search.run(type("NoInterrupt", (), {"check": lambda self: None})())
    return search, executor, clock, out, stop


def test_a_no_search_run_ends_its_schedule_with_the_budget_on_a_share_of_the_images(tmp_path, caplog):
    """Whole 10 s epochs of a 5-epoch schedule leave a part of the 65 s budget unused (less its 6 s end
    reserve: 4 s + 2 x the 1 s evaluation). The first epoch (11 s: one-time costs) is not trusted to re-plan;
    after the second the run re-plans the epochs left as one more, each of a share of the images
    (run/refit.refit_fraction), priced by that share (Budget.planned), and ends with the budget."""
    import json

    with caplog.at_level("INFO", logger="hf_quicktune.run.plan"):
        search, executor, clock, out, stop = _shared_epochs_run(tmp_path, _SharedEpochs)
    opt, state = search.opt, search.state
    # after epoch 2 (21 s): 38 s left buy 3.7 whole epochs of 10 s in 98 % of them; 4 of 91.37 % (9.31 s each)
    # fill it. After epoch 5 (48.9 s), the 10.07 s left are one epoch of 98.36 % (a gain of 7 % of the images)
    assert executor.fractions == [1.0, 1.0] + [0.9137] * 3 + [0.9836] and opt.max_epochs == 6
    assert stop == "the fine-tune finished its 6-epoch schedule (a budget too small to search)"
    ended = 21.0 + 3 * (2.0 + 8 * 0.9137) + 2.0 + 8 * 0.9836
    assert clock.elapsed == pytest.approx(ended) and 51.0 + 6.0 < clock.elapsed <= 65.0 - 6.0  # 5 whole: 51 s
    assert search.budget.planned == {0: pytest.approx(2.0 + 8 * 0.9836, abs=1e-3)}  # an epoch is priced by its share
    schedule = json.loads((state.dir / "schedule.json").read_text())
    assert schedule["refits"][0] == {"after_epoch": 2, "epoch_s": 10.0, "seconds_left": 38.0, "from": 5,
                                     "max_epochs": 6, "fraction_from": 1.0, "epoch_fraction": 0.9137, "length": True}
    assert [(r["after_epoch"], r["max_epochs"], r["epoch_fraction"]) for r in schedule["refits"][1:]] == [(5, 6, 0.9836)]
    assert schedule["epoch_fraction"] == 0.9836 and schedule["fitted_epoch_fraction"] == 1.0
    stored = json.loads((state.dir / "settings.json").read_text())
    assert (stored["max_epochs"], stored["epoch_fraction"]) == (6, 0.9836)  # what a resume builds its trials from
    assert executor.rescheduled == [(0, 1.0, 6), (0, 1.0, 6)]
    assert "the 38s left end with 4 more epochs of 91 % of the training images each (was 3 of 100 %)" in out.getvalue()
    # the re-plan after epoch 5 keeps the length (6) and moves only the share: run.log, not the terminal
    assert "re-fitted after epoch 5" not in out.getvalue()
    assert any("re-fitted after epoch 5: the 10s left end with 1 more epoch of 98 %" in r.getMessage()
               for r in caplog.records)


@pytest.mark.parametrize("on_grid", [True, False])
def test_a_share_of_the_images_is_planned_on_whole_batches(tmp_path, on_grid):
    """The run above on 100 images at batch 32: an epoch trains whole batches (train/step.epoch_batches), so a
    share between two batch counts trains the larger. Given the configuration's batch size, the re-fit plans
    shares of whole batches (train/step.grid_fraction): every epoch costs what it was priced and the run ends
    within the budget. Without it (the plan before), the 91 % planned after epoch 2 trains 3 of the 4 batches,
    96 %: each epoch overruns its price, the next re-fits chase the overrun and the budget ends the run."""
    search, executor, clock, _, stop = _shared_epochs_run(tmp_path, _BatchedEpochs, batch_size=32 if on_grid else None)
    planned = [f for f in executor.fractions if f < 1]
    assert planned and search.opt.max_epochs == 6  # the budget bought a share of an epoch more than the whole ones
    reserve = Budget.END_SECONDS + 2 * 1.0  # the end's test evaluation and export
    if on_grid:  # after epoch 4, the 18 s left end with 2 epochs of 2 of the 4 batches (64 of 100 images)
        assert executor.fractions[:5] == [1.0, 1.0, 1.0, 1.0, 0.64]
        assert executor.trained == executor.fractions  # each epoch trained the share it was priced by
        assert stop == "the fine-tune finished its 6-epoch schedule (a budget too small to search)"
        assert clock.elapsed <= 65.0 - reserve
    else:  # 91.37 % planned after epoch 2 is 2.9 batches: 3 trained (96 %), the re-fits chase, the budget ends it
        assert planned[:3] == [0.9137] * 3 and executor.trained[2:] == [0.96] * 4 and planned[3] < 0.9137
        assert stop == "budget used" and clock.elapsed > 65.0 - reserve


def test_the_last_epoch_planned_to_end_with_the_budget_starts_after_the_loop_took_its_time(tmp_path):
    """The case above with 0.4 s of the loop's own work after each epoch (telling, saving, the progress
    line): the last epoch, planned to end with the budget, used to be refused for those fractions of a
    second (a 2-minute digits run stopped at epoch 5 of its 6 with 14 s unused). It is ended early at the
    deadline if it must be, so it starts."""
    search, _, clock, _, stop = _shared_epochs_run(tmp_path, _SharedEpochsEndingEarly, loop_seconds=0.4)
    opt = search.opt
    assert opt.max_epochs == 6 and [s["epoch"] for s in search.steps] == [1, 2, 3, 4, 5, 6]
    assert stop == "budget used"  # its training was ended early at the deadline ...
    assert clock.elapsed <= 65.0 - Budget.END_SECONDS  # ... which held (the end's reserve is left)


class _FailsFirst(_TimedFake):
    """The first trial diverges in its second epoch."""

    def wait(self):
        out = super().wait()
        if out.trial_id == self.first and out.records and out.records[-1]["epoch"] >= 2:
            out.records = [r for r in out.records if r["epoch"] < 2] + [
                {**out.records[0], "epoch": 2, "val_top1": None, "status": "diverged", "message": "nan loss"}]
        return out


def test_a_budget_too_small_to_search_goes_on_with_the_next_trial_when_the_fine_tune_fails(tmp_path):
    search, _, stop = _no_search_run(tmp_path, _FailsFirst)
    steps = [(s["trial_id"], s["epoch"], s["status"]) for s in search.steps]
    assert steps[:2] == [(0, 1, "ok"), (0, 2, "diverged")]
    assert steps[2:] == [(1, e, "ok") for e in range(1, 5)]  # the next trial, trained to the end of its schedule
    assert stop.startswith("the fine-tune finished its 4-epoch schedule")


class _CostAware(_Explorer):
    """Opens new trials for one epoch; trial i's step is predicted to cost ``10 * (i + 1)`` s and only steps
    within ``ask(max_cost=)`` are suggested (a cost-aware optimizer's contract)."""

    asked: list

    def candidates(self):
        return [i for i in range(len(self.pool)) if i not in self.trials and i not in self.in_flight]

    def _ask(self):
        self.asked.append(self._max_cost)
        fits = [i for i in self.candidates() if self._max_cost is None or 10.0 * (i + 1) <= self._max_cost]
        return Suggestion(fits[0], dict(self.pool[fits[0]]), 1) if fits else None


def test_the_loop_passes_the_time_left_and_stops_when_no_step_fits(tmp_path):
    """``ask(max_cost=)`` gets the budget left (less the end reserve) in training seconds; when the optimizer has
    trials left but none fits, the search stops with the budget as its reason, not an exhausted space."""
    from hf_quicktune.run.progress import PlainReporter
    from hf_quicktune.run.search_loop import Search

    pool = [{"model": "a", "lr": 10.0 ** -i} for i in range(20)]
    opt = _CostAware(pool, max_epochs=1)  # one epoch per trial: nothing to finish at the end
    opt.asked = []
    state, clock = RunState(tmp_path), _TickClock()
    search = Search(opt, state, pool, _TimedFake(state, clock), Budget(seconds=100.0), clock, [], {},
                     PlainReporter(io.StringIO()), max_epochs=1)
    stop = search.run(type("NoInterrupt", (), {"check": lambda self: None})())
    assert "no candidate's next step is predicted to fit" in stop
    reserve = Budget.reserve_for(0.5)
    # before any step: 100 s less the reserve at 1.3 wall seconds per training second; then 1.0 (10 s wall = 10 s)
    assert opt.asked[0] == pytest.approx((100.0 - Budget.reserve_for(0.0)) / 1.3)
    assert opt.asked[1] == pytest.approx(100.0 - 10.0 - reserve)
    # trial 4 (predicted 50 s) starts at 40 s with 55 s left; at 50 s trial 5 (60 s) does not fit in 45
    assert [s["trial_id"] for s in search.steps] == [0, 1, 2, 3, 4]
    assert opt.asked[-1] == pytest.approx(100.0 - 50.0 - reserve) and clock.elapsed == 50.0 and opt.candidates()


def test_once_max_trials_have_started_the_best_of_them_trains_to_the_end_of_its_schedule(tmp_path):
    """--max-trials caps the configurations tried, not their epochs: with an optimizer that only ever opens new
    trials, the run used to stop as soon as the cap's last trial had its first epoch ("--max-trials 3 reached"
    with every trial at epoch 1). The best started trial (here the first) now trains on to max_epochs, then
    the run stops."""
    from hf_quicktune.run.progress import PlainReporter
    from hf_quicktune.run.search_loop import Search

    pool = [{"model": "a", "lr": 10.0 ** -i} for i in range(20)]
    opt = _Explorer(pool, max_epochs=4)
    state, clock = RunState(tmp_path), _TickClock()
    search = Search(opt, state, pool, _TimedFake(state, clock), Budget(max_trials=3), clock, [], {},
                     PlainReporter(io.StringIO()), max_epochs=4)
    stop = search.run(type("NoInterrupt", (), {"check": lambda self: None})())
    assert [(s["trial_id"], s["epoch"]) for s in search.steps] == [(0, 1), (1, 1), (2, 1), (0, 2), (0, 3), (0, 4)]
    assert stop == "--max-trials 3 reached; the best of them, trial 0, finished its 4-epoch schedule"
    assert sorted(opt.trials) == [0, 1, 2]
    # two workers: the cap's best trial trains on one of them, never twice at once (the fake asserts it)
    opt = _Explorer(pool, max_epochs=4)
    two = _ParallelFake(2, RunState(tmp_path / "two"))
    search = Search(opt, two.state, pool, two, Budget(max_trials=3), _TickClock(), [], {},
                     PlainReporter(io.StringIO()), max_epochs=4)
    assert search.run(type("NoInterrupt", (), {"check": lambda self: None})()).startswith("--max-trials 3 reached")
    assert sorted(opt.trials) == [0, 1, 2] and opt.trials[2].epochs == 4  # scores (trial + epoch) / 100: 2 is best


def test_once_max_trials_have_started_a_best_trial_that_failed_is_named_beside_the_one_that_trains_on(tmp_path):
    """Trial 0 scored 0.90, then diverged: it stays the incumbent (exported from its best epoch) but cannot train on;
    the best of the others trains to the end of its schedule, and the stop reason says which is which (it called
    that one 'the best of them')."""
    from hf_quicktune.run.progress import PlainReporter
    from hf_quicktune.run.search_loop import Search

    pool = [{"model": "a", "lr": 10.0 ** -i} for i in range(20)]
    opt = _Scripted(pool, max_epochs=4)
    opt.script = [(0, 1), (0, 2)]
    state, clock = RunState(tmp_path), _TickClock()
    ex = _FailingFake(state, clock)
    ex.table, ex.failed = {(0, 1): 0.90, (1, 1): 0.30, (2, 1): 0.20}, {(0, 2)}
    search = Search(opt, state, pool, ex, Budget(max_trials=3), clock, [], {}, PlainReporter(io.StringIO()),
                    max_epochs=4)
    stop = search.run(type("NoInterrupt", (), {"check": lambda self: None})())
    assert opt.trials[0].status == "diverged" and opt.trials[1].epochs == 4 and opt.trials[2].epochs == 1
    assert stop == ("--max-trials 3 reached; the best of them that can still train, trial 1, finished its 4-epoch "
                    "schedule (trial 0 scored higher before it failed)")


def test_once_max_trials_have_started_a_best_trial_closed_by_a_refit_is_named_as_finished(tmp_path):
    """--max-trials 3 reached while the best trial, 0, sits at the end of the 4-epoch schedule a re-fit then
    lengthened to 6 (with several workers another trial's finishing re-fits the schedule every trial shares): it is
    never continued (Optimizer.closed), so the run stops there, and the reason says it finished its schedule."""
    from hf_quicktune.run.progress import PlainReporter
    from hf_quicktune.run.search_loop import Search

    pool = [{"model": "a", "lr": 10.0 ** -i} for i in range(20)]
    opt = _Explorer(pool, max_epochs=4)
    for tid, epochs, score in ((0, 4, 0.9), (1, 1, 0.3), (2, 1, 0.2)):
        for e in range(1, epochs + 1):
            opt.tell(tid, e, score, 1.0)
    opt.set_max_epochs(6)
    assert opt.is_done(0) and not opt.is_done(1)
    state, clock = RunState(tmp_path), _TickClock()
    search = Search(opt, state, pool, _TimedFake(state, clock), Budget(max_trials=3), clock, [], {},
                    PlainReporter(io.StringIO()), max_epochs=6)
    stop = search.run(type("NoInterrupt", (), {"check": lambda self: None})())
    assert stop == "--max-trials 3 reached; the best of them, trial 0, finished its 4-epoch schedule"
    assert opt.trials[0].epochs == 4 and sorted(opt.trials) == [0, 1, 2]


class _Captured(BaseException):
    """Ends a real run where its search would start (a BaseException: the run's crash handler does not wrap it)."""


@pytest.mark.parametrize("user_epochs", [2, None])
def test_the_run_refits_only_a_schedule_it_fitted_to_the_budget(tmp_path, monkeypatch, user_epochs):
    """Wired in run/loop.py: a schedule the user set (--max-epochs, the demo's 10) is the user's and is never
    re-fitted, so its finishing keeps FINISH_MARGIN; a schedule the run fitted to --budget gets the re-fit hook
    (the no-search fine-tune's and a one-worker search's finishing incumbent's, run/plan.refit_run_schedule)."""
    from hf_quicktune.cli import main
    from hf_quicktune.run import loop

    seen = {}

    def capture(search, interrupt):
        seen.update(refit=search.refit, refits_finish=search.refits_finish, max_epochs=search.max_epochs)
        assert search.val_images == 32  # the images a trial is scored on (--eval-limit): the finishing's noise
        raise _Captured

    monkeypatch.setattr(loop.Search, "run", capture)
    out = tmp_path / "run"
    args = ["run", "--dataset", "builtin:digits", "--zoo", "tf_efficientnet_lite0", "--image-size", "32",
            "--train-limit", "64", "--eval-limit", "32", "--rank-samples", "24", "--pool-size", "4",
            "--budget", "10m", "--output-dir", str(out)]
    if user_epochs is not None:
        args += ["--max-epochs", str(user_epochs)]
    with pytest.raises(_Captured):
        main(args)
    if user_epochs is not None:
        assert seen == {"refit": None, "refits_finish": False, "max_epochs": user_epochs}
        assert not (out / "schedule.json").exists()
    else:
        import json

        fitted = json.loads((out / "schedule.json").read_text())
        assert callable(seen["refit"]) and seen["max_epochs"] == fitted["max_epochs"]
        assert seen["refits_finish"] == bool(fitted["search"])  # a searched run re-fits its finish


class _Scripted(_Explorer):
    """Plays ``script`` ((trial, epoch) suggestions) first, then opens new trials for one epoch."""

    script: list = []

    def _ask(self):
        while self.script:
            tid, epoch = self.script.pop(0)
            if tid not in self.in_flight:
                return Suggestion(tid, dict(self.pool[tid]), epoch)
        return super()._ask()


class _TableFake(_TimedFake):
    """Scores from ``table`` ({(trial, epoch): score}; 0.1 + e/100 elsewhere), 10 s per epoch."""

    table: dict = {}

    def wait(self):
        out = super().wait()
        for rec in out.records:
            rec["val_top1"] = self.table.get((out.trial_id, rec["epoch"]), 0.1 + rec["epoch"] / 100)
        return out


@pytest.mark.parametrize("same_epoch, val_images, finished", [(True, None, 1), (True, 400, 1), (True, 50, 0),
                                                                (False, None, 0)])
def test_the_end_of_a_search_finishes_the_trial_ahead_at_equal_epochs(tmp_path, monkeypatch, caplog, same_epoch,
                                                                      val_images, finished):
    """Trial 0 was searched 3 epochs (best 0.60); trial 1's first epoch scored 0.58, ahead of trial 0's first (0.50).
    The best score observed at any epoch favours the trial searched longest (a fewshot run finished a frozen
    body that plateaus over the fine-tune ahead of it at equal epochs): the end finishes trial 1, and the search
    ends once it has, the best. On 400 validation images the lead of 0.08 is more than one standard error
    (SAME_EPOCH_Z) of the difference (0.035); on 50 it is not (0.099): trial 0. SAME_EPOCH_FINISH off: trial 0,
    the best observed."""
    import logging

    from hf_quicktune.run import search_loop
    from hf_quicktune.run.progress import PlainReporter

    monkeypatch.setattr(search_loop, "SAME_EPOCH_FINISH", same_epoch)
    pool = [{"model": "a", "lr": 10.0 ** -i} for i in range(50)]
    opt = _Scripted(pool, max_epochs=4)
    opt.script = [(0, 1), (0, 2), (0, 3), (1, 1)]
    state, clock = RunState(tmp_path), _TickClock()
    ex = _TableFake(state, clock)
    ex.table = {(0, 1): 0.50, (0, 2): 0.55, (0, 3): 0.60, (0, 4): 0.62,
                (1, 1): 0.58, (1, 2): 0.66, (1, 3): 0.70, (1, 4): 0.72}
    search = search_loop.Search(opt, state, pool, ex, Budget(seconds=120.0), clock, [], {},
                                PlainReporter(io.StringIO()), max_epochs=4)
    search.val_images = val_images
    monkeypatch.setattr(search_loop, "SAME_EPOCH_Z", 1.0)  # the default; the figures above are for one error
    with caplog.at_level(logging.INFO, logger="hf_quicktune.run.search_loop"):
        stop = search.run(type("NoInterrupt", (), {"check": lambda self: None})())
    assert opt.trials[finished].epochs == 4 and search.finish_trial == finished
    assert opt.trials[1 - finished].epochs == (3 if finished else 1)  # the other stays where the search left it
    assert f"the incumbent, trial {finished}, finished its 4-epoch schedule" in stop
    assert clock.elapsed <= 120.0
    said = "finishing trial 1 (58.0 % within its 1 epoch(s), ahead of the best observed, trial 0, at 50.0 % by then)"
    assert (said in caplog.text) == (finished == 1)


@pytest.mark.parametrize("rule", [True, False])
def test_a_search_ends_once_its_best_trial_finished_by_the_search_and_no_new_trial_can_train_as_far(
        tmp_path, monkeypatch, rule):
    """The optimizer itself trains its best trial to the end of the 4-epoch schedule (40 s of 200: no finishing
    needed, as a demo's user-set --max-epochs allows). The search goes on while the time left (less the end's 5 s
    reserve) could train a new trial as far (4 epochs of 10 s); once it cannot, it ends there, as after a finishing
    (STOP_WHEN_BEST_FINISHED). Without the rule it opened one-epoch trials far below the best until the budget
    ran out (``make demo``'s last minute)."""
    from hf_quicktune.run import search_loop
    from hf_quicktune.run.progress import PlainReporter

    monkeypatch.setattr(search_loop, "STOP_WHEN_BEST_FINISHED", rule)
    pool = [{"model": "a", "lr": 10.0 ** -i} for i in range(50)]
    opt = _Continuing(pool, max_epochs=4)
    state, clock = RunState(tmp_path), _TickClock()
    search = search_loop.Search(opt, state, pool, _TimedFake(state, clock), Budget(seconds=200.0), clock, [], {},
                                PlainReporter(io.StringIO()), max_epochs=4)
    reason = search.run(type("NoInterrupt", (), {"check": lambda self: None})())
    steps = [(s["trial_id"], s["epoch"]) for s in search.steps]
    assert steps[:4] == [(0, 1), (0, 2), (0, 3), (0, 4)] and search.finish_trial is None
    assert all(epoch == 1 for tid, epoch in steps[4:])  # then new trials, far below it
    reserve = search.budget.reserve(search.steps)
    assert reserve == pytest.approx(5.0)
    if rule:  # at 160 s the 35 s left (less the reserve) cannot train 4 epochs of 10 s; at 150 s 45 s could
        assert clock.elapsed == pytest.approx(160.0)
        # not "budget used ... at the end of the budget": a fifth of it is left (the demo said so with 55 s of 180)
        assert reason == ("the incumbent, trial 0, finished its 4-epoch schedule, and the 40s left cannot train "
                          "another trial as far")
    else:  # new one-epoch trials until the budget refuses the next
        assert clock.elapsed == pytest.approx(190.0) and reason == "budget used"


def test_a_search_that_stops_on_its_incumbent_names_the_trial_it_exports(tmp_path):
    """Trials 0 and 1 both reach 0.60 and finish their 4-epoch schedule; trial 1 ends higher (0.59 against 0.55),
    so the leaderboard ranks it first and the run exports it. The search ends on its incumbent once no new trial
    can train as far (STOP_WHEN_BEST_FINISHED) and names that trial: it named trial 0, the first to reach 0.60
    (``Optimizer.best``), while the export was trial 1."""
    from hf_quicktune.report.curves import sort_leaderboard
    from hf_quicktune.run import search_loop
    from hf_quicktune.run.finalize import pick_incumbent
    from hf_quicktune.run.progress import PlainReporter

    pool = [{"model": "a", "lr": 10.0 ** -i} for i in range(50)]
    opt = _Scripted(pool, max_epochs=4)
    opt.script = [(0, 1), (0, 2), (0, 3), (0, 4), (1, 1), (1, 2), (1, 3), (1, 4)]
    state, clock = RunState(tmp_path), _TickClock()
    ex = _TableFake(state, clock)
    ex.table = {(0, 1): 0.50, (0, 2): 0.60, (0, 3): 0.58, (0, 4): 0.55,
                (1, 1): 0.60, (1, 2): 0.59, (1, 3): 0.59, (1, 4): 0.59}
    search = search_loop.Search(opt, state, pool, ex, Budget(seconds=200.0), clock, [], {},
                                PlainReporter(io.StringIO()), max_epochs=4)
    stop = search.run(type("NoInterrupt", (), {"check": lambda self: None})())
    scores: dict = {}
    for step in search.steps:
        scores.setdefault(step["trial_id"], []).append(step["score"])
    rows = [{"trial_id": tid, "status": "ok", "metric": "top1", "best_val_score": max(s), "last_val_score": s[-1]}
            for tid, s in scores.items()]
    exported = pick_incumbent(sort_leaderboard(rows))["trial_id"]
    assert exported == 1
    assert "the incumbent, trial 1, finished its 4-epoch schedule" in stop
    assert search_loop.snapshot(opt, pool, search.steps, clock, 200.0, 4)["incumbent"]["trial_id"] == 1


class _FailingFake(_TableFake):
    """:class:`_TableFake` whose epochs in ``failed`` diverge (no score, status "diverged", as the engine records)."""

    failed: set = set()

    def wait(self):
        out = super().wait()
        for rec in out.records:
            if (out.trial_id, rec["epoch"]) in self.failed:
                rec.update(val_top1=None, status="diverged", message="loss is nan")
        return out


def test_the_end_of_a_search_finishes_the_best_trial_that_did_not_fail(tmp_path, caplog):
    """Trial 0 scored 0.90, then diverged: its epoch 1 stays the incumbent (exported), and the end of the budget
    finishes trial 1, the best trial that can go on (it might overtake it). It finished nothing: the best observed
    score was the failed trial's, which cannot go on, and one-epoch trials filled the budget. The search does not
    stop on trial 1's finish as if it were the incumbent."""
    from hf_quicktune.run import search_loop
    from hf_quicktune.run.progress import PlainReporter

    pool = [{"model": "a", "lr": 10.0 ** -i} for i in range(50)]
    opt = _Scripted(pool, max_epochs=4)
    opt.script = [(0, 1), (0, 2), (1, 1)]
    state, clock = RunState(tmp_path), _TickClock()
    ex = _FailingFake(state, clock)
    ex.table, ex.failed = {(0, 1): 0.90, (1, 1): 0.50, (1, 2): 0.52, (1, 3): 0.55, (1, 4): 0.56}, {(0, 2)}
    search = search_loop.Search(opt, state, pool, ex, Budget(seconds=120.0), clock, [], {},
                                PlainReporter(io.StringIO()), max_epochs=4)
    with caplog.at_level("INFO", logger="hf_quicktune.run.search_loop"):
        stop = search.run(type("NoInterrupt", (), {"check": lambda self: None})())
    assert opt.trials[0].status == "diverged" and search.finish_trial == 1 and opt.trials[1].epochs == 4
    assert "finishing trial 1, the best that can still train (the incumbent, trial 0, failed after" in caplog.text
    assert stop == "budget used"
    assert search_loop.snapshot(opt, pool, search.steps, clock, 120.0, 4)["incumbent"]["trial_id"] == 0
