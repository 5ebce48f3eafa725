"""`hf-quicktune demo`: the real offline pipeline within its budget (+20 %), everything it promises on disk."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow


def test_demo_runs_offline_within_budget(tmp_path):
    out = tmp_path / "quicktune-demo"
    env_code = "import sys; from hf_quicktune.cli import main; sys.exit(main(sys.argv[1:]))"
    t0 = time.monotonic()
    # from a fresh working directory, default output dir (./quicktune-demo), no network
    proc = subprocess.run([sys.executable, "-c", env_code, "demo"], capture_output=True, cwd=tmp_path,
                          text=True, timeout=600, env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    wall = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert wall <= 180 * 1.2, f"demo took {wall:.0f}s for a 180s budget"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"] == "builtin:digits" and summary["zoo"] == "offline"
    assert summary["budget_used_s"] <= 180 * 1.2
    assert summary["epoch_steps"] >= 3 and summary["best_model"]
    # meta-learned by default: the shipped prior, its learnt initial epochs (capped at half of --max-epochs 10)
    from hf_quicktune.meta.priors import DEFAULT, resolve_prior

    assert summary["prior"].startswith(DEFAULT)
    from hf_quicktune.meta.priors import prior_initial_epochs

    assert summary["initial_epochs"] == prior_initial_epochs(resolve_prior("default")[0], 10)
    assert DEFAULT in (out / "export" / "README.md").read_text()
    board = json.loads((out / "leaderboard.json").read_text())
    assert board and board[0]["trial_id"] == summary["best_trial"]
    for p in ("export/model.safetensors", "export/config.json", "export/README.md", "plots/learning_curves.png",
              "plots/incumbent_over_time.png", "leaderboard.csv"):
        assert (out / p).is_file(), p
    # it says where the model, card and plots are
    for needle in ("export/model.safetensors", "export/README.md", "learning_curves.png"):
        assert needle in proc.stdout
    print(f"\ndemo: {wall:.1f}s wall, {summary['epoch_steps']} epoch-steps, {summary['trials']} trials, "
          f"best {summary['best_model']} val {summary['val_top1']:.4f}\n" + (out / "leaderboard.csv").read_text())
