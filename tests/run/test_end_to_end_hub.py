"""End to end against the local Hub: dataset on the Hub -> `hf-quicktune run --push-to-hub` -> the
published model loads with `timm.create_model("hf-hub:...")` and re-evaluates to the card's accuracy."""

from __future__ import annotations

import json

import pytest

from hf_quicktune.cli import main

from .helpers import SMALL, check_records, digits_datasetdict

pytestmark = [pytest.mark.slow, pytest.mark.hub]


def _accuracy(model, split, transform) -> float:
    import torch

    correct = 0
    with torch.no_grad():
        for start in range(0, len(split), 64):
            batch = split[start:start + 64]
            x = torch.stack([transform(img.convert("RGB")) for img in batch["image"]])
            correct += int((model(x).argmax(-1) == torch.tensor(batch["label"])).sum())
    return correct / len(split)


def test_run_pushes_a_model_that_timm_loads_with_the_cards_accuracy(hub, tmp_path, capfd, monkeypatch):
    import timm
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard_data import model_index_to_eval_results
    from timm.data import create_transform, resolve_data_config

    from hf_quicktune.data import load

    digits_datasetdict().push_to_hub("org/digits-mini", token=hub.token)
    out = tmp_path / "run"
    code = main(["run", "--dataset", "org/digits-mini", "--budget", "10m", "--max-epochs-total", "3", *SMALL,
                 "--output-dir", str(out), "--push-to-hub", "qt-org/result", "--json"])
    captured = capfd.readouterr()
    assert code == 0, captured.err[-3000:]
    summary = json.loads(captured.out)
    assert summary["hub_url"].endswith("qt-org/result") and summary["epoch_steps"] == 3
    commit = hub.api.dataset_info("org/digits-mini").sha
    assert summary["dataset_commit"] == commit and "dataset_drawn_files" not in summary  # read whole, pinned
    assert summary["dataset_drawn_rows"] == {"train": [144, 200]}  # --train-limit 96: 1.5 x 96 of its 200 kept
    check_records(out)

    # everything the run promises is in the output dir
    for name in ("settings.json", "ranking.json", "pool.json", "optimizer/state.json", "steps.jsonl",
                 "leaderboard.csv", "leaderboard.json", "plots/learning_curves.png", "plots/incumbent_over_time.png",
                 "export/model.safetensors", "export/config.json", "export/README.md", "export/quicktune/curves.json",
                 "export/quicktune/leaderboard.csv", "summary.json", "run.log"):
        assert (out / name).is_file(), name
    files = {f.rfilename for f in hub.api.model_info("qt-org/result", files_metadata=False).siblings}
    assert {"model.safetensors", "config.json", "README.md", "quicktune/curves.json", "quicktune/curves.csv",
            "quicktune/leaderboard.json", "plots/learning_curves.png"} <= files
    commits = hub.api.list_repo_commits("qt-org/result")
    assert len([c for c in commits if "hf-quicktune" in c.title]) == 1  # one commit holds everything

    # the card: strict metadata, validated by the Hub's own endpoint
    card = ModelCard.load("qt-org/result", ignore_metadata_errors=False)
    card.validate()
    assert card.data.library_name == "timm" and card.data.pipeline_tag == "image-classification"
    assert card.data.datasets == ["org/digits-mini"]
    assert set(card.data.tags) >= {"hf-quicktune", "image-classification", "timm"}
    _, results = model_index_to_eval_results(card.data.to_dict()["model-index"])
    card_acc = {r.dataset_split: r.metric_value for r in results}
    assert set(card_acc) == {"validation", "test"} and {r.dataset_revision for r in results} == {commit}

    # the published model, loaded by timm alone, reproduces the card's accuracies
    model = timm.create_model("hf-hub:qt-org/result", pretrained=True).eval()
    assert model.pretrained_cfg["label_names"] == [str(i) for i in range(10)]
    assert model.pretrained_cfg["input_size"] == (3, 32, 32)
    transform = create_transform(**resolve_data_config({}, model=model))
    ds = load("org/digits-mini")
    for split in ("validation", "test"):
        acc = _accuracy(model, ds.splits[split], transform)
        assert acc == pytest.approx(card_acc[split], abs=1.01 / len(ds.splits[split])), split
    assert card_acc["test"] == pytest.approx(summary["test_top1"], abs=1e-6)
    # its stats as timm's cards give them: the loaded model's parameters, one forward pass at 32 px
    from hf_quicktune.zoo.forward_cost import forward_cost

    cost = forward_cost(model.pretrained_cfg["architecture"], 32, None, 10)
    assert f"- Params (M): {sum(p.numel() for p in model.parameters()) / 1e6:.1f}\n" in card.text
    assert f"- GMACs: {cost.gflops / 2:.2f}\n- Activations (M): {cost.activations_m:.1f}\n" in card.text
    assert "- Image size: 32 x 32\n" in card.text

    # the Space app (space/app.py, gradio not needed for its model code) serves the local export
    import importlib.util
    from pathlib import Path

    monkeypatch.setenv("QUICKTUNE_MODEL", str(out / "export"))
    spec = importlib.util.spec_from_file_location("space_app", Path(__file__).parents[2] / "space" / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    image = ds.splits["test"][0]["image"]
    probs = app.predict(image)
    assert len(probs) == 5 and set(probs) <= set(model.pretrained_cfg["label_names"])
    assert 0.0 < sum(probs.values()) <= 1.0 + 1e-6

    # the token appears nowhere: output dir, captured output, pushed card
    token = hub.token.encode()
    leaks = [p for p in out.rglob("*") if p.is_file() and token in p.read_bytes()]
    assert not leaks, leaks
    assert hub.token not in captured.out + captured.err
    assert hub.token not in str(card)


def test_push_failure_keeps_the_run_and_names_the_export(hub, tmp_path, capfd, monkeypatch):
    """A push refused at the end (a token revoked during the run): exit 2, one message with the local export path,
    no token, no traceback. (A token that is bad from the start fails at start-up: tests/run/test_startup_checks.py.)"""
    out = tmp_path / "run"
    secret = "hf_wrongTOKEN_abcdefabcdef0123"
    monkeypatch.setenv("HF_TOKEN", secret)
    monkeypatch.setattr("hf_quicktune.hub.check_write_access", lambda *a, **k: "ok at start-up")
    monkeypatch.setattr("hf_quicktune.hub.time.sleep", lambda s: None)
    code = main(["run", "--dataset", "builtin:digits", "--max-epochs-total", "1", *SMALL, "--output-dir", str(out),
                 "--push-to-hub", "org/refused"])
    captured = capfd.readouterr()
    assert code == 2
    assert f"{out / 'export'}" in captured.err and "Traceback" not in captured.err
    assert secret not in captured.out + captured.err
    assert not [p for p in out.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert (out / "export" / "model.safetensors").is_file()
    assert "push_error" in json.loads((out / "summary.json").read_text())
