"""Progress inside long stages: a rich bar with images/s and ETA on a TTY, periodic lines otherwise."""

from __future__ import annotations

import io

from hf_quicktune.run import progress as progress_mod
from hf_quicktune.run.progress import PlainReporter, RichReporter
from hf_quicktune.run.trials import with_progress as _with_progress


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_plain_lines_are_periodic_with_rate_and_eta(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(progress_mod.time, "monotonic", clock)
    out = io.StringIO()
    rep = PlainReporter(stream=out)
    rep.interval_s = 30.0
    rep.progress("trial 0 epoch 1", 0, 100, images=0)
    for step in range(1, 100):
        clock.now += 1.0  # one step a second, 32 images a step
        rep.progress("trial 0 epoch 1", step, 100, images=32 * step)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3  # at 30, 60 and 90 s: periodic, not one per step
    assert lines[0] == "[hf-quicktune] trial 0 epoch 1: 30/100 (30%), 32 img/s, ETA 70s"
    clock.now += 1.0
    rep.progress("trial 0 epoch 1", 100, 100, images=3200)  # the end of a stage prints no extra line
    assert len(out.getvalue().splitlines()) == 3


def test_a_stage_first_seen_after_its_first_step_gets_no_eta_from_that_untimed_step(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(progress_mod.time, "monotonic", clock)
    out = io.StringIO()
    rep = PlainReporter(stream=out)
    rep._last_line -= 60  # a line is due: the first update prints
    rep.progress("trial 0 epoch 2", 1, 41, images=32)  # the epoch's first report: one step already done
    assert out.getvalue().strip() == "[hf-quicktune] trial 0 epoch 2: 1/41 (2%)"  # no "ETA 0s", no rate
    rep.interval_s = 15.0
    for step in range(2, 33):
        clock.now += 0.5
        rep.progress("trial 0 epoch 2", step, 41, images=32 * step)
    lines = out.getvalue().splitlines()
    assert lines[1:] == ["[hf-quicktune] trial 0 epoch 2: 31/41 (76%), 64 img/s, ETA 5s"]  # 30 steps timed in 15 s


def test_a_progress_line_comes_only_after_a_silence_of_the_interval(monkeypatch):
    """Step lines and messages every few seconds (short epochs) leave no room for a progress line; a stage
    that runs 30 s without any line gets one."""
    clock = FakeClock()
    monkeypatch.setattr(progress_mod.time, "monotonic", clock)
    out = io.StringIO()
    rep = PlainReporter(stream=out)
    for epoch in range(1, 21):  # 20 epochs of 2 s, 5 steps each, a message after each
        for step in range(1, 6):
            clock.now += 0.4
            rep.progress(f"trial 0 epoch {epoch}", step, 5, images=16 * step)
        rep.message(f"step {epoch}")
    assert all("epoch" not in line for line in out.getvalue().splitlines())
    for step in range(1, 41):  # then a long stage: 40 s without another line
        clock.now += 1.0
        rep.progress("trial 0 epoch 21", step, 100, images=16 * step)
    assert out.getvalue().splitlines()[-1].startswith("[hf-quicktune] trial 0 epoch 21: 30/100 (30%)")


def test_quick_stages_print_nothing():
    out = io.StringIO()
    rep = PlainReporter(stream=out)
    for step in range(1, 11):
        rep.progress("ranking: m", step, 10, images=64 * step)
    assert out.getvalue() == ""


def test_rich_bar_shows_images_per_second_and_eta():
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=140, color_system=None)
    rep = RichReporter(console=console)
    try:
        rep.progress("trial 3 (m) epoch 2", 1, 50, images=16)
        rep.progress("trial 3 (m) epoch 2", 25, 50, images=400)
        rep.live.refresh()
    finally:
        rep.close()
    text = buf.getvalue()
    assert "trial 3 (m) epoch 2" in text and "25/50" in text and "img/s" in text
    rep2 = RichReporter(console=Console(file=io.StringIO(), force_terminal=True, width=140))
    try:
        rep2.progress("a", 1, 2)
        first = rep2._bar_task
        rep2.progress("b", 1, 4)  # a new stage replaces the bar's task instead of stacking them
        assert len(rep2.bar.tasks) == 1 and rep2._bar_task != first and rep2.bar.tasks[0].description == "b"
    finally:
        rep2.close()


def test_train_step_events_reach_the_reporter_and_the_budget_callback():
    shown, budget = [], []

    class Rep:
        def progress(self, task, done, total, images=None):
            shown.append((task, done, total, images))

    cb = _with_progress(lambda e, i: budget.append(e), Rep(), 7, {"model": "m", "batch_size": 16})
    cb("train_step", {"step": 3, "steps": 10, "epoch": 2})
    cb("epoch", {"record": None})
    assert shown == [("trial 7 (m) epoch 2", 3, 10, 48)]
    assert budget == ["train_step", "epoch"]  # the budget's callback still sees every event


def test_reporters_without_progress_keep_the_budget_callback():
    def budget(e, i):
        return None

    assert _with_progress(budget, object(), 0, {}) is budget
    assert _with_progress(None, object(), 0, {}) is None
