"""Through the CLI: a run where every trial fails exits non-zero with one paragraph; --min-accuracy
blocks the push; a run on a local folder publishes no path of this machine (issue 14.2-14.4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hf_quicktune.cli import main

from .helpers import check_records

pytestmark = pytest.mark.slow

TINY = ["--zoo", "scratch:test_resnet,",  # a one-candidate list (trailing comma)
         "--image-size", "32", "--train-limit", "32", "--eval-limit", "32",
        "--rank-samples", "32", "--max-epochs", "2"]


def test_a_run_where_every_trial_fails_exits_2_with_one_paragraph(tmp_path, capfd):
    space = tmp_path / "broken-space.yaml"  # every configuration has a learning rate the engine refuses
    space.write_text("name: broken\nhyperparameters:\n  model: {type: categorical, choices: []}\n"
                     "  lr: {type: ordinal, choices: [-1.0, -2.0]}\n  batch_size: {type: ordinal, choices: [4, 8]}\n")
    out = tmp_path / "run"
    code = main(["run", "--dataset", "builtin:digits", *TINY, "--space", str(space), "--prior", "none", "--pool-size", "4",
                 "--budget", "10m", "--output-dir", str(out)])
    err = capfd.readouterr().err
    assert code == 2, err[-3000:]
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "no trial succeeded: 4 trials failed (4 failed); first error (trial" in errors[0]
    assert errors[0].count("lr") >= 1 and str(out / "run.log") in errors[0]
    # 32 scored validation images (--eval-limit) are said at the start: one image is 3.1 points of top-1
    assert "the trials are scored on 32 validation images (--eval-limit 32 of " in err and "3.1 points" in err
    # one terminal line per distinct failure (two learning rates), not one per trial
    assert sum("failed at epoch" in line for line in err.splitlines()) == 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best_model"] is None and summary["failed_trials"] == 4 and summary["error"] == errors[0][7:]
    assert not (out / "export").exists()


def _image_folder(root: Path, per_class: int = 24) -> Path:
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    for label in range(4):
        (root / str(label)).mkdir(parents=True)
        idx = np.flatnonzero(d.target == label)[:per_class]
        for i in idx:
            Image.fromarray((d.images[i] * 255 / 16).astype("uint8")).resize((32, 32)).save(root / str(label) / f"{i}.png")
    return root


@pytest.mark.hub
def test_min_accuracy_blocks_the_push_and_nothing_local_is_published(tmp_path, hub, capfd, monkeypatch):
    data = _image_folder(tmp_path / "my data" / "digits4")  # an absolute path, with a space
    out = tmp_path / "runs" / "local-run"
    repo = hub.unique_repo_id("local")
    monkeypatch.chdir(tmp_path)
    common = ["--output-dir", str(out), "--push-to-hub", repo]
    two = [*TINY[:1], "scratch:test_resnet,scratch:test_efficientnet", *TINY[2:]]  # ranked: ranking.json names it
    code = main(["run", "--dataset", str(data), *two, "--pool-size", "4", "--max-epochs-total", "2",
                 "--budget", "10m", *common, "--min-accuracy", "1.0"])
    err = capfd.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert code == 2, err[-3000:]
    assert "below --min-accuracy 1 (100.00 %). It was not pushed." in err and "Traceback" not in err
    assert "quality: validation top-1" in err and "majority-class baseline" in err  # said in the terminal
    assert summary["quality"] == {"beats_chance": summary["val_top1"] > 0.25,
                                  "beats_baseline": summary["val_top1"] > summary["baseline"]["val_top1"],
                                  "min_accuracy": 1.0, "passed": False}
    assert summary["chance_top1"] == 0.25 and summary["baseline"]["kind"] == "majority_class"
    assert summary["hub_url"] is None and not hub.api.repo_exists(repo)
    assert (out / "export" / "model.safetensors").is_file()

    # resumed with the gate lowered (applied, not dropped): the same winner is pushed
    code = main(["run", "--resume", *common, "--min-accuracy", "0"])
    err = capfd.readouterr().err
    assert code == 0, err[-3000:]
    check_records(out)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["hub_url"].endswith(repo) and summary["quality"]["passed"]

    local = tmp_path / "pushed"
    hub.api.snapshot_download(repo, local_dir=local)
    roots = {str(tmp_path), str(tmp_path.resolve()), str(data), str(out), str(Path.home())}
    files = [p for p in local.rglob("*") if p.is_file() and ".cache" not in p.parts]
    assert {"README.md", "config.json", "model.safetensors"} <= {p.name for p in files}
    for path in files:
        blob = path.read_bytes()
        leaked = [r for r in roots if r.encode() in blob]
        assert not leaked, f"{path.relative_to(local)} names {leaked}"
    card = (local / "README.md").read_text()
    assert "`digits4` (local folder)" in card and "local-dir:" not in card and "name: digits4 (local)" in card
    settings = json.loads((local / "quicktune" / "settings.json").read_text())
    assert settings["dataset"] == "local:digits4" and settings["output_dir"] == "local:local-run"
    assert json.loads((local / "quicktune" / "ranking.json").read_text())["dataset"] == "local:digits4"
    # the writers name nothing local themselves: the last line of defence (scrub_text_files) had nothing to do
    assert "removed a local path" not in err and "removed a local path" not in (out / "run.log").read_text()
