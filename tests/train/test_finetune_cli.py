"""``hf-quicktune finetune``: one trial from the command line, continued by re-running."""

from __future__ import annotations

import json

import pytest

from hf_quicktune.cli import main

ARGS = ["finetune", "-d", "builtin:digits", "-m", "scratch:test_efficientnet", "--image-size", "16",
        "--train-limit", "32", "--eval-limit", "16", "--max-epochs", "2", "--lr", "0.01", "--set", "smoothing=0.1"]


def test_finetune_trains_continues_and_exports(tmp_path, capsys):
    out = tmp_path / "trial"
    assert main([*ARGS, "--epochs", "1", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "1 epoch(s) done, status ok" in printed
    assert "img/s" in printed and "status" in printed and "…" not in printed  # a log's table is not cut to 80
    assert main([*ARGS, "--epochs", "2", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "continuing" in captured.err and "2 epoch(s) done" in captured.out
    curve = [json.loads(line) for line in (out / "curve.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in curve] == [1, 2]
    trial = json.loads((out / "trial.json").read_text())
    assert trial["config"]["lr"] == 0.01 and trial["config"]["smoothing"] == 0.1
    assert trial["config"]["model"] == "scratch:test_efficientnet"
    config = json.loads((out / "model" / "config.json").read_text())
    assert config["num_classes"] == 10 and (out / "model" / "model.safetensors").exists()
    # the exported (newest) weights per class on validation: they reproduce the last epoch's top-1
    assert "weakest classes (validation recall): " in captured.out and (out / "confusion_matrix.png").exists()
    rows = json.loads((out / "per_class.json").read_text())["validation"]
    assert len(rows) == 10
    assert sum(r["correct"] for r in rows) / sum(r["support"] for r in rows) == pytest.approx(curve[-1]["val_top1"])

    import torch

    from hf_quicktune.train import load_model
    from hf_quicktune.zoo import get_candidate

    x = torch.randn(2, 3, 16, 16)
    by_candidate = load_model(out, get_candidate("scratch:test_efficientnet"), num_classes=10)
    torch.testing.assert_close(by_candidate(x), load_model(out)(x))


def test_bad_hyperparameter_is_a_user_error(tmp_path, capsys):
    code = main([*ARGS, "--set", "lr_typo=1", "-o", str(tmp_path / "x")])
    assert code == 2
    assert "'lr_typo'" in capsys.readouterr().err
    assert main([*ARGS, "--set", "nonsense", "-o", str(tmp_path / "y")]) == 2


def test_lr_stepping_is_a_finetune_option(tmp_path, capsys):
    """``--lr-stepping update`` (timm's --sched-on-updates) reaches the trial (its trial.json keeps a mode other
    than the default, and a re-run with another mode is refused like any other change of the trial); a mode
    that does not exist is a usage error."""
    out = tmp_path / "trial"
    args = [*ARGS, "--epochs", "1", "--sched", "cosine", "-o", str(out)]
    assert main([*args, "--lr-stepping", "update"]) == 0
    assert json.loads((out / "trial.json").read_text())["lr_stepping"] == "update"
    capsys.readouterr()
    assert main(args) != 0  # the default mode ("warmup") on a trial trained per update
    assert "lr_stepping" in capsys.readouterr().err
    assert main([*args, "--lr-stepping", "sometimes"]) == 2
    assert "--lr-stepping" in capsys.readouterr().err


def test_sigterm_stops_a_finetune_with_its_epochs_saved_and_exit_143(tmp_path):
    """A preempted job (Slurm, Kubernetes) gets SIGTERM: the epochs done are kept, the same command continues."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "trial"
    code = "import sys; from hf_quicktune.cli import main; sys.exit(main(sys.argv[1:]))"
    args = [*ARGS, "--max-epochs", "400", "--epochs", "400", "-o", str(out)]  # later options win
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "COLUMNS": "200"})
    curve = out / "curve.jsonl"
    deadline = time.monotonic() + 300
    while not (curve.exists() and curve.read_text().count("\n") >= 1) and proc.poll() is None:
        assert time.monotonic() < deadline, "no epoch within 300 s"
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    from hf_quicktune.train.checkpoint import latest_checkpoint_epoch

    done = latest_checkpoint_epoch(out)  # what a re-run continues from
    assert 1 <= done < 400
    assert f"terminated (SIGTERM) with {done} epoch(s) done and saved in {out}" in " ".join(err.split())
    assert "Traceback" not in err
