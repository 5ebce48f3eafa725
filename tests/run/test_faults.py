"""Fault injection: one real small run is killed (SIGKILL or SIGINT) at >= 20 seeded points spread over
its life and resumed after each (``HF_QUICKTUNE_FAULT``, hf_quicktune/faults.py), then it must finish
as if nothing happened. Also: two processes on one run directory.

The points, in the order of a run's life (each kill is a separate session of the same run):

- ``rank`` (+ a delay: the kill lands inside the zero-cost ranking) and ``rank.save`` (ranking done,
  ranking.json not written): the resumed run ranks again; nothing else exists yet.
- ``train.step:n``: mid-epoch; the unfinished epoch is lost (never recorded), the trial continues
  from its last checkpoint.
- ``checkpoint.write``: weights and training state written into a temporary folder, not renamed:
  the epoch is lost, the previous checkpoint stays the newest, no half checkpoint is ever loaded.
- ``best.write``: the best-epoch copy half written: the temporary folder is ignored and the copy is
  redone when the trial is reopened.
- ``curve.append``: the checkpoint is complete, its curve line not written: the resumed trial
  restores the line from the checkpoint (the epoch is kept, not retrained).
- ``optimizer.write``: the optimizer state written to a temporary folder, not swapped in: the older
  state loads and the run re-tells the epochs it missed from the curves.
- ``steps.append``: the optimizer knows the epoch, the steps log does not: recovered from the curves.
- ``export.write``: the export built in a temporary folder, not renamed: the resumed run finalises
  again (its search is over) and writes a complete export.
- ``push.commit``: repo created, commit not made: the resumed run pushes (one complete commit).

After every kill: curves hold epochs 1..n once, append-only files only grew, every checkpoint folder
is complete, the optimizer state loads, an export present is complete. At the end: the last session
exits 0, exactly TOTAL epochs were trained (none lost or trained twice), the optimizer state, steps
log and leaderboard agree with the trial files, and the export (the winner's best epoch) loads in
timm and is what was pushed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers import check_records, raw_curve_epochs

pytestmark = [pytest.mark.slow]

TOTAL = 24  # epoch-steps of the whole run: more than the kills can complete, so every training point is reached
ZOO = "scratch:test_resnet,scratch:test_efficientnet"  # ~0.4 M parameters each: an epoch takes about a second
ARGS = ["--dataset", "builtin:digits", "--zoo", ZOO, "--image-size", "32", "--train-limit", "32", "--eval-limit", "32",
        "--rank-samples", "32", "--pool-size", "16", "--max-epochs", "3", "--max-epochs-total", str(TOTAL),
        "--budget", "30m"]
CODE = "import sys; from hf_quicktune.cli import main; sys.exit(main(sys.argv[1:]))"

#: (point, highest occurrence to draw n from, how many kills there); the order is the run's life
TRAINING = [("train.step", 3, 3), ("checkpoint.write", 2, 3), ("best.write", 1, 2), ("curve.append", 2, 3),
            ("optimizer.write", 2, 2), ("steps.append", 2, 2)]


def fault_points(seed: int = 0) -> list[str]:
    """``HF_QUICKTUNE_FAULT`` values of every session but the last, drawn with ``seed``."""
    rng = random.Random(seed)
    points = ["rank:1:KILL:0.05", "rank.save:1:INT"]
    training = []
    for name, hi, k in TRAINING:  # every point gets both signals (in a seeded order), at seeded occurrences
        first = rng.randint(0, 1)
        training += [f"{name}:{rng.randint(1, hi)}:{('KILL', 'INT')[(first + j) % 2]}" for j in range(k)]
    rng.shuffle(training)
    # best.write happens for sure on a trial's first epoch: put those where new trials are still being started
    training.sort(key=lambda p: not p.startswith("best.write"))
    return points + training + ["export.write:1:KILL", "export.write:1:INT", "push.commit:1:KILL",
                                "push.commit:1:INT"]


def _session(out: Path, fault: str | None, first: bool, repo: str) -> subprocess.CompletedProcess:
    args = ["run", "--output-dir", str(out), "--push-to-hub", repo]
    args += ARGS if first else ["--resume"]
    env = {k: v for k, v in os.environ.items() if k != "HF_QUICKTUNE_FAULT"}
    if fault:
        env["HF_QUICKTUNE_FAULT"] = fault
    return subprocess.run([sys.executable, "-c", CODE, *args], capture_output=True, text=True, env=env, timeout=600)


def _append_only(out: Path) -> dict[str, str]:
    files = [out / "steps.jsonl", *sorted(out.glob("trials/*/curve.jsonl"))]
    return {str(p.relative_to(out)): p.read_text() for p in files if p.exists()}


def _check_after_kill(out: Path, before: dict[str, str]) -> dict[str, str]:
    from safetensors.torch import load_file

    from hf_quicktune.train import checkpoint as ckpt

    for d in sorted(out.glob("trials/*")):
        if (d / "curve.jsonl").exists():
            epochs = raw_curve_epochs(d)
            assert epochs == list(range(1, len(epochs) + 1)), f"{d.name}: curve epochs {epochs}"
        for _, path in ckpt.checkpoint_dirs(d) + ckpt.checkpoint_dirs(d, ckpt._BEST):
            assert (path / ckpt.WEIGHTS_FILE).is_file() and (path / ckpt.INFO_FILE).is_file(), path
            load_file(str(path / ckpt.WEIGHTS_FILE))
    from hf_quicktune.search.serialization import load_state

    # a complete optimizer state in optimizer/ (or, killed between the two renames, in .optimizer-old/)
    saved = [d for d in (out / "optimizer", out / ".optimizer-old") if (d / "state.json").exists()]
    for d in saved[:1]:
        load_state(d)
    if (out / "export").exists():
        assert {"model.safetensors", "config.json", "README.md"} <= {p.name for p in (out / "export").iterdir()}
    now = _append_only(out)
    for name, text in before.items():
        assert now[name].startswith(text), f"{name} lost or rewrote records"
    return now


@pytest.mark.hub
def test_killed_at_seeded_points_over_a_runs_life_resumes_to_the_same_end(tmp_path, hub):
    import timm
    import torch
    from safetensors.torch import load_file

    from hf_quicktune.train import checkpoint as ckpt

    out, repo = tmp_path / "run", hub.unique_repo_id("faults")
    points = fault_points(seed=0)
    assert len(points) >= 20
    seen: dict[str, str] = {}
    for i, fault in enumerate(points):
        t0 = time.monotonic()
        proc = _session(out, fault, first=i == 0, repo=repo)
        killed = proc.returncode == -signal.SIGKILL if fault.split(":")[2] == "KILL" else proc.returncode == 130
        assert killed, f"session {i} ({fault}) was not killed there: exit {proc.returncode}\n{proc.stderr[-3000:]}"
        assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
        seen = _check_after_kill(out, seen)
        print(f"{fault}: killed after {time.monotonic() - t0:.1f}s")
    last = _session(out, None, first=False, repo=repo)
    assert last.returncode == 0, last.stderr[-3000:]

    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert not [s for s in steps if s["status"] != "ok"], [s for s in steps if s["status"] != "ok"]
    curves = check_records(out)  # optimizer state and steps log agree with the trial files
    assert sum(len(e) for e in curves.values()) == TOTAL  # every epoch once: none lost, none retrained
    assert json.loads((out / "state.json").read_text())["sessions"] == len(points) + 1
    board = json.loads((out / "leaderboard.json").read_text())
    for row in board:
        recs = [json.loads(line) for line in (out / "trials" / f"{row['trial_id']:04d}" / "curve.jsonl")
                .read_text().splitlines()]
        vals = [r["val_top1"] for r in recs if r["status"] == "ok"]
        assert row["epochs"] == len(vals) and row["best_val_top1"] == max(vals)
        assert row["best_epoch"] == 1 + vals.index(max(vals))
    summary = json.loads((out / "summary.json").read_text())
    win = board[0]
    assert summary["best_trial"] == win["trial_id"] and summary["best_epoch"] == win["best_epoch"]
    assert summary["hub_url"].endswith(repo)

    # the export is the winner's best epoch, loads in timm, and is what the Hub holds
    epoch, best = ckpt.best_checkpoint(out / "trials" / f"{win['trial_id']:04d}")
    assert epoch == win["best_epoch"]
    model = timm.create_model(f"local-dir:{out / 'export'}", pretrained=True).eval()
    expected = load_file(str(best / ckpt.WEIGHTS_FILE))
    for name, tensor in model.state_dict().items():
        if name in expected:
            torch.testing.assert_close(tensor, expected[name])
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    pushed = hub.api.hf_hub_download(repo, "model.safetensors")
    assert Path(pushed).read_bytes() == (out / "export" / "model.safetensors").read_bytes()
    assert not list(out.glob(".*-tmp")) and not list(out.glob(".*-old"))


def test_two_runs_on_one_output_dir(tmp_path):
    """The second process refuses with a clear message; the first is not disturbed."""
    out = tmp_path / "run"
    args = ["run", "--output-dir", str(out), *ARGS[:-4], "--max-epochs-total", "4", "--budget", "30m"]
    first = subprocess.Popen([sys.executable, "-c", CODE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    deadline = time.monotonic() + 300
    while not (out / "steps.jsonl").exists():  # the first run is training
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()[1][-3000:]
        time.sleep(0.2)
    for second in (["run", "--output-dir", str(out), "--resume"], args):
        proc = subprocess.run([sys.executable, "-c", CODE, *second], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2, proc.stderr[-3000:]
        assert f"in use by another hf-quicktune run (pid {first.pid} " in proc.stderr and "Traceback" not in proc.stderr
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-3000:]
    check_records(out)
    assert json.loads((out / "summary.json").read_text())["epoch_steps"] == 4


@pytest.mark.parametrize("point", ["curve.append:2", "optimizer.write:2", "steps.append:2"])
def test_ctrl_c_between_an_epochs_records_leaves_none_untold(tmp_path, point):
    """Ctrl-C between an epoch's curve line and its step (the checkpoint written and its curve line not; the
    optimizer's state not swapped in; the steps log not appended): the stopping run tells that epoch as a resume
    would, so the steps log and the optimizer's state hold every trained epoch when it exits (they held one
    fewer until the resume)."""
    out = tmp_path / "run"
    env = {**{k: v for k, v in os.environ.items() if k != "HF_QUICKTUNE_FAULT"}, "HF_QUICKTUNE_FAULT": f"{point}:INT"}
    args = ["run", "--output-dir", str(out), *ARGS[:-4], "--max-epochs-total", "6", "--budget", "30m"]
    proc = subprocess.run([sys.executable, "-c", CODE, *args], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 130, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    from hf_quicktune.train import checkpoint as ckpt

    curves = check_records(out)  # no epoch untold: the optimizer's state and the steps log agree with the curves
    assert sum(len(e) for e in curves.values()) >= 1
    for d in sorted(out.glob("trials/*")):  # every checkpointed epoch is on its curve (curve.append: restored)
        saved = [epoch for epoch, _ in ckpt.checkpoint_dirs(d)]
        assert not saved or max(saved) == len(curves.get(int(d.name), [])), (d.name, saved, curves)
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert f"interrupted after {len(steps)} epoch-steps" in proc.stderr
