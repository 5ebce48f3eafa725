"""Live progress of a run: a rich panel on a TTY, plain log lines otherwise.

The orchestrator hands a snapshot (plain dict) after every step; the reporter only renders it.
Inside long stages (an epoch, the zero-cost ranking) it calls ``reporter.progress(task, done, total,
images)``: a bar with images/s and ETA on a TTY, a line every :attr:`PlainReporter.interval_s` seconds otherwise.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TYPE_CHECKING, Any

from hf_quicktune.report.curves import leaderboard_rich_header, leaderboard_rich_rows
from hf_quicktune.run.settings import format_seconds
from hf_quicktune.train.metrics import metric_label

if TYPE_CHECKING:
    from rich.progress import TaskID

logger = logging.getLogger("hf_quicktune.run")


def _header(rows: list[dict[str, Any]]) -> list[str]:
    """The leaderboard's column names, its score columns named after the rows' metric."""
    return leaderboard_rich_header(next((r.get("metric") for r in rows if r.get("metric")), None))


def _budget_text(snap: dict[str, Any]) -> str:
    used = snap.get("elapsed_s", 0.0)
    budget = snap.get("budget_s")
    if budget:
        return f"{format_seconds(used)} used / {format_seconds(max(0.0, budget - used))} left of {format_seconds(budget)}"
    return f"{format_seconds(used)} used"


def _counts_text(snap: dict[str, Any]) -> str:
    c = snap.get("counts", {})
    return (f"trials: {c.get('started', 0)} started, {c.get('paused', 0)} paused, {c.get('finished', 0)} finished, "
            f"{c.get('failed', 0)} failed; {snap.get('steps', 0)} epoch-steps")


def _incumbent_text(snap: dict[str, Any], val: str = "val") -> str:
    inc = snap.get("incumbent")
    if not inc:
        return "incumbent: none yet"
    cfg = inc.get("config", {})
    hp = ", ".join(f"{k}={cfg[k]:.3g}" if isinstance(cfg.get(k), float) else f"{k}={cfg.get(k)}"
                   for k in ("lr", "batch_size", "opt", "sched") if k in cfg)
    return (f"incumbent: trial {inc['trial_id']} {inc['model']} {val} {100 * inc['score']:.2f}% "
            f"@ epoch {inc['epoch']} ({hp})")


def _new_step_lines(snap: dict[str, Any]) -> list[str]:
    """A line per epoch-step the snapshot's outcome added (``new_steps``: a job of several epochs tells them
    together; else the last step). The last line carries the budget and the incumbent: they are the
    snapshot's, taken after the whole job, so on an earlier epoch's line they would name a later epoch."""
    new = snap["new_steps"] if "new_steps" in snap else (snap.get("last_steps") or [])[-1:]
    lines = [_step_text(s) for s in new]
    if lines:
        lines[-1] += f" | {_budget_text(snap)} | {_incumbent_text(snap, _val(new[-1]))}"
    return lines


def _val(step: dict[str, Any]) -> str:
    """``val``, or ``val <metric>`` when the run selects on another metric than top-1 (the step names it)."""
    return f"val {metric_label(step['metric'])}" if step.get("metric") else "val"


def _step_text(s: dict[str, Any]) -> str:
    score = "-" if s.get("score") is None else f"{100 * s['score']:.2f}%"
    return (f"step {s['step']}: trial {s['trial_id']} ({s.get('model', '?')}) epoch {s['epoch']} "
            f"{_val(s)} {score} [{s.get('status', 'ok')}] {s.get('cost', 0.0):.1f}s")


class _Meter:
    """The current progress task's first update (time, steps and images done then): images/s and ETA from
    what it did since. Work done before that update was not timed (an epoch reports its first step when it
    has finished), so it does not count: counting it gave "1/41, ETA 0s"."""

    def __init__(self) -> None:
        self.task: str | None = None
        self.t0 = 0.0
        self.done0 = 0
        self.images0 = 0

    def update(self, task: str, done: int, total: int | None, images: int | None) -> tuple[float | None, float | None]:
        now = time.monotonic()
        if task != self.task:
            self.task, self.t0, self.done0, self.images0 = task, now, done, images or 0
        seconds = now - self.t0
        timed_images = (images or 0) - self.images0
        timed_steps = done - self.done0
        rate = timed_images / seconds if timed_images > 0 and seconds > 0 else None
        eta = seconds * (total - done) / timed_steps if total and timed_steps > 0 and done < total else None
        return rate, eta


def _progress_text(task: str, done: int, total: int | None, rate: float | None, eta: float | None) -> str:
    share = f" ({100 * done / total:.0f}%)" if total else ""
    return (f"{task}: {done}/{total if total else '?'}{share}" + (f", {rate:.0f} img/s" if rate else "")
            + (f", ETA {format_seconds(eta)}" if eta is not None else ""))


class PlainReporter:
    """Log lines (used when stdout/stderr is not a TTY, e.g. CI)."""

    #: seconds between two progress lines of a long stage (an epoch, the ranking)
    interval_s = 30.0

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self._meter = _Meter()
        self._last_line = time.monotonic()

    def progress(self, task: str, done: int, total: int | None = None, images: int | None = None) -> None:
        """Progress inside a long stage: a line once :attr:`interval_s` seconds have passed without one of any
        kind (none for quick stages; a run whose 2 s epochs print their step lines printed a stray
        "epoch 8: 1/5 (20%)" every 30 s)."""
        rate, eta = self._meter.update(task, done, total, images)
        if time.monotonic() - self._last_line >= self.interval_s and (not total or done < total):
            self._print(f"[hf-quicktune] {_progress_text(task, done, total, rate, eta)}")

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)
        self._last_line = time.monotonic()

    def message(self, text: str) -> None:
        self._print(f"[hf-quicktune] {text}")

    def step(self, snap: dict[str, Any]) -> None:
        for line in _new_step_lines(snap):
            self._print(f"[hf-quicktune] {line}")

    def leaderboard(self, rows: list[dict[str, Any]]) -> None:
        cells = leaderboard_rich_rows(rows)
        header = _header(rows)
        widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
                  for i, h in enumerate(header)]
        self._print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        for r in cells:
            self._print("  ".join(c.ljust(w) for c, w in zip(r, widths)))

    def close(self) -> None:
        pass


class RichReporter(PlainReporter):
    """A live panel: budget used/left, trial counts, the incumbent and the last few steps."""

    def __init__(self, console=None):
        from rich.console import Console
        from rich.live import Live
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.console = console or Console(stderr=True)
        self.live = Live(console=self.console, refresh_per_second=4, transient=False)
        self.live.start()
        self.messages: list[str] = []
        self._meter = _Meter()
        # rendered inside the panel (never started on its own): description, bar, n/total, images/s, ETA
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=self.console)
        self._bar_task: TaskID | None = None

    def _render(self, snap: dict[str, Any] | None):
        from rich.console import Group
        from rich.panel import Panel
        from rich.progress_bar import ProgressBar
        from rich.text import Text

        parts: list[Any] = [Text(m, style="dim") for m in self.messages[-3:]]
        if snap is not None:
            budget = snap.get("budget_s")
            if budget:
                parts.append(ProgressBar(total=budget, completed=min(budget, snap.get("elapsed_s", 0.0)), width=50))
            parts += [Text(_budget_text(snap)), Text(_counts_text(snap)),
                      Text(_incumbent_text(snap, _val((snap.get("last_steps") or [{}])[-1])), style="bold green")]
            parts += [Text("  " + _step_text(s)) for s in (snap.get("last_steps") or [])[-5:]]
        if self._bar_task is not None:
            parts.append(self.bar)
        return Panel(Group(*parts), title="hf-quicktune run", expand=False)

    def progress(self, task: str, done: int, total: int | None = None, images: int | None = None) -> None:
        rate, _ = self._meter.update(task, done, total, images)
        fields: dict[str, Any] = {"rate": f"{rate:.0f} img/s" if rate else ""}
        if self._bar_task is None or self._meter.t0 != getattr(self, "_bar_t0", None):
            if self._bar_task is not None:
                self.bar.remove_task(self._bar_task)
            self._bar_task = self.bar.add_task(task, total=total, completed=done, **fields)
            self._bar_t0 = self._meter.t0
            self.live.update(self._render(getattr(self, "_snap", None)))
        else:
            self.bar.update(self._bar_task, completed=done, total=total, **fields)

    def message(self, text: str) -> None:
        self.messages.append(text)
        self._snap = getattr(self, "_snap", None)
        self.live.update(self._render(self._snap))

    def step(self, snap: dict[str, Any]) -> None:
        self._snap = snap
        self.live.update(self._render(snap))

    def leaderboard(self, rows: list[dict[str, Any]]) -> None:
        from rich.table import Table

        table = Table(title="Leaderboard")
        for h in _header(rows):
            table.add_column(h)
        for r in leaderboard_rich_rows(rows):
            table.add_row(*r)
        self.console.print(table)

    def close(self) -> None:
        self.live.stop()


class RecordedReporter:
    """Any reporter, whose messages and step lines also go to ``run.log`` (through ``record``, a logger that
    writes only there): the terminal's rich panel keeps three messages, and a CI job's log is all a user has
    afterwards. Everything else is the wrapped reporter's."""

    def __init__(self, reporter: Any, record: logging.Logger):
        self.reporter, self.record = reporter, record

    def message(self, text: str) -> None:
        self.record.info(text)
        self.reporter.message(text)

    def step(self, snap: dict[str, Any]) -> None:
        for line in _new_step_lines(snap):
            self.record.info(line)
        self.reporter.step(snap)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.reporter, name)


def make_reporter(plain: bool | None = None):
    """A :class:`RichReporter` when stderr is a terminal (and ``plain`` is not True), else plain lines."""
    if plain is None:
        plain = not sys.stderr.isatty()
    return PlainReporter() if plain else RichReporter()
