"""Where a run's budget went: the run clock's seconds by stage (``summary.json`` ``budget_by_stage_s``).

The budget counts everything from the command's start (:class:`~hf_quicktune.run.budget.Clock`), so a user
who sees "18s used, 9s of training" should be told where the rest went. The run marks each stage as it enters
it; a stage's seconds are the clock's time until the next mark, so the stages add up to the seconds used. The
stage in progress and where it began are saved with the run's progress (``state.json`` ``stages_s``, ``stage``,
``stage_mark_s``), so a resumed run credits the stage an interrupted or killed session was in with its time up
to that session's last saved clock, then adds its own.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from hf_quicktune.run.budget import Clock

#: the stages in the order a run enters them, with the words the summary line uses
STAGES: dict[str, str] = {
    "start": "start-up",  # the command's imports, the run directory, its lock and log
    "prior_zoo": "prior and zoo",  # the first import of torch and timm falls here
    "dataset": "dataset",  # loading, the splits, the check that every image decodes
    "ranking": "ranking",
    "schedule": "schedule timing",  # the timed steps that fit the schedule to the budget
    "setup": "search setup",  # the cost model's timed steps, the pool, the optimizer, resume bookkeeping
    "search": "search",  # training, evaluation, checkpoints and the optimizer's ask/tell
    "end": "end",  # test evaluation, plots, export, card, push
}
OTHER = "other"


class StageClock:
    """Accumulates ``clock`` seconds per stage into ``progress["stages_s"]`` (saved with the run's progress)."""

    def __init__(self, clock: Clock, progress: MutableMapping[str, Any]):
        self.clock, self.progress = clock, progress
        self.seconds: dict[str, float] = {k: float(v) for k, v in (progress.get("stages_s") or {}).items()}
        progress["stages_s"] = self.seconds
        before, mark = progress.get("stage"), progress.get("stage_mark_s")
        if before in STAGES and mark is not None:  # the earlier session's last stage, to its last saved clock
            self._add(before, clock.before - float(mark))
        self._start("start", clock.before)  # this session's time starts where the earlier sessions' ended

    def _add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = round(self.seconds.get(stage, 0.0) + max(0.0, seconds), 3)

    def _start(self, stage: str, at: float) -> None:
        self.stage, self._mark = stage, at
        self.progress["stage"], self.progress["stage_mark_s"] = stage, round(at, 3)

    def enter(self, stage: str) -> None:
        """End the current stage now and start ``stage`` (one of :data:`STAGES`)."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; one of {', '.join(STAGES)}")
        now = self.clock.elapsed
        self._add(self.stage, now - self._mark)
        self._start(stage, now)

    def totals(self) -> dict[str, float]:
        """Seconds by stage until now (the current one included), in :data:`STAGES` order, with ``other``
        for what no mark covers; they add up to the clock's elapsed seconds."""
        now = self.clock.elapsed
        out = {k: self.seconds.get(k, 0.0) for k in STAGES if k in self.seconds or k == self.stage}
        out[self.stage] = out.get(self.stage, 0.0) + max(0.0, now - self._mark)
        rest = now - sum(out.values())
        if rest > 0.05:
            out[OTHER] = rest
        return {k: round(v, 2) for k, v in out.items()}


def stage_line(by_stage: Mapping[str, float], used_s: float, budget_s: float | None,
               worker_seconds: float | None = None) -> str:
    """One line for the terminal: ``18s of 90s: start-up 2.1, dataset 1.3, ..., search 10.1 (trials 9.2), end 0.6``."""
    parts = []
    for key, seconds in by_stage.items():
        label = STAGES.get(key, key)
        extra = f" (trials {worker_seconds:.1f})" if key == "search" and worker_seconds is not None else ""
        parts.append(f"{label} {seconds:.1f}{extra}")
    total = f"{used_s:.0f}s" + (f" of {budget_s:.0f}s" if budget_s else "")
    return f"{total}: " + ", ".join(parts)


def summary_stage_line(summary: Mapping[str, Any]) -> str | None:
    """:func:`stage_line` of a run's ``summary.json`` (the trials' seconds beside the search only with one worker:
    several workers' busy seconds are no share of the wall-clock); None for a run from before the stage clock."""
    by_stage = summary.get("budget_by_stage_s")
    if not by_stage:
        return None
    one = (summary.get("workers") or 1) == 1
    return stage_line(by_stage, summary.get("budget_used_s") or 0.0, summary.get("budget_s"),
                      summary.get("worker_seconds") if one else None)
