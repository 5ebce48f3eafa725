"""Local candidates (timm safetensors dirs), the pickle policy, and transformers models behind timm's API."""

from __future__ import annotations

import pytest
import torch

from hf_quicktune.errors import ZooError
from hf_quicktune.zoo import Candidate, create_model, get_candidate


@pytest.fixture(scope="module")
def saved_timm(tmp_path_factory):
    import timm
    from timm.models import save_for_hf

    torch.manual_seed(0)
    model = timm.create_model("test_efficientnet", num_classes=7).eval()
    d = tmp_path_factory.mktemp("local_timm")
    save_for_hf(model, str(d), safe_serialization=True)
    return model, d


def test_local_timm_directory(saved_timm):
    model, d = saved_timm
    cand = get_candidate(str(d))
    assert (cand.source, cand.architecture, cand.weights) == ("local", "test_efficientnet", "local")
    loaded = create_model(cand).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), atol=1e-5)  # the saved weights, head included (7 classes)
    three = create_model(cand, num_classes=3).eval()
    assert three(x).shape == (2, 3)
    assert torch.equal(three.state_dict()["conv_stem.weight"], model.state_dict()["conv_stem.weight"])


@pytest.fixture
def pickled(saved_timm, tmp_path):
    """A local checkpoint directory holding only pickled weights: (the saved model, its candidate)."""
    model, _ = saved_timm
    (tmp_path / "config.json").write_text('{"architecture": "test_efficientnet"}')
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    return model, get_candidate(str(tmp_path))


def test_pickle_checkpoint_refused_unless_allowed(pickled):
    model, cand = pickled
    with pytest.raises(ZooError, match="pickled PyTorch weights.*--allow-pickle"):
        create_model(cand)
    loaded = create_model(cand, allow_pickle=True)
    assert torch.equal(loaded.state_dict()["conv_stem.weight"], model.state_dict()["conv_stem.weight"])


def test_transformers_model_gets_timm_api(tmp_path):
    from transformers import ViTConfig, ViTForImageClassification

    cfg = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                    intermediate_size=64, num_labels=5)
    hf = ViTForImageClassification(cfg).eval()
    hf.save_pretrained(tmp_path)  # safetensors
    assert (tmp_path / "model.safetensors").is_file()
    cand = Candidate(name="tiny-vit", architecture="vit", source="local", library="transformers", path=str(tmp_path))
    model = create_model(cand).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), hf(pixel_values=x).logits, atol=1e-5)
        feats = model.forward_head(model.forward_features(x), pre_logits=True)
    assert feats.shape == (2, 32) and model.num_features == 32
    model3 = create_model(cand, num_classes=3)
    assert model3(x).shape == (2, 3) and model3.num_classes == 3


def test_allow_pickle_marks_candidates_for_every_stage(pickled):
    """--allow-pickle marks the candidates, so train/rank (which call create_model without the flag) load them."""
    from hf_quicktune.zoo import allow_pickle

    model, cand = pickled
    with pytest.raises(ZooError, match="--allow-pickle"):
        create_model(cand)
    assert allow_pickle([cand]) == [cand]
    loaded = create_model(cand)
    assert torch.equal(loaded.state_dict()["conv_stem.weight"], model.state_dict()["conv_stem.weight"])
    with pytest.raises(ZooError, match="--allow-pickle"):  # an explicit False still wins
        create_model(cand, allow_pickle=False)


def test_a_local_folder_is_described_by_its_own_config(tmp_path):
    """A transformers folder is a transformers candidate with its processor's preprocessing (it was taken for a
    timm architecture named after the folder, and refused); a timm export keeps its own pretrained_cfg; LGC
    finds a transformers model's last block (it skipped every transformers candidate)."""
    import json

    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    from hf_quicktune.rank.scores.lgc import last_block

    folder = tmp_path / "my-vit"
    ViTForImageClassification(ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                                        num_attention_heads=2, intermediate_size=64, num_labels=5)).save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3).save_pretrained(folder)
    cand = get_candidate(str(folder))
    assert (cand.library, cand.architecture, cand.source) == ("transformers", "ViTForImageClassification", "local")
    assert cand.data_config()["input_size"] == (3, 32, 32) and cand.data_config()["mean"] == (0.5, 0.5, 0.5)
    model = create_model(cand, num_classes=3)
    block = last_block(model)
    assert type(block).__name__ == "ViTLayer" and block is list(model.blocks.children())[-1]

    export = tmp_path / "export"
    export.mkdir()
    (export / "model.safetensors").write_bytes(b"")
    (export / "config.json").write_text(json.dumps({"architecture": "test_efficientnet", "pretrained_cfg": {
        "input_size": [3, 32, 32], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "crop_pct": 1.0}}))
    timm_cand = get_candidate(str(export))
    assert timm_cand.architecture == "test_efficientnet" and timm_cand.library == "timm"
    assert timm_cand.data_config()["input_size"] == (3, 32, 32) and timm_cand.data_config()["crop_pct"] == 1.0


def test_a_transformers_candidate_is_described_by_its_own_model(tmp_path):
    """The prior's model descriptor (parameters, attention share, input size, pretraining) of a transformers
    candidate: read from its config on the meta device (its class name is no timm architecture, so every feature
    fell back on the prior's means); the pretraining from its Hub id where the id names it."""
    from transformers import ViTConfig, ViTForImageClassification

    from hf_quicktune.zoo.candidate import Candidate
    from hf_quicktune.zoo.descriptors import describe_candidate

    folder = tmp_path / "my-vit"
    hf = ViTForImageClassification(ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                                             num_attention_heads=2, intermediate_size=64, num_labels=5))
    hf.save_pretrained(folder)
    attention = sum(p.numel() for m in hf.modules() if type(m).__name__ == "ViTAttention" for p in m.parameters())
    total = sum(p.numel() for p in hf.parameters())
    row = describe_candidate(get_candidate(str(folder)))
    assert row["params_m"] == pytest.approx(total / 1e6)
    assert row["attention"] == pytest.approx(attention / total) and 0.1 < row["attention"] < 0.6
    assert row["input_px"] == 32.0 and row["pretrain_images_m"] is None  # a folder name says nothing
    assert describe_candidate(get_candidate(str(folder)), image_size=64)["input_px"] == 64.0
    # a Hub id not in the cache: no facts, but its name says ImageNet-21k
    remote = Candidate(name="org/vit-tiny-patch16-224-in21k", architecture="ViTForImageClassification",
                       source="hf-hub", library="transformers", hub_id="org/vit-tiny-patch16-224-in21k")
    row = describe_candidate(remote)
    assert row["pretrain_images_m"] == 14.2 and row["attention"] is None and row["input_px"] == 224.0
