"""The run's one clock and its stop rules, parsed once from the settings.

The budget is wall-clock: it counts everything from the start of the command (dataset loading,
ranking, the optimizer's overhead, training and evaluation on every worker) and continues across
``--resume``. With N workers it is still wall-clock; the summary adds worker-seconds (the sum of the
workers' busy time, GPU-seconds on GPUs) beside it.

The loop asks :meth:`Budget.stop_reason` before it submits a step; the train engine polls
:meth:`Budget.should_stop` between training steps, so the budget ends an epoch in flight without an
exception crossing the engine (the unfinished epoch is discarded; its trial stays resumable from
its last checkpoint).
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hf_quicktune.run.settings import RunSettings

OK = "ok"

logger = logging.getLogger(__name__)


class Clock:
    """Seconds used by the run: what earlier sessions used plus this session's wall time."""

    def __init__(self, before: float = 0.0, t0: float | None = None):
        self.before = float(before)
        self.t0 = time.monotonic() if t0 is None else float(t0)

    @property
    def elapsed(self) -> float:
        return self.before + time.monotonic() - self.t0


@dataclass(frozen=True)
class Budget:
    """Stop rules: wall-clock ``seconds`` (predicted cost of the next step + a reserve for finishing),
    ``max_trials`` (distinct trials started) and ``max_epochs_total`` (epoch-steps trained)."""

    seconds: float | None = None
    max_trials: int | None = None
    max_epochs_total: int | None = None
    #: wall seconds of an epoch measured before these trials ran ({trial_id: seconds}): the no-search
    #: fine-tune's, timed by the schedule's fit. Its first epoch is priced by it rather than by the cost model
    measured: Mapping[int, float] = field(default_factory=dict)
    #: wall seconds of a trial's next epochs as the run planned them ({trial_id: seconds}): the fine-tune whose
    #: epochs train a share of the images (run/refit.py), which its past epochs at another share misprice
    planned: Mapping[int, float] = field(default_factory=dict)
    #: test images the run's end evaluates per validation image an epoch evaluates (0: no test split, the end
    #: evaluates nothing); scales the evaluation part of :meth:`reserve`
    test_share: float = 1.0
    #: seconds of a validation pass as the schedule's fit predicted it (``schedule.json`` ``eval_s``): the
    #: evaluation priced before any is recorded. At 0, the only epoch of a 2-minute run at native resolution
    #: was ended early with no time kept for its 10 s evaluation, ran past the deadline and was discarded
    eval_seconds: float = 0.0

    @classmethod
    def from_settings(cls, settings: RunSettings) -> Budget:
        """The stop rules of the settings (``settings.budget_s``: the budget parsed once, when set)."""
        return cls(settings.budget_s, settings.max_trials, settings.max_epochs_total)

    @property
    def budget_s(self) -> float | None:
        return self.seconds

    @staticmethod
    def epoch_seconds(steps: Sequence[Mapping[str, Any]], trial_id: int, model: str | None) -> float:
        """Typical wall seconds of one epoch: this trial's, else its model's, else anyone's (last 3)."""
        ok = [s for s in steps if s.get("status") == OK and s.get("wall_s")]  # failures are quick, not typical
        own = [s["wall_s"] for s in ok if s["trial_id"] == trial_id]
        same = [s["wall_s"] for s in ok if s.get("model") == model]
        anyone = [s["wall_s"] for s in ok]
        for xs in (own, same, anyone):
            if xs:
                return sum(xs[-3:]) / len(xs[-3:])
        return 0.0

    @staticmethod
    def told_and_pending(opt: Any, in_flight: Mapping[int, int] | None) -> tuple[dict[int, int], int]:
        """(epochs told per trial, epochs submitted to ``in_flight`` jobs and not told yet)."""
        told = {tid: (st.epochs if st is not None else 0) for tid, st in opt.trials.items()}
        return told, sum(max(0, e - told.get(t, 0)) for t, e in dict(in_flight or {}).items())

    @staticmethod
    def new_epochs(opt: Any, suggestion: Any) -> int:
        """Epochs ``suggestion`` trains beyond what its trial was told (at least 1)."""
        st = opt.trials.get(suggestion.trial_id)
        return max(1, int(suggestion.epoch) - (st.epochs if st is not None else 0))

    def epochs_allowed(self, opt: Any, steps: Sequence[Mapping[str, Any]], suggestion: Any,
                       in_flight: Mapping[int, int] | None = None) -> int:
        """The epoch to train ``suggestion`` to: its own, or fewer when --max-epochs-total has less room (a new
        trial's first suggestion spans ``initial_epochs``; the optimizer releases what was not told)."""
        if self.max_epochs_total is None:
            return int(suggestion.epoch)
        told, pending = self.told_and_pending(opt, in_flight)
        used = len([s for s in steps if s.get("status") == OK]) + pending
        done = told.get(suggestion.trial_id, 0)
        return int(max(done + 1, min(int(suggestion.epoch), done + self.max_epochs_total - used)))

    def suggestion_seconds(self, opt: Any, steps: Sequence[Mapping[str, Any]], suggestion: Any, n: int) -> float:
        """Predicted wall seconds of ``n`` epochs of ``suggestion``: as planned (:attr:`planned`); from its own
        past epochs; for a trial
        not run yet, the optimizer's cost prediction (its cost model and timed cost prior, calibrated on
        the epochs seen: a batch of 2 costs far more per epoch than a batch of 32 of the same model),
        else its model's, else anyone's recent epochs."""
        tid = suggestion.trial_id
        if tid in self.planned:
            return n * float(self.planned[tid])
        if not any(s.get("trial_id") == tid and s.get("status") == OK and s.get("wall_s") for s in steps):
            if tid in self.measured:
                return n * float(self.measured[tid])
            predict = getattr(opt, "predict", None)
            if predict is not None:
                try:
                    seconds = float(predict([tid], noise=False)[2][0])
                except Exception:  # noqa: BLE001 - a prediction is a hint; the history below still works
                    logger.debug("no cost prediction for trial %d", tid, exc_info=True)
                else:
                    if math.isfinite(seconds) and seconds > 0:
                        return seconds * self.wall_per_cost(steps)
        return n * self.epoch_seconds(steps, tid, suggestion.config.get("model"))

    @staticmethod
    def wall_per_cost(steps: Sequence[Mapping[str, Any]]) -> float:
        """Wall seconds per recorded training second of the recent epochs (evaluation, data loading; 1.3
        before any)."""
        pairs = [(s["wall_s"], s["cost"]) for s in steps if s.get("status") == OK and s.get("wall_s") and s.get("cost")]
        if not pairs:
            return 1.3
        wall, cost = sum(w for w, _ in pairs[-5:]), sum(c for _, c in pairs[-5:])
        return max(1.0, wall / cost) if cost > 0 else 1.3

    def reserve(self, steps: Sequence[Mapping[str, Any]]) -> float:
        """Seconds kept for the end: test evaluation of the incumbent (priced by the median of the latest
        :data:`RECENT_EVALS` evaluation passes of epochs that trained, a failure's none; scaled by
        ``test_share``), export, plots."""
        return Budget.reserve_for(self.recent_eval_seconds(steps), self.test_share)

    def recent_eval_seconds(self, steps: Sequence[Mapping[str, Any]]) -> float:
        """The median of the latest :data:`RECENT_EVALS` validation passes of epochs that trained, leaving out
        each trial's first while any later pass exists (:attr:`eval_seconds` before any). A trial's first pass
        carries one-time costs the end does not pay again (the metric's import, the loader's start), and with
        two passes their median is their mean: a short run on large JPEGs with a test split kept several times
        a typical pass for its end and stopped while more epochs fit (seen in a run's log, not benchmarked)."""
        ok = [s for s in steps if s.get("status") == OK]
        first: dict[Any, int] = {}
        for i, s in enumerate(ok):
            first.setdefault(s.get("trial_id"), i)
        later = [s for i, s in enumerate(ok) if first.get(s.get("trial_id")) != i]
        evals = [float(s.get("eval_s") or 0.0) for s in (later or ok)][-self.RECENT_EVALS:]
        return statistics.median(evals) if evals else self.eval_seconds

    def wrap_up(self, steps: Sequence[Mapping[str, Any]]) -> float:
        """Seconds an epoch ended early at the budget's end still needs before the deadline: its validation
        pass (1.25 x the median of the latest :data:`RECENT_EVALS`) and its checkpoint (``WRAP_UP_SECONDS``)."""
        return self.WRAP_UP_SECONDS + 1.25 * self.recent_eval_seconds(steps)

    #: seconds an epoch ended early keeps for its checkpoint write and the loop around it (a checkpoint of
    #: EfficientNet-Lite0 and its AdamW moments is written in 0.06-0.1 s on the 2-core machine: schedule.json)
    WRAP_UP_SECONDS = 1.0
    #: seconds kept for the run's end besides the test evaluation: plots, leaderboard, export, card. Measured
    #: on 2 CPU cores with EfficientNet-Lite0: 1-2 s from the last epoch to the summary (product benchmark
    #: run directories); 8 s had left every small-budget run finishing 7 s early
    END_SECONDS = 4.0
    #: evaluation passes the end's test evaluation is priced by (their median). The slowest of all of them
    #: was used until 2026-12-01: a trial's first pass carries one-time costs (several times a later pass's
    #: seconds: ``eval_s`` in steps.jsonl), which the end does not pay again, so the deadline came early
    RECENT_EVALS = 3

    #: the share of its predicted seconds an epoch ended early at the deadline (and kept) must have for its
    #: training, besides its wrap-up, to be started
    ENDS_EARLY_SHARE = 0.5

    @staticmethod
    def reserve_for(eval_seconds: float, test_share: float = 1.0) -> float:
        """:meth:`reserve` when an evaluation pass takes ``eval_seconds``: ``END_SECONDS`` + twice (a margin
        for building the incumbent from its checkpoint) the test split's pass, ``test_share`` x that."""
        return Budget.END_SECONDS + 2.0 * max(0.0, eval_seconds) * max(0.0, test_share)

    def deadline(self, steps: Sequence[Mapping[str, Any]]) -> float | None:
        """Run seconds after which training stops mid-epoch (the budget less the reserve)."""
        return None if self.seconds is None else self.seconds - self.reserve(steps)

    def should_stop(self, steps: Sequence[Mapping[str, Any]], clock: Clock) -> Callable[[], bool] | None:
        """A callable the train engine polls between steps: true once the budget (less the reserve)
        is spent. None without a time budget."""
        deadline = self.deadline(steps)
        if deadline is None:
            return None
        return lambda: clock.elapsed > deadline

    def trials_reached(self) -> str:
        """The reason :meth:`stop_reason` gives when a suggestion would start a trial beyond --max-trials (the
        loop then trains the best trial started on instead)."""
        return f"--max-trials {self.max_trials} reached"

    def stop_reason(self, opt: Any, steps: Sequence[Mapping[str, Any]], clock: Clock, suggestion: Any = None,
                    in_flight: Mapping[int, int] | None = None, ends_early: bool = False) -> str | None:
        """Why the search must not start ``suggestion`` (or anything, without one); None to go on.

        ``in_flight`` ({trial_id: epochs submitted, not yet told}) counts toward --max-epochs-total
        and --max-trials, so N workers never overshoot them. ``ends_early``: the suggestion's last epoch is
        ended at the deadline and kept (the no-search fine-tune, the incumbent finishing its schedule), so it
        starts when its wrap-up (:meth:`wrap_up`) and :data:`ENDS_EARLY_SHARE` of it fit. A re-fit plans that
        epoch to end with the budget, and pricing it whole refused it for the fraction of a second the loop
        took between the plan and the start (a 2-minute digits run stopped at epoch 5 of its 6, 14 s unused)."""
        in_flight = dict(in_flight or {})
        _, pending = self.told_and_pending(opt, in_flight)
        ok_steps = [s for s in steps if s.get("status") == OK]
        n = self.new_epochs(opt, suggestion) if suggestion is not None else 0
        if self.max_epochs_total is not None:
            used = len(ok_steps) + (pending if suggestion is not None else 0)
            if used >= self.max_epochs_total:
                return f"--max-epochs-total {self.max_epochs_total} reached"
        if suggestion is not None and self.max_trials is not None:
            started = {tid for tid, st in opt.trials.items() if st.epochs or st.status != OK} | set(in_flight)
            if suggestion.trial_id not in started and len(started) >= self.max_trials:
                return self.trials_reached()
        if self.seconds is not None:
            need = self.reserve(steps)
            if suggestion is not None:
                seconds = self.suggestion_seconds(opt, steps, suggestion, n)
                if ends_early:
                    per_epoch = seconds / n
                    last = min(per_epoch, self.wrap_up(steps) + self.ENDS_EARLY_SHARE * per_epoch)
                    seconds += last - per_epoch
                need += seconds
            if clock.elapsed + need > self.seconds:
                return "budget used"
        return None
