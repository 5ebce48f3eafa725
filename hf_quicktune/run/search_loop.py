"""The search loop of a run (:class:`Search`): ask until every worker is busy, wait for any job, tell its epochs,
repeat, under the budget's stop rules; the end of a wall-clock budget trains the incumbent to the end of its
schedule. Also what each told job leaves behind: the optimizer told, ``steps.jsonl`` appended
(:func:`tell_outcome`), and the progress snapshot the reporters show (:func:`snapshot`).

:mod:`~hf_quicktune.run.loop` builds the parts (dataset, ranking, pool, optimizer, executor) and runs it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from hf_quicktune.run.budget import Budget, Clock
from hf_quicktune.run.executor import Executor
from hf_quicktune.run.session import InterruptGuard
from hf_quicktune.run.settings import format_seconds
from hf_quicktune.run.state import RunState
from hf_quicktune.run.trials import OK, Outcome, record_score_cost, step_record
from hf_quicktune.search.leader import best_within, equal_epoch_leader, incumbent

logger = logging.getLogger(__name__)

#: the end of a wall-clock budget finishes the incumbent's schedule once the time left is at most this
#: many times what its remaining epochs cost (slack for the cost estimate; Search.finishing)
FINISH_MARGIN = 1.5
#: ... and when the finishing trial's schedule is re-fitted to end with the budget (a schedule the run fitted:
#: :attr:`Search.refits_finish`), once the time left is at most what its remaining epochs cost: the re-fit
#: takes up the estimate's error either way. With FINISH_MARGIN and a schedule of half the budget
#: (run/schedule.BUDGET_SHARE) the finishing starts once 0.75 of the budget is left: the search explored only about
#: its first quarter
REFIT_FINISH_MARGIN = 1.0
#: the finishing trial's schedule is re-fitted with several workers too (the other workers' later jobs train on the
#: re-fitted length, engines kept in memory included: TrialRunner._on_schedule; a trial that had finished the shorter
#: one stays finished: Optimizer.set_max_epochs): a two-worker run's finishing kept FINISH_MARGIN and its command
#: ended at 126 s of a 150 s budget; the runs with the re-fit that finished a trial, at the budget's end
#: (benchmarks/finish_margin.py, session 60; their accuracy within the noise of a few pairs)
REFIT_WITH_WORKERS = True
#: with several workers and a re-fitted finishing (:attr:`Search.refits_finish`), the finishing also starts once the
#: incumbent trained :data:`EARLY_FINISH_FROM` of its schedule and its end, trained on from now, would leave less time
#: than another trial needs to train as far (the time :data:`STOP_WHEN_BEST_FINISHED` then leaves unused); its
#: schedule is re-fitted at once to end with the budget, up to :data:`EARLY_FINISH_MOST` x the searched one. Two
#: workers' search trains the incumbent to its end by itself, before the time left falls to its remaining epochs'
#: cost (the ordinary finishing's trigger), and such runs on digits stopped with 75-80 s of 240 unused (session 60);
#: with it, the incumbents of 4-minute digits runs trained 22-30 epochs instead of 18-23, top-1 98.8 -> 99.4 %
#: (benchmarks/finish_margin.py, session 61: 3 pairs, all won), of 8-minute runs 44-45 instead of 34-36, 99.4 -> 100.0 %
#: (session 62: 2 pairs, both won). With one worker it never fired (fewshot, session 62: the search leaves its
#: incumbent short of half its schedule until the ordinary finishing)
EARLY_FINISH_WITH_WORKERS = True
#: ... once the incumbent trained this share of its schedule (earlier, one good first epoch would take a worker for
#: the rest of the run)
EARLY_FINISH_FROM = 0.5
#: ... its re-fitted schedule at most this many times the searched one: the time its end would leave is less than
#: a whole schedule, so trained on without a pause it needs at most twice the searched length
EARLY_FINISH_MOST = 2.0
#: a no-search fine-tune that ends with more than this share of the budget left says why (its plan was made for
#: the smaller budget a resumed run started with; re-fits end it with the budget otherwise)
UNUSED_NOTE_SHARE = 0.25
#: a searched run finishes the equal-epoch leader (search/leader.py): the best observed trial unless an open trial
#: that trained fewer epochs was ahead of it at that trial's own epoch count; False: the best observed trial. Off:
#: measured without a gain on real runs (benchmarks/finish_margin.py: 6 fewshot pairs, 83.8 % off vs 84.6 % on, the
#: rule deciding none of them) and a small one replayed on the meta-dataset (benchmarks/finish_choice.py)
SAME_EPOCH_FINISH = False
#: ... when ahead by more than this many standard errors of the two accuracies' difference on the validation
#: images the trials are scored on (:func:`~hf_quicktune.search.leader.lead_needed`; 0: any lead)
SAME_EPOCH_Z = 1.0
#: the search also ends once the best trial reached the end of its schedule by the search itself (no finishing was
#: needed: a user-set ``--max-epochs`` such as the demo's) and the time left is shorter than that schedule at its
#: epochs' cost, as after a finishing (:meth:`Search.incumbent_finished`): ``make demo`` spent its last minute on
#: one-epoch trials of other models far below it and discarded the epoch the deadline cut
STOP_WHEN_BEST_FINISHED = True

__all__ = ["EARLY_FINISH_FROM", "EARLY_FINISH_MOST", "EARLY_FINISH_WITH_WORKERS", "FINISH_MARGIN",
           "REFIT_FINISH_MARGIN", "REFIT_WITH_WORKERS", "SAME_EPOCH_FINISH", "SAME_EPOCH_Z", "STOP_WHEN_BEST_FINISHED",
           "Search", "release", "snapshot", "tell_outcome"]


def snapshot(opt, pool, steps: list[dict[str, Any]], clock: Clock, budget_s: float | None, max_epochs: int) -> dict:
    counts = {"started": 0, "paused": 0, "finished": 0, "failed": 0}
    closed: set[int] = getattr(opt, "closed", set())  # finished a shorter schedule before a re-fit lengthened it
    for tid, st in opt.trials.items():
        if st.epochs == 0 and st.status == OK:
            continue
        counts["started"] += 1
        if st.status != OK:
            counts["failed"] += 1
        elif st.epochs >= max_epochs or tid in closed:
            counts["finished"] += 1
        else:
            counts["paused"] += 1
    best = incumbent(opt.trials)
    kept = None
    if best is not None:
        tid, epoch, score = best
        kept = {"trial_id": tid, "epoch": epoch, "score": score, "model": pool[tid].get("model"), "config": pool[tid]}
    return {"elapsed_s": clock.elapsed, "budget_s": budget_s, "counts": counts, "steps": len(steps),
            "incumbent": kept, "last_steps": steps[-5:]}


def tell_outcome(opt, state: RunState, pool: list[dict[str, Any]], outcome: Outcome, clock: Clock,
                 n_before: int, started_s: float | None = None) -> list[dict[str, Any]]:
    """Tell the optimizer every finished epoch of ``outcome``, log them to steps.jsonl (in that order,
    see :mod:`~hf_quicktune.run.state`) and return the new steps. ``started_s``: the run second the job
    was submitted (with ``elapsed_s``, the told time, it shows which jobs overlapped)."""
    tid, config = outcome.trial_id, pool[outcome.trial_id]
    wall = outcome.wall_s / max(1, len(outcome.records))
    new: list[dict[str, Any]] = []
    for rec in outcome.records:
        score, cost, status = record_score_cost(rec)
        opt.tell(tid, int(rec["epoch"]), score, cost, status)
        step = step_record(n_before + len(new) + 1, tid, config, rec, clock.elapsed)
        step.update(wall_s=round(wall, 3), eval_s=float(rec.get("eval_seconds", 0.0)))
        if rec.get("images_per_second"):  # the training's throughput: what a whole epoch's training costs
            step["ips"] = round(float(rec["images_per_second"]), 3)
        if started_s is not None:
            step["job_started_s"] = round(started_s, 3)
        new.append(step)
        if status != OK:
            from hf_quicktune.run.outcome import log_trial_failure

            log_trial_failure(logger, tid, config.get("model"), status, rec["epoch"], rec.get("message"))
            break
    state.save_optimizer(opt.state_dict())
    state.append_steps(new)
    return new


def release(opt, trial_id: int) -> None:
    """Cancel ``trial_id``'s pending evaluation in the optimizer (an epoch the budget discarded, a job lost)."""
    if trial_id in opt.in_flight:
        opt.release(trial_id)


