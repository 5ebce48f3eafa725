"""`accelerate launch` compatibility: two CPU processes (gloo) run one trial; the main process alone
writes the curve and the export, and prints the summary once."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_finetune_under_accelerate_launch_with_two_processes(tmp_path):
    out = tmp_path / "trial"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "-m", "hf_quicktune.cli", "finetune", "-d", "builtin:digits", "-m", "scratch:mobilenetv3_small_050",
           "--lr", "1e-3", "--epochs", "2", "--image-size", "32", "--train-limit", "64", "--eval-limit", "64",
           "-o", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for line in (out / "curve.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]  # one record per epoch, not one per process
    assert all(r["status"] == "ok" for r in records)
    assert (out / "model" / "model.safetensors").is_file()
    assert proc.stdout.count("epoch(s) done") == 1  # the summary is printed by the main process only
