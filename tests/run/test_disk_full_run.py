"""A full disk in the middle of a run stops it with one paragraph (exit 2), fails no configuration, and a resume
once there is space continues it (the checkpoint writer's side: tests/train/test_disk_full.py)."""

from __future__ import annotations

import errno
import json

from .helpers import SMALL


def test_a_full_disk_stops_the_run_without_failing_the_trial_and_a_resume_continues(tmp_path, monkeypatch, capsys):
    from hf_quicktune.cli import main
    from hf_quicktune.train import checkpoint

    out = tmp_path / "run"
    args = ["run", "--dataset", "builtin:digits", *SMALL, "--max-epochs-total", "2", "--budget", "30m",
            "--output-dir", str(out)]
    real = checkpoint.torch.save

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", full)
    assert main(args) == 2
    err = capsys.readouterr().err
    (line,) = [x for x in err.splitlines() if x.startswith("Error: ")]
    assert f"could not write {out / 'trials'}" in line and "(No space left on device;" in line
    assert f"continue with hf-quicktune run --output-dir {out} --resume" in line and "Traceback" not in err
    steps = (out / "steps.jsonl").read_text() if (out / "steps.jsonl").exists() else ""
    assert "failed" not in steps  # no configuration was marked failed for the disk's sake
    assert not list(out.glob("trials/*/.tmp-checkpoint-*"))

    monkeypatch.setattr(checkpoint.torch, "save", real)  # space freed
    assert main(["run", "--output-dir", str(out), "--resume"]) == 0
    records = [json.loads(x) for x in (out / "steps.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records] == ["ok", "ok"]
    assert json.loads((out / "summary.json").read_text())["epoch_steps"] == 2