class Search:
    """The loop: ask until every worker is busy, wait for any job, tell its epochs, repeat; the budget
    (or an exhausted space) ends the submissions and the jobs in flight are waited for."""

    def __init__(self, opt, state: RunState, pool, executor: Executor, budget: Budget, clock: Clock, steps,
                 progress: dict, reporter, max_epochs: int):
        self.worker_s_before = float(progress.get("worker_s", 0.0))  # earlier sessions' worker-seconds
        self.opt, self.state, self.pool, self.executor = opt, state, pool, executor
        self.budget, self.clock, self.steps, self.progress = budget, clock, steps, progress
        self.reporter, self.max_epochs = reporter, max_epochs
        self.in_flight: dict[int, int] = {}
        self.started: dict[int, float] = {}  # run second each job in flight was submitted
        self.finish_trial: int | None = None  # the incumbent being trained to the end of its schedule
        self.finish_most = FINISH_MARGIN  # its re-fitted schedule at most this many times the searched one
        self.searching = True  # False: a budget too small to search (run/schedule.py): finish at once
        # called with each told epoch of the trial that alone trains on (the no-search fine-tune, a one-worker
        # search's finishing incumbent) to re-fit its schedule to the time left (run/refit.py)
        self.refit: Callable[[int], None] | None = None
        self.val_images: int | None = None  # validation images a trial is scored on (the finishing's noise)

    def ends_early(self, trial_id: int) -> bool:
        """Whether ``trial_id``'s epoch that the deadline reaches is ended early and kept: the last epoch of the
        one fine-tune, or of the incumbent a search trains to the end of its schedule when the budget ends
        (nothing is compared with it after), rather than cut by the deadline and lost; other epochs of a
        search stay whole, comparable along the curves."""
        return self.budget.seconds is not None and (not self.searching or trial_id == self.finish_trial)

    def submit(self, trial_id: int, epoch: int) -> None:
        told = self.opt.trials[trial_id].epochs if trial_id in self.opt.trials else 0
        deadline = self.budget.deadline(self.steps)
        kw = {}
        if deadline is not None and self.ends_early(trial_id):
            left = deadline - self.clock.elapsed
            kw["wrap_up_s"] = left - self.budget.wrap_up(self.steps)
            if epoch - told == 1:  # the budget let it start because it fits whole, or half of it with its wrap-up
                # (Budget.stop_reason): a short epoch (1.2 s, wrap-up 1.7 s) was ended before its first step and
                # lost; it now trains at least that half before it may end early
                from hf_quicktune.search.base import Suggestion

                one = self.budget.suggestion_seconds(self.opt, self.steps,
                                                     Suggestion(trial_id, self.pool[trial_id], epoch), 1)
                kw["wrap_up_s"] = max(kw["wrap_up_s"], min(left, Budget.ENDS_EARLY_SHARE * one))
        self.executor.submit(trial_id, self.pool[trial_id], epoch, from_epoch=told,
                             deadline_s=None if deadline is None else deadline - self.clock.elapsed, **kw)
        self.in_flight[trial_id] = epoch
        self.started[trial_id] = self.clock.elapsed

    def resubmit(self) -> None:
        """Trials in flight when the last session ended continue from their checkpoints (or are released), to
        the epoch --max-epochs-total (perhaps raised on resume) leaves room for, as an asked trial would."""
        from hf_quicktune.search.base import Suggestion

        for tid, epoch in sorted(dict(self.opt.in_flight).items()):
            told = self.opt.trials[tid].epochs if tid in self.opt.trials else 0
            if epoch > told and self.executor.busy < self.executor.capacity and \
                    self.budget.stop_reason(self.opt, self.steps, self.clock, in_flight=self.in_flight) is None:
                allowed = Suggestion(tid, self.pool[tid], epoch)
                self.submit(tid, self.budget.epochs_allowed(self.opt, self.steps, allowed, self.in_flight))
            else:
                release(self.opt, tid)

    def finishing(self, suggestion: Any = None) -> int | None:
        """The incumbent trial to continue now instead of ``suggestion`` (the optimizer's choice; None: before
        asking), when the wall-clock budget left (less the reserve and the suggestion's predicted cost) is
        at most :data:`FINISH_MARGIN` x what the incumbent's remaining epochs cost: the end of the budget
        trains the best trial found (:meth:`to_finish`: compared at equal epochs) to the end of its schedule (its
        learning rate annealed, like a practitioner's final run) instead of opening trials that cannot finish.
        Once started it goes on while that trial stays the one to finish. Never before the optimizer's initial
        design has run.

        With a schedule the run fitted (:attr:`refits_finish`), the margin is
        :data:`REFIT_FINISH_MARGIN` and the finishing trial's schedule is re-fitted after each epoch to end with
        the budget (:func:`~hf_quicktune.run.plan.refit_run_schedule`), like the no-search
        fine-tune's: the margin left up to a third of the time unused (a fewshot run ended at 204 s of 300,
        benchmarks/product_vs_finetune.py), and a finish started with less time than its epochs cost was cut before
        its learning rate annealed. With several workers (:data:`REFIT_WITH_WORKERS`) the other workers' later trials
        are built on the re-fitted length."""
        seconds = self.budget.seconds
        # the best trial that can go on: a failed incumbent stays the one exported, and this one may overtake it
        best = incumbent(self.opt.trials, can_go_on=True) if seconds is not None else None
        if seconds is not None and not self.searching and (best is None or self.opt.is_done(best[0])):
            # the fine-tune failed (diverged, out of memory): the best trial that can still go on replaces it
            best = incumbent({t: st for t, st in self.opt.trials.items() if not self.opt.is_done(t)})
        if best is None or seconds is None:
            return None
        tid = self.to_finish(best[0])
        if tid is None:
            return None
        st = self.opt.trials.get(tid)
        if tid in self.in_flight or st is None or self.opt.is_done(tid):
            return None
        if self.finish_trial != tid:
            if not self.searching:  # the one fine-tune goes on without asking: the optimizer had suggested it
                self.finish_trial = tid  # again and again, each ask fitting the surrogate (product_vs_finetune.py:
                return tid  # a digits600 epoch 2.65 s between epoch ends against the engine's 2.32 s, now equal)
            design = getattr(self.opt, "initial_design", ())
            if suggestion is None or (suggestion.trial_id in design and suggestion.trial_id not in self.opt.trials):
                return None  # the initial design (the by-hand configuration among it) is always tried
            left = seconds - self.clock.elapsed - self.budget.reserve(self.steps)
            epoch_s = self.budget.epoch_seconds(self.steps, tid, self.pool[tid].get("model"))
            cost = (self.max_epochs - st.epochs) * epoch_s
            early = self.finishes_early(st.epochs, left, cost, epoch_s)
            if not early:
                if suggestion.trial_id == tid:
                    return None  # the search goes on with it by itself
                left -= self.budget.suggestion_seconds(self.opt, self.steps, suggestion,
                                                       self.budget.new_epochs(self.opt, suggestion))
                if left > (REFIT_FINISH_MARGIN if self.refits_finish else FINISH_MARGIN) * cost:
                    return None
            self.finish_trial, self.finish_most = tid, EARLY_FINISH_MOST if early else FINISH_MARGIN
            kept = incumbent(self.opt.trials)
            if early:
                who = f"the incumbent, trial {tid}," if kept is not None and kept[0] == tid else \
                    f"trial {tid}, the best that can still train,"
                logger.info("finishing %s at epoch %d of %d: trained on from now, its end would leave %s, too little "
                            "to train another trial as far (%d workers); its schedule is re-fitted to end with the "
                            "budget", who, st.epochs, self.max_epochs, format_seconds(max(0.0, left - cost)),
                            self.executor.capacity)
                if self.refit is not None:  # now: the job it is continued by could reach the old end and close it
                    self.refit(tid)
            elif tid == best[0] and kept is not None and kept[0] != tid:  # the incumbent failed after its best epoch
                logger.info("finishing trial %d, the best that can still train (the incumbent, trial %d, failed after "
                            "its best epoch): it continues to epoch %d instead of trial %d", tid, kept[0],
                            self.max_epochs, suggestion.trial_id)
            elif tid == best[0]:
                logger.info("finishing the incumbent: trial %d continues to epoch %d instead of trial %d", tid,
                            self.max_epochs, suggestion.trial_id)
            else:
                lead = self.opt.trials[best[0]]
                logger.info("finishing trial %d (%.1f %% within its %d epoch(s), ahead of the best observed, trial %d, "
                            "at %.1f %% by then): it continues to epoch %d instead of trial %d", tid,
                            100 * best_within(st, st.epochs), st.epochs, best[0], 100 * best_within(lead, st.epochs),
                            self.max_epochs, suggestion.trial_id)
        return tid

    def to_finish(self, best_id: int) -> int | None:
        """The trial the end of the budget trains on, given the best observed ``best_id``: with
        :data:`SAME_EPOCH_FINISH` (a searched run), the equal-epoch leader (:func:`~hf_quicktune.search.leader.
        equal_epoch_leader`): the best score observed at any epoch favours the trial searched longest."""
        if not (self.searching and SAME_EPOCH_FINISH):
            return best_id
        open_ids = [t for t, st in self.opt.trials.items() if st.epochs and not self.opt.is_done(t)]
        return equal_epoch_leader(self.opt.trials, open_ids, best_id, val_images=self.val_images, z=SAME_EPOCH_Z)

    def finishes_early(self, epochs: int, left: float, cost: float, epoch_s: float) -> bool:
        """Whether the finishing starts now (:data:`EARLY_FINISH_WITH_WORKERS`), ``left`` seconds before the end's
        reserve, with the incumbent at ``epochs`` and its remaining epochs costing ``cost`` at ``epoch_s`` each:
        several workers, a re-fitted finishing, :data:`EARLY_FINISH_FROM` of its schedule trained, and the time its
        end would leave if trained on from now shorter than its whole schedule at that cost, so
        :meth:`incumbent_finished` would end the search there with that time unused."""
        return (EARLY_FINISH_WITH_WORKERS and self.executor.capacity > 1 and self.refits_finish and epoch_s > 0
                and epochs >= EARLY_FINISH_FROM * self.max_epochs and left - cost < self.max_epochs * epoch_s)

    @property
    def refits_finish(self) -> bool:
        """Whether the trial the end of the budget finishes has its schedule re-fitted to the time left (a re-fit
        hook: a schedule the run fitted; with several workers only with :data:`REFIT_WITH_WORKERS`)."""
        return self.searching and self.refit is not None and (self.executor.capacity == 1 or REFIT_WITH_WORKERS)

    def best_started(self) -> int | None:
        """The best trial started so far that did not fail (:func:`~hf_quicktune.search.leader.incumbent`; None
        before any score). Once ``--max-trials`` trials have started, it trains on to the end of its schedule, as a
        practitioner finishes the run they keep, and the search stops when it has (it used to stop at the first new
        trial asked for, wherever the best trial was); the cap counts configurations tried, not their epochs."""
        best = incumbent(self.opt.trials, can_go_on=True)
        return None if best is None else best[0]

    def fine_tune_done(self) -> str | None:
        """A budget too small to search ends with its one fine-tune's schedule: the time left after it buys a
        trial of a few epochs that cannot beat it (it only delayed the result). A failed fine-tune leaves
        the rest of the budget to the next pool member."""
        if self.searching:
            return None
        done = [t for t, st in self.opt.trials.items() if st.status == OK and st.epochs >= self.opt.max_epochs]
        if not done:
            return None
        why = f"the fine-tune finished its {self.opt.max_epochs}-epoch schedule (a budget too small to search)"
        seconds = self.budget.seconds
        left = None if seconds is None else seconds - self.clock.elapsed
        if seconds and left is not None and left > UNUSED_NOTE_SHARE * seconds:  # a --resume with a larger --budget
            why += (f"; {format_seconds(left)} of the --budget {format_seconds(seconds)} are left: the run was planned "
                    "without a search for the budget it started with and a resumed run keeps that plan (schedule.json)"
                    ". To search with the larger budget, start a new run in another --output-dir")
        return why

    def incumbent_finished(self) -> str | None:
        """Why the search ends once the incumbent that the end of a wall-clock budget trains to the end of its
        schedule (:meth:`finishing`) got there and is still the best: that end began when the time left was
        judged too short for more than its remaining epochs, so a trial opened after it cannot train as far
        (``make demo`` spent its last seconds on one- or two-epoch trials of other models far below it). With
        :data:`STOP_WHEN_BEST_FINISHED`, also once the best trial got there by the search itself and the time left
        (less the end's reserve) is shorter than its schedule at its epochs' cost. None otherwise, and while the
        finishing trial is running or was overtaken."""
        if not self.searching or self.budget.seconds is None:
            return None
        tid, best = self.finish_trial, incumbent(self.opt.trials)
        if tid is None and STOP_WHEN_BEST_FINISHED and best is not None:
            left = self.budget.seconds - self.clock.elapsed - self.budget.reserve(self.steps)
            as_far = self.opt.max_epochs * self.budget.epoch_seconds(self.steps, best[0],
                                                                     self.pool[best[0]].get("model"))
            tid = best[0] if left < as_far else None
        if tid is None or tid in self.in_flight:
            return None
        st = self.opt.trials.get(tid)
        if st is None or st.status != OK or st.epochs < self.opt.max_epochs or best is None or best[0] != tid:
            return None
        unused = format_seconds(max(0.0, self.budget.seconds - self.clock.elapsed))
        if self.finish_trial is None:  # the search trained it that far, maybe long before: the time is not used up
            return (f"the incumbent, trial {tid}, finished its {self.opt.max_epochs}-epoch schedule, and the {unused} "
                    "left cannot train another trial as far")
        return (f"budget used (the incumbent, trial {tid}, finished its {self.opt.max_epochs}-epoch schedule at the "
                f"end of the budget; the {unused} left cannot train another trial as far)")

    def cost_left(self) -> float | None:
        """The budget left for a step, in the optimizer's cost units (training seconds: wall seconds less the
        end reserve, over the measured wall seconds per training second), passed to ``ask(max_cost=)`` so a
        cost-aware optimizer suggests a step that fits rather than one the budget would refuse and stop the
        search on. None without a time budget, and for the no-search fine-tune (its epochs are priced by the
        schedule's timing, not the cost model)."""
        if self.budget.seconds is None or not self.searching:
            return None
        left = self.budget.seconds - self.clock.elapsed - self.budget.reserve(self.steps)
        return max(0.0, left) / self.budget.wall_per_cost(self.steps)

    def fill(self) -> str | None:
        """Submit suggestions until every worker is busy; returns why the search must stop, if it must."""
        while self.executor.busy < self.executor.capacity:
            stop = self.budget.stop_reason(self.opt, self.steps, self.clock, in_flight=self.in_flight) \
                or self.fine_tune_done() or self.incumbent_finished()
            if stop:
                return stop
            finish = self.finishing()
            max_cost = self.cost_left()
            suggestion = self.opt.continue_trial(finish) if finish is not None else self.opt.ask(max_cost=max_cost)
            if suggestion is None:
                if self.in_flight:
                    return None
                if max_cost is not None and callable(getattr(self.opt, "candidates", None)) and self.opt.candidates():
                    return "budget used (no candidate's next step is predicted to fit in the time left)"
                return "search space exhausted"
            finish = None if finish is not None else self.finishing(suggestion)
            if finish is not None:  # the asked trial would leave too little time to finish the incumbent
                release(self.opt, suggestion.trial_id)
                suggestion = self.opt.continue_trial(finish)
            if suggestion.trial_id in self.in_flight:
                raise RuntimeError(f"the optimizer suggested trial {suggestion.trial_id}, which is in flight")
            stop = self.budget.stop_reason(self.opt, self.steps, self.clock, suggestion, self.in_flight,
                                           ends_early=self.ends_early(suggestion.trial_id))
            best = self.best_started() if stop is not None and stop == self.budget.trials_reached() else None
            if best is not None and not self.opt.is_done(best):  # no new trial: the best one trains on instead
                release(self.opt, suggestion.trial_id)
                if best in self.in_flight:
                    return None  # on another worker: this one waits (more of the same trial cannot run at once)
                suggestion = self.opt.continue_trial(best)
                stop = self.budget.stop_reason(self.opt, self.steps, self.clock, suggestion, self.in_flight,
                                               ends_early=self.ends_early(suggestion.trial_id))
            elif best is not None:  # it finished its schedule: at its end, or at the end before a re-fit lengthened
                # it (Optimizer.closed: never continued on a learning rate warmed up again)
                kept = incumbent(self.opt.trials)  # the export: a trial that failed after its best epoch, maybe
                epochs = self.opt.trials[best].epochs
                stop = (f"{stop}; the best of them, trial {best}, finished its {epochs}-epoch schedule"
                        if kept is None or kept[0] == best else
                        f"{stop}; the best of them that can still train, trial {best}, finished its "
                        f"{epochs}-epoch schedule (trial {kept[0]} scored higher before it failed)")
            if stop:
                release(self.opt, suggestion.trial_id)
                return stop
            self.submit(suggestion.trial_id, self.budget.epochs_allowed(self.opt, self.steps, suggestion, self.in_flight))
        return None

    def collect(self) -> Outcome:
        outcome = self.executor.wait()
        self.in_flight.pop(outcome.trial_id, None)
        new = tell_outcome(self.opt, self.state, self.pool, outcome, self.clock, len(self.steps),
                           self.started.pop(outcome.trial_id, None))
        self.steps += new
        release(self.opt, outcome.trial_id)  # told up to its epoch unless stopped or lost
        refit = not self.searching or (outcome.trial_id == self.finish_trial and self.refits_finish)
        if self.refit is not None and refit and outcome.records:
            self.refit(outcome.trial_id)
        if outcome.lost:
            logger.warning("trial %d: %s; the optimizer may suggest it again", outcome.trial_id, outcome.lost)
        self.progress.update(elapsed_s=self.clock.elapsed, steps=len(self.steps), worker_s=self.worker_seconds)
        self.state.save_progress(self.progress)
        snap = snapshot(self.opt, self.pool, self.steps, self.clock, self.budget.seconds, self.max_epochs)
        self.reporter.step({**snap, "new_steps": new})
        return outcome

    @property
    def worker_seconds(self) -> float:
        return round(self.worker_s_before + self.executor.worker_seconds, 2)

    def run(self, interrupt: InterruptGuard) -> str:
        self.resubmit()
        stop = None
        while True:
            interrupt.check()
            if stop is None:
                stop = self.fill()
            if self.executor.busy == 0:
                return stop or "search space exhausted"
            outcome = self.collect()
            if outcome.stopped and stop is None:
                stop = "budget used (the unfinished epoch was discarded; its trial can continue with --resume)"
