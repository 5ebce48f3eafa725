"""timm, datasets and transformers publish to and load from the local Hub (tests/hubserver)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.hub


def test_timm_push_to_hf_hub_then_create_model_gives_identical_weights(hub):
    import timm
    import torch
    from timm.models import push_to_hf_hub

    repo_id = hub.unique_repo_id("timm")
    torch.manual_seed(0)
    model = timm.create_model("test_efficientnet", pretrained=False, num_classes=4)
    push_to_hf_hub(model, repo_id, model_config={"num_classes": 4})

    loaded = timm.create_model(f"hf-hub:{repo_id}", pretrained=True)
    expected, got = model.state_dict(), loaded.state_dict()
    assert list(expected) == list(got)
    for name, tensor in expected.items():
        assert torch.equal(tensor, got[name]), name
    info = hub.api.model_info(repo_id)
    assert info.library_name == "timm"
    assert info.pipeline_tag == "image-classification"
    assert {"model.safetensors", "config.json", "README.md"} <= {s.rfilename for s in info.siblings}
    # parameter count read from the safetensors header
    assert info.safetensors.total == sum(t.numel() for t in expected.values())


def test_datasets_push_to_hub_then_load_dataset_gives_same_rows_and_features(hub):
    import numpy as np
    from datasets import ClassLabel, Dataset, Features, load_dataset
    from datasets import Image as ImageFeature
    from PIL import Image

    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (12, 10, 3), dtype=np.uint8) for _ in range(7)]
    labels = [0, 1, 2, 1, 0, 2, 2]
    features = Features({"image": ImageFeature(), "label": ClassLabel(names=["cat", "dog", "fox"])})
    ds = Dataset.from_dict({"image": [Image.fromarray(a) for a in arrays], "label": labels}, features=features)
    repo_id = hub.unique_repo_id("ds")
    ds.push_to_hub(repo_id)

    loaded = load_dataset(repo_id)
    assert list(loaded) == ["train"]
    train = loaded["train"]
    assert train.features == features
    assert train["label"] == labels
    for row, array in zip(train, arrays):
        assert np.array_equal(np.asarray(row["image"].convert("RGB")), array)
    info = hub.api.dataset_info(repo_id)
    assert "format:parquet" in info.tags
    assert info.card_data["dataset_info"]["features"][1]["name"] == "label"


def test_transformers_push_to_hub_then_from_pretrained(hub):
    import torch
    from transformers import (
        AutoImageProcessor,
        AutoModelForImageClassification,
        ViTConfig,
        ViTForImageClassification,
        ViTImageProcessor,
    )

    repo_id = hub.unique_repo_id("vit")
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1,
                       num_attention_heads=2, intermediate_size=64, num_labels=3)
    torch.manual_seed(0)
    model = ViTForImageClassification(config)
    model.push_to_hub(repo_id)
    ViTImageProcessor(size={"height": 32, "width": 32}).push_to_hub(repo_id)

    loaded = AutoModelForImageClassification.from_pretrained(repo_id)
    processor = AutoImageProcessor.from_pretrained(repo_id)
    expected, got = model.state_dict(), loaded.state_dict()
    assert set(expected) == set(got)
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    assert processor.size == {"height": 32, "width": 32}
    assert len(hub.api.list_repo_commits(repo_id)) == 3  # initial commit + model + processor
