"""timm-based transforms and lazy tensor conversion."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from hf_quicktune.data import build_transform, load, to_torch
from hf_quicktune.data.transforms import auto_augment_policy
from hf_quicktune.errors import ConfigError

CFG = {"input_size": (3, 224, 224), "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5),
       "interpolation": "bicubic", "crop_pct": 0.875}


@pytest.fixture(scope="module")
def digits():
    return load("builtin:digits")


def test_eval_transform_size_and_normalisation():
    tf = build_transform(CFG, train=False, image_size=32)
    x = tf(Image.new("L", (8, 8), color=255))  # grayscale -> RGB, white -> (1 - .5) / .5 = 1
    assert x.shape == (3, 32, 32)
    assert torch.allclose(x, torch.ones_like(x), atol=1e-5)
    rgba = tf(Image.new("RGBA", (40, 30), color=(0, 0, 0, 0)))
    assert rgba.shape == (3, 32, 32) and torch.allclose(rgba, -torch.ones_like(rgba), atol=1e-5)
    # the candidate's own input size when not overridden
    assert build_transform(CFG, train=False)(Image.new("RGB", (50, 50))).shape == (3, 224, 224)


def test_augmentation_policies():
    assert auto_augment_policy(None) is None
    assert auto_augment_policy({"data_augmentation": "none"}) is None
    assert auto_augment_policy({"data_augmentation": "random_augment", "ra_num_ops": 3, "ra_magnitude": 17}).startswith("rand-m17-n3")
    assert auto_augment_policy({"data_augmentation": "auto_augment", "auto_augment": "original"}) == "original"
    assert auto_augment_policy({"data_augmentation": "trivial_augment"}).startswith("rand-n1")
    with pytest.raises(ConfigError):
        auto_augment_policy({"data_augmentation": "mixup"})
    for aug in ({"data_augmentation": "trivial_augment"}, {"data_augmentation": "auto_augment", "auto_augment": "v0"},
                {"data_augmentation": "random_augment", "ra_num_ops": 2, "ra_magnitude": 9}):
        tf = build_transform(CFG, train=True, augmentation=aug, image_size=32)
        assert "RandAugment" in repr(tf) or "AutoAugment" in repr(tf)
        assert tf(Image.new("RGB", (20, 20), color=(10, 200, 30))).shape == (3, 32, 32)


def test_train_transform_is_random():
    torch.manual_seed(0)
    tf = build_transform(CFG, train=True, image_size=32)
    img = Image.effect_noise((64, 64), 64).convert("RGB")
    assert not torch.equal(tf(img), tf(img))


def test_to_torch_is_lazy_and_collates(digits):
    tf = build_transform(CFG, train=False, image_size=32)
    ds = to_torch(digits.validation, tf)
    assert ds.column_names == ["image", "label"]  # nothing materialised, transform applied on access
    item = ds[3]
    assert isinstance(item["pixel_values"], torch.Tensor) and item["pixel_values"].shape == (3, 32, 32)
    assert item["label"] == digits.validation[3]["label"]
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=8)))
    assert batch["pixel_values"].shape == (8, 3, 32, 32)
    assert batch["label"].tolist() == digits.validation["label"][:8]


@pytest.mark.parametrize("aug", [
    {"data_augmentation": "trivial_augment"},
    {"data_augmentation": "auto_augment", "auto_augment": "v0"},
    {"data_augmentation": "random_augment", "ra_num_ops": 3, "ra_magnitude": 1},
])
def test_policies_never_fail_on_zero_bit_posterize(aug):
    """timm maps low magnitudes to posterize(bits=0), which Pillow >= 12 rejects; ours returns black."""
    import random

    import numpy as np

    from hf_quicktune.data.transforms import _posterize_safe

    black = _posterize_safe(Image.new("RGB", (4, 4), color=(200, 100, 50)), 0)
    assert np.asarray(black).max() == 0
    tf = build_transform(CFG, train=True, augmentation=aug, image_size=16)
    random.seed(0)
    torch.manual_seed(0)
    img = Image.fromarray((np.random.default_rng(0).random((8, 8, 3)) * 255).astype("uint8"))
    for _ in range(400):  # without the fix, dozens of these raise ValueError
        assert tf(img).shape == (3, 16, 16)


def test_train_crop_keeps_at_least_half_the_image_unless_overridden():
    from hf_quicktune.data.transforms import FINETUNE_CROP_SCALE

    def crop_scale(tf):
        (rrc,) = [t for t in tf.transforms[1].transforms if type(t).__name__.startswith("RandomResized")]
        return tuple(rrc.scale)

    assert crop_scale(build_transform(CFG, train=True, image_size=32)) == FINETUNE_CROP_SCALE == (0.5, 1.0)
    assert crop_scale(build_transform(CFG, train=True, image_size=32, augmentation={"scale": [0.08, 1.0]})) == (0.08, 1.0)
