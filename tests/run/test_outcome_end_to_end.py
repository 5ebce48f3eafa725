"""Through the CLI: a run where every trial fails exits non-zero with one paragraph; --min-accuracy
blocks the push; a run on a local folder publishes no path of this machine (issue 14.2-14.4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hf_quicktune.cli import main
from hf_quicktune.data import load

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
    # what the validation score was measured on: each split's size and origin, as data inspect says them
    splits = {k: len(v) for k, v in load(str(data)).splits.items()}
    assert "## Training and evaluation data\n\nDataset: `digits4` (local folder)\n\n- 4 classes: " in card
    # (TINY's --train-limit 32 trains on a random 32 of them: the card says so; its --eval-limit is over 20)
    assert (f"- train: 32 images, the dataset's 'train' split, less the held-out shares; a random 32 of its "
            f"{splits['train']} images (--train-limit 32)\n"
            f"- validation: {splits['validation']} images, held out from train: 20 % of the training images, "
            "stratified by class, seed 0\n") in card
    settings = json.loads((local / "quicktune" / "settings.json").read_text())
    assert settings["dataset"] == "local:digits4" and settings["output_dir"] == "local:local-run"
    assert json.loads((local / "quicktune" / "ranking.json").read_text())["dataset"] == "local:digits4"
    # the writers name nothing local themselves: the last line of defence (scrub_text_files) had nothing to do
    assert "removed a local path" not in err and "removed a local path" not in (out / "run.log").read_text()


def test_a_run_on_imbalanced_classes_selects_and_reports_the_metric_asked_for(tmp_path, capfd, monkeypatch):
    """`--metric balanced_accuracy` on a 4-class folder where one class holds most images: the optimizer is told
    each epoch's balanced accuracy, each trial keeps its best epoch by it, the winner is the trial best by it, and
    the summary, leaderboard, baseline, plots and card say so (top-1 reported beside it)."""
    import numpy as np

    from hf_quicktune.train import load_curve

    data = _image_folder(tmp_path / "skewed", per_class=40)
    for label in (1, 2, 3):  # keep 8 images of each other class: 40 / 8 / 8 / 8
        for extra in sorted((data / str(label)).iterdir())[8:]:
            extra.unlink()
    out = tmp_path / "run"
    two = [*TINY[:1], "scratch:test_resnet,scratch:test_efficientnet", *TINY[2:6], "--eval-limit", "64",
           *TINY[8:]]
    from hf_quicktune.train.trial import Trial

    evaluated: list[str] = []  # splits evaluated after training (the end's evaluations)
    original = Trial.evaluate

    def counted(self, split="test", *args, **kwargs):
        evaluated.append(split)
        return original(self, split, *args, **kwargs)

    monkeypatch.setattr(Trial, "evaluate", counted)
    code = main(["run", "--dataset", str(data), *two, "--pool-size", "4", "--max-epochs-total", "3", "--prior", "none",
                 "--budget", "10m", "--output-dir", str(out), "--metric", "balanced_accuracy"])
    captured = capfd.readouterr()
    err = captured.err
    assert code == 0, err[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metric"] == "balanced_accuracy"
    curves = {int(d.name): [r.to_dict() for r in load_curve(d)] for d in (out / "trials").iterdir() if d.name.isdigit()}
    best = {tid: max((r["val_balanced_accuracy"] for r in c if r["status"] == "ok"), default=None)
            for tid, c in curves.items()}
    winner = summary["best_trial"]
    assert summary["val_score"] == summary["val_balanced_accuracy"] == max(v for v in best.values() if v is not None)
    assert summary["val_score"] == best[winner]
    epochs = [r["val_balanced_accuracy"] for r in curves[winner]]
    assert summary["best_epoch"] == epochs.index(max(epochs)) + 1  # the epoch exported (checkpoints: unit tests)
    assert summary["val_top1"] == curves[winner][summary["best_epoch"] - 1]["val_top1"]  # top-1 of that epoch
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert steps and all(s["metric"] == "balanced_accuracy" for s in steps)
    assert all(s["score"] == curves[s["trial_id"]][s["epoch"] - 1]["val_balanced_accuracy"] for s in steps)
    # the majority class (40 of the 64 images, so most of the validation split) scores over half in top-1, a
    # quarter in balanced accuracy
    base = summary["baseline"]
    assert base["val_balanced_accuracy"] == 0.25 and base["val_top1"] > 0.5
    assert summary["chance"] == 0.25 and "quality: validation balanced accuracy" in err
    rows = json.loads((out / "leaderboard.json").read_text())
    assert rows[0]["trial_id"] == winner and all(r["metric"] == "balanced_accuracy" for r in rows)
    assert [r["best_val_score"] for r in rows if r["best_val_score"] is not None] == sorted(
        (r["best_val_score"] for r in rows if r["best_val_score"] is not None), reverse=True)
    assert "best balanced accuracy %" in err and "val balanced accuracy" in err  # the terminal's table and steps
    card = (out / "export" / "README.md").read_text()
    assert "the best validation balanced accuracy epoch" in card and "balanced accuracy" in card.split("## Use")[0]
    assert "- type: balanced_accuracy" in card  # the model-index lists it beside top-1
    shown = card.split("- validation top-1: ")[1].split("balanced accuracy **")[1].split(" %**")[0]
    assert np.isclose(float(shown), 100 * summary["val_score"], atol=0.01)
    # per class: the exported epoch's confusion matrix, kept in its checkpoint (validation is not evaluated again:
    # the end's budget reserve prices the test evaluation only), gives the summary's top-1 and balanced accuracy
    per_class = json.loads((out / "per_class.json").read_text())["validation"]
    assert [r["class"] for r in per_class] == ["0", "1", "2", "3"]
    n = sum(r["support"] for r in per_class)
    assert n > 0 and all(r["support"] > 0 for r in per_class)
    assert np.isclose(sum(r["correct"] for r in per_class) / n, summary["val_top1"])
    assert np.isclose(np.mean([r["recall"] for r in per_class]), summary["val_balanced_accuracy"])
    assert "weakest classes (validation recall): " in err and "validation" not in evaluated
    assert f"classify:    hf-quicktune predict {out} IMAGES_OR_FOLDERS" in captured.out  # the next command
    assert summary["plots"]["confusion_matrix"].endswith("confusion_matrix.png")
    assert (out / "export" / "plots" / "confusion_matrix.png").exists()
    assert (out / "export" / "quicktune" / "per_class.csv").exists()
    assert "### Per-class results (validation)" in card and "![confusion matrix](plots/confusion_matrix.png)" in card
