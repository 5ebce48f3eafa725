"""A Space search: the run's own reporter events reach the page, Stop leaves a resumable run, Finish now exports it."""

from __future__ import annotations

import sys
import time

import pytest

from .conftest import SPACE_DIR, TINY

sys.path.insert(0, str(SPACE_DIR))
from qt_space import jobs  # noqa: E402

pytestmark = pytest.mark.slow


def _wait(predicate, timeout: float = 300.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.2)


def test_stop_leaves_a_resumable_run_and_finish_now_exports_it(tmp_path, monkeypatch):
    from hf_quicktune.run.state import RunState

    monkeypatch.setenv("QUICKTUNE_SPACE_DIR", str(tmp_path))
    values = {k: v for k, v in TINY.items() if k != "max_epochs_total"} | {"budget": "10m"}
    job = jobs.Job(values)
    job.start()
    try:
        _stop_resume_finish(job, RunState)
    finally:
        job.request_stop()
        job.join(120)


def _stop_resume_finish(job, RunState) -> None:
    # the reporter sees the run's events: messages, then the training progress of the first trial
    _wait(lambda: (job.reporter.task or "").startswith("trial ") or not job.running)
    assert any("ranking" in m for m in job.reporter.messages)
    _wait(lambda: RunState(job.dir).steps() or not job.running)  # at least one epoch is told
    assert job.running, job.error
    job.request_stop()
    job.join(120)
    assert job.state == "stopped" and not job.running
    told = RunState(job.dir).steps()
    assert told and not (job.dir / "summary.json").exists()
    assert job.reporter.steps  # the page got the step events
    assert any("interrupted" in m and "--resume" in m for m in job.reporter.messages)

    # a reloaded page finds the stopped run from its files
    again = jobs.Job.from_disk(job.name)
    assert again.state == "stopped" and again.values["dataset"] == TINY["dataset"]

    # Finish now: resume without training more, export what the run has
    job.start(resume=True, finish_now=True)
    job.join(300)
    assert job.state == "finished", job.error
    assert job.summary["epoch_steps"] == len([s for s in told if s.get("status", "ok") == "ok"])
    assert (job.dir / "export" / "model.safetensors").is_file()
    assert jobs.Job.from_disk(job.name).state == "finished"
