"""--resume after real interruptions: a run subprocess is killed at several points (SIGKILL while
ranking, SIGINT between epochs, SIGKILL in the middle of an epoch) and resumed each time. The final
records must hold every epoch exactly once: none re-trained, none lost, and the budget accounting
must continue across sessions."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers import SMALL, check_records

pytestmark = pytest.mark.slow

TOTAL = 5  # --max-epochs-total: a deterministic stop, so the resumed run must end with exactly 6 epochs


def _cmd(out: Path, resume: bool) -> list[str]:
    args = ["run", "--output-dir", str(out)]
    if resume:
        return [*args, "--resume"]
    return [*args, "--dataset", "builtin:digits", "--max-epochs-total", str(TOTAL), "--budget", "30m", *SMALL,
            "--max-epochs", "2", "--train-limit", "48", "--eval-limit", "64"]  # later options win: smaller epochs


def _start(out: Path, resume: bool) -> subprocess.Popen:
    code = "import sys; from hf_quicktune.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen([sys.executable, "-c", code, *_cmd(out, resume)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))


def _wait_for(proc, cond, timeout=400.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return True
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"run exited early ({proc.returncode}):\n{err[-3000:]}")
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("timed out waiting for the run")


def _n_steps(out: Path) -> int:
    p = out / "steps.jsonl"
    return sum(1 for line in p.read_text().splitlines() if line.endswith("}")) if p.exists() else 0


def _snapshot(out: Path) -> dict[str, str]:
    """Contents of the append-only records (each must be a prefix of the final file)."""
    files = [out / "steps.jsonl", *sorted((out / "trials").glob("*/curve.jsonl"))] if (out / "trials").exists() else []
    return {str(p.relative_to(out)): p.read_text() for p in files if p.exists()}


def test_resume_after_sigkill_and_sigint_loses_and_retrains_nothing(tmp_path):
    out = tmp_path / "run"

    # 1. SIGKILL while ranking (settings written, no step yet)
    proc = _start(out, resume=False)
    _wait_for(proc, lambda: (out / "settings.json").exists())
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _n_steps(out) == 0

    # 2. resume; SIGINT (Ctrl-C) once 2 epochs are recorded
    proc = _start(out, resume=True)
    _wait_for(proc, lambda: _n_steps(out) >= 2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "--resume" in err and "Traceback" not in err
    before_sigkill_session = _snapshot(out)
    n_after_int = _n_steps(out)
    used_after_int = json.loads((out / "state.json").read_text())["elapsed_s"]
    # Ctrl-C lands where it lands; between an epoch's curve line and its step, the stopping run tells that epoch
    check_records(out)

    # 3. resume; SIGKILL in the middle of the next epoch (after one more epoch is recorded)
    proc = _start(out, resume=True)
    _wait_for(proc, lambda: _n_steps(out) >= n_after_int + 1)
    time.sleep(1.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    snap_kill = _snapshot(out)
    check_records(out, just_killed=True)

    # 4. resume to the end
    proc = _start(out, resume=True)
    stdout, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]

    check_records(out)
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert sum(s["status"] == "ok" for s in steps) == TOTAL  # exactly TOTAL epochs trained overall
    final = _snapshot(out)
    for snap in (before_sigkill_session, snap_kill):
        for name, text in snap.items():
            assert final[name].startswith(text), f"{name} lost or rewrote records"
    progress = json.loads((out / "state.json").read_text())
    assert progress["sessions"] == 4 and progress["finished"]
    assert progress["elapsed_s"] > used_after_int
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epoch_steps"] == TOTAL and summary["stop_reason"].startswith("--max-epochs-total")
    assert (out / "export" / "model.safetensors").is_file()
    # run.log keeps the progress lines of every session, as the terminal showed them
    log = (out / "run.log").read_text()
    assert log.count("starting run in") == 1 and log.count("resuming run in") == 3
    assert "interrupted after" in log and "search stopped: --max-epochs-total" in log
    # the last session's epoch-steps have their progress lines, but those it recovered from curves written just
    # before the SIGKILL of 3. (which can land after the next epoch, before its line), which it says it recovered
    lines = {int(n) for n in re.findall(r"step (\d+): trial", log)}
    recovered = sum(int(n) for n in re.findall(r"recovered (\d+) epoch-steps", log))
    at_kill = len(snap_kill.get("steps.jsonl", "").splitlines())
    assert set(range(at_kill + recovered + 1, TOTAL + 1)) <= lines <= set(range(1, TOTAL + 1)), (lines, recovered)
    assert "| incumbent: trial" in log


def test_sigterm_stops_like_ctrl_c_and_counts_the_time_since_the_last_epoch(tmp_path):
    """Slurm's and Kubernetes' preemption send SIGTERM: Python's default ended the process on the spot (exit -15,
    no word, the time since the last saved epoch not counted against the budget)."""
    out = tmp_path / "run"
    proc = _start(out, resume=False)
    _wait_for(proc, lambda: _n_steps(out) >= 1)
    saved = json.loads((out / "state.json").read_text())["elapsed_s"]
    time.sleep(2.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    assert "terminated (SIGTERM) after" in err and f"--output-dir {out} --resume" in err and "Traceback" not in err
    assert "terminated (SIGTERM) after" in (out / "run.log").read_text()
    assert json.loads((out / "state.json").read_text())["elapsed_s"] >= saved + 2.0
    check_records(out)  # as after Ctrl-C: no epoch left untold
