"""Where the budget went: the run clock's seconds by stage (hf_quicktune/run/stage_clock.py)."""

import pytest

from hf_quicktune.run.stage_clock import STAGES, StageClock, stage_line


class FakeClock:
    def __init__(self, before: float = 0.0):
        self.before, self.now = before, before

    @property
    def elapsed(self) -> float:
        return self.now


def test_stages_add_up_to_the_seconds_used_in_the_order_entered():
    clock, progress = FakeClock(), {}
    stages = StageClock(clock, progress)
    for stage, seconds in (("prior_zoo", 0.5), ("dataset", 2.0), ("ranking", 3.0), ("search", 1.5), ("end", 10.0)):
        clock.now += seconds
        stages.enter(stage)
    clock.now += 0.75  # the end, still running
    totals = stages.totals()
    assert totals == {"start": 0.5, "prior_zoo": 2.0, "dataset": 3.0, "ranking": 1.5, "search": 10.0, "end": 0.75}
    assert sum(totals.values()) == pytest.approx(clock.elapsed)
    # the closed stages and the open one are in the progress the run saves
    assert progress["stages_s"]["search"] == 10.0 and progress["stage"] == "end" and progress["stage_mark_s"] == 17.0
    with pytest.raises(ValueError, match="unknown stage 'training'"):
        stages.enter("training")


def test_a_resumed_run_credits_the_stage_the_last_session_stopped_in_and_adds_its_own():
    clock, progress = FakeClock(), {}
    first = StageClock(clock, progress)
    clock.now = 4.0
    first.enter("search")
    clock.now = 30.0  # killed in the search; the search loop had saved the clock at 30 s
    saved = {"stages_s": dict(progress["stages_s"]), "stage": progress["stage"],
             "stage_mark_s": progress["stage_mark_s"], "elapsed_s": 30.0}
    resumed_clock = FakeClock(before=saved["elapsed_s"])
    second = StageClock(resumed_clock, saved)
    resumed_clock.now = 32.0
    second.enter("dataset")
    resumed_clock.now = 33.0
    second.enter("search")
    resumed_clock.now = 40.0
    totals = second.totals()
    assert totals == {"start": 6.0, "dataset": 1.0, "search": 33.0}  # 4 + 2 / 1 / 26 + 7
    assert sum(totals.values()) == pytest.approx(resumed_clock.elapsed) and "other" not in totals


def test_time_no_saved_stage_covers_is_other():
    clock = FakeClock(before=12.0)  # a run saved before stages were recorded
    stages = StageClock(clock, {})
    clock.now = 15.0
    assert stages.totals() == {"start": 3.0, "other": 12.0}


def test_the_terminal_line_names_every_stage_and_the_trials_seconds():
    by_stage = {"start": 0.1, "prior_zoo": 2.9, "search": 18.7, "end": 0.6}
    line = stage_line(by_stage, 22.3, 90.0, worker_seconds=18.3)
    assert line == "22s of 90s: start-up 0.1, prior and zoo 2.9, search 18.7 (trials 18.3), end 0.6"
    assert stage_line({"search": 5.0}, 5.0, None) == "5s: search 5.0"
    assert set(STAGES) >= set(by_stage)
