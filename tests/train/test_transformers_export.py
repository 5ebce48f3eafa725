"""A transformers winner is exported as transformers writes it: ``AutoModelForImageClassification`` and
``AutoImageProcessor`` load it and reproduce the trained model on the training's evaluation preprocessing (the
export used to be timm-style files neither library could load)."""

from __future__ import annotations

import json

import pytest
import torch

from hf_quicktune.zoo.candidate import Candidate

TINY_VIT = {"image_size": 32, "patch_size": 8, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 64, "num_labels": 5}


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory):
    from transformers import ViTConfig, ViTForImageClassification

    folder = tmp_path_factory.mktemp("tiny-vit")
    torch.manual_seed(0)
    ViTForImageClassification(ViTConfig(**TINY_VIT)).save_pretrained(folder)
    return Candidate(name="tiny-vit", architecture="vit", source="local", library="transformers", path=str(folder),
                     input_size=(3, 32, 32))


def test_the_adapter_interpolates_position_embeddings_at_another_size(tiny_vit):
    from hf_quicktune.zoo import create_model

    model = create_model(tiny_vit, num_classes=3).eval()
    assert not model.interpolates(32) and model.interpolates(64)
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 3)  # without the flag, ViT refuses a 64 px input


def test_a_trial_of_a_transformers_model_exports_what_transformers_loads(tiny_vit, tmp_path):
    from conftest import make_dataset
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    from hf_quicktune.train import Trial, load_model
    from hf_quicktune.train.loaders import build_transforms

    data = make_dataset(num_classes=3, n_train=12, n_val=6)
    trial = Trial(tmp_path / "t", tiny_vit, {"lr": 1e-3, "batch_size": 6}, data, max_epochs=1, image_size=64,
                  num_workers=0)
    trial.advance(1)
    out = trial.export(tmp_path / "export")
    assert (out / "model.safetensors").is_file() and (out / "preprocessor_config.json").is_file()
    hf = AutoModelForImageClassification.from_pretrained(out).eval()
    processor = AutoImageProcessor.from_pretrained(out)
    assert hf.config.id2label == {0: "c0", 1: "c1", 2: "c2"} and hf.config.label2id["c2"] == 2
    # trained at 64 px, saved built for 64 px (position embeddings resampled once): no flag needed, pipeline runs it
    assert hf.config.image_size == 64 and hf.config.hf_quicktune["image_size"] == 64
    assert not hf.config.hf_quicktune["interpolate_pos_encoding"]

    image = data.splits["validation"][0]["image"]
    _, eval_tf = build_transforms(trial.data_config(), trial.config, 64)
    ours = eval_tf(image).unsqueeze(0)
    theirs = processor(image, return_tensors="pt")["pixel_values"]
    assert theirs.shape == ours.shape == (1, 3, 64, 64)
    assert (theirs - ours).abs().max() < 0.05  # the same resize + centre crop, rounded differently
    trained = load_model(tmp_path / "t", tiny_vit)
    with torch.no_grad():
        torch.testing.assert_close(hf(pixel_values=ours).logits, trained(ours), atol=1e-4, rtol=1e-4)
    from transformers import pipeline

    best = pipeline("image-classification", model=str(out))(image)[0]
    assert best["label"] == f"c{int(trained(ours).argmax())}"


def test_a_run_won_by_a_transformers_model_says_how_to_load_it(tiny_vit, tmp_path, capfd):
    from transformers import AutoModelForImageClassification

    from hf_quicktune.cli import main

    zoo = tmp_path / "zoo.yaml"
    zoo.write_text(f"candidates:\n  - {{name: tiny-vit, architecture: vit, source: local, library: transformers, "
                   f"path: {tiny_vit.path}, input_size: [3, 32, 32]}}\n")
    out = tmp_path / "run"
    assert main(["run", "--dataset", "builtin:digits", "--zoo", str(zoo), "--train-limit", "64", "--eval-limit", "32",
                 "--rank-samples", "24", "--budget", "30s", "--max-epochs-total", "1", "--image-size", "32",
                 "--output-dir", str(out)]) == 0
    assert "(+ config.json, transformers format)" in capfd.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["export_format"] == "transformers"
    card = (out / "export" / "README.md").read_text()
    assert 'AutoModelForImageClassification.from_pretrained("run/export")' in card
    assert "interpolate_pos_encoding" not in card  # trained at its own 32 px
    hf = AutoModelForImageClassification.from_pretrained(out / "export")
    assert hf.config.num_labels == 10 and hf.config.id2label[9] == "9"


@pytest.mark.hub
def test_a_transformers_winner_pushed_to_the_hub_loads_from_the_repo_its_card_names(tiny_vit, tmp_path, hub):
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    from hf_quicktune.cli import main

    zoo = tmp_path / "zoo.yaml"
    zoo.write_text(f"candidates:\n  - {{name: tiny-vit, architecture: vit, source: local, library: transformers, "
                   f"path: {tiny_vit.path}, input_size: [3, 32, 32]}}\n")
    repo = hub.unique_repo_id("tf-winner")
    assert main(["run", "--dataset", "builtin:digits", "--zoo", str(zoo), "--train-limit", "64", "--eval-limit", "32",
                 "--rank-samples", "24", "--budget", "30s", "--max-epochs-total", "1", "--image-size", "32",
                 "--output-dir", str(tmp_path / "run"), "--push-to-hub", repo]) == 0
    local = tmp_path / "pushed"
    hub.api.snapshot_download(repo, local_dir=local)
    assert f'AutoModelForImageClassification.from_pretrained("{repo}")' in (local / "README.md").read_text()
    model = AutoModelForImageClassification.from_pretrained(repo)  # through the Hub, as the card says
    processor = AutoImageProcessor.from_pretrained(repo)
    assert model.config.id2label[3] == "3" and processor.crop_size == {"height": 32, "width": 32}


def test_a_model_that_cannot_be_rebuilt_for_its_size_is_exported_with_the_interpolation_flag(tmp_path):
    """A Swin has no absolute position embeddings to resample once: it is saved at its config's size, and its
    config (and so the card and the Space) says to pass ``interpolate_pos_encoding=True``."""
    from conftest import make_dataset
    from transformers import AutoModelForImageClassification, SwinConfig, SwinForImageClassification

    from hf_quicktune.train import Trial, load_model

    folder = tmp_path / "swin"
    torch.manual_seed(0)
    SwinForImageClassification(SwinConfig(image_size=32, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[1, 1],
                                          window_size=4, num_labels=5)).save_pretrained(folder)
    swin = Candidate(name="tiny-swin", architecture="swin", source="local", library="transformers", path=str(folder),
                     input_size=(3, 32, 32))
    data = make_dataset(num_classes=3, n_train=6, n_val=3)
    trial = Trial(tmp_path / "t", swin, {"lr": 1e-3, "batch_size": 3}, data, max_epochs=1, image_size=64, num_workers=0)
    trial.advance(1)
    out = trial.export(tmp_path / "export")
    hf = AutoModelForImageClassification.from_pretrained(out).eval()
    assert hf.config.image_size == 32 and hf.config.hf_quicktune["interpolate_pos_encoding"] is True
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(hf(pixel_values=x, interpolate_pos_encoding=True).logits,
                                   load_model(tmp_path / "t", swin)(x), atol=1e-4, rtol=1e-4)
