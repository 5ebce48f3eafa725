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
    rgba = tf(Image.new("RGBA", (40, 30), color=(0, 0, 0, 0)))  # fully transparent: laid on white
    assert rgba.shape == (3, 32, 32) and torch.allclose(rgba, torch.ones_like(rgba), atol=1e-5)
    opaque = tf(Image.new("RGBA", (40, 30), color=(0, 0, 0, 255)))
    assert torch.allclose(opaque, -torch.ones_like(opaque), atol=1e-5)
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


def _stretched(values):
    """The expected 8-bit image: ``values`` mapped linearly from their range onto 0..255."""
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    return np.rint((v - v.min()) * 255.0 / (v.max() - v.min())).astype(np.uint8)


@pytest.mark.parametrize(("dtype", "top"), [("uint16", 65535), ("uint16", 4095), ("int32", 70000), ("float32", 1.0)])
def test_high_bit_images_are_stretched_over_their_range_not_clipped(dtype, top):
    """16-bit (full or 12-bit range), 32-bit and float images: PIL's convert('RGB') clips them at 255 (white) or
    leaves [0, 1] floats black; ToRGB maps each image's own range onto 0..255."""
    import numpy as np

    from hf_quicktune.data.transforms import ToRGB

    values = np.linspace(top * 0.1, top, 16 * 16).reshape(16, 16).astype(dtype)
    image = Image.fromarray(values)
    assert image.mode in ("I;16", "I", "F")
    naive = np.asarray(image.convert("RGB"))
    assert (naive == 255).mean() > 0.9 or naive.max() <= 1  # the bug this guards against
    rgb = np.asarray(ToRGB()(image))
    assert rgb.shape == (16, 16, 3) and (rgb[..., 0] == rgb[..., 2]).all()
    np.testing.assert_array_equal(rgb[..., 0], _stretched(values))


def test_odd_high_bit_images_and_eight_bit_ones():
    import numpy as np

    from hf_quicktune.data.transforms import ToRGB, to_8bit

    constant = Image.fromarray(np.full((4, 4), 3000, dtype=np.uint16))
    assert np.asarray(ToRGB()(constant)).max() == 0  # nothing to stretch: black, not an error
    with_nan = np.array([[np.nan, 0.0], [0.5, 1.0]], dtype=np.float32)
    assert np.asarray(to_8bit(Image.fromarray(with_nan))).tolist() == [[0, 0], [128, 255]]
    assert np.asarray(to_8bit(Image.fromarray(np.full((2, 2), np.nan, dtype=np.float32)))).max() == 0
    grey = Image.fromarray(np.arange(16, dtype=np.uint8).reshape(4, 4))  # 8-bit modes are PIL's business, unchanged
    assert to_8bit(grey) is grey
    np.testing.assert_array_equal(np.asarray(ToRGB()(grey)), np.asarray(grey.convert("RGB")))


def test_a_folder_of_16_bit_pngs_reaches_the_model_as_its_images(tmp_path):
    """From disk through load() and the evaluation pipeline: a 12-bit image saved as 16-bit PNG arrives as the
    stretched image, not a white square."""
    import numpy as np

    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(6):
            Image.fromarray(rng.integers(0, 4096, (20, 20)).astype(np.uint16)).save(tmp_path / cls / f"{i}.png")
    ds = load(str(tmp_path))
    image = ds.train[0]["image"]
    assert image.mode.startswith("I")
    assert ds.info["image_mode"] == Image.open(tmp_path / "a" / "0.png").mode  # the card's usage stretches for it
    assert load("builtin:digits").info["image_mode"] in ("L", "RGB")
    tf = build_transform({**CFG, "crop_pct": 1.0, "interpolation": "nearest"}, train=False, image_size=20)
    x = tf(image)
    expected = (torch.from_numpy(_stretched(np.asarray(image)).astype(np.float32)) / 255 - 0.5) / 0.5
    assert torch.allclose(x[0], expected, atol=1e-5) and torch.equal(x[0], x[1])
    assert (x > 0.99).float().mean() < 0.05  # not saturated


def _sprite(hidden: tuple[int, int, int], red: int = 200):
    """A 16x16 RGBA sprite: an opaque red square on a transparent background whose stored (hidden) colour is
    ``hidden``, with a half-transparent blue edge."""
    import numpy as np

    pixels = np.zeros((16, 16, 4), dtype=np.uint8)
    pixels[..., :3] = hidden
    pixels[4:12, 4:12] = (red, 0, 0, 255)
    pixels[4:12, 12] = (0, 0, 255, 128)
    return Image.fromarray(pixels, mode="RGBA")


def test_transparent_parts_are_laid_on_white_whatever_colour_the_file_hides_under_them():
    """Two files of one sprite that differ only in the colours under their transparent pixels (an editor's
    leftovers, a PNG optimiser's rewrite) reach the model as one image: the background white, the half-transparent
    edge blended with it. PIL's convert('RGB') shows the hidden colours (black in one, green in the other)."""
    import numpy as np

    from hf_quicktune.data.transforms import ToRGB

    black, green = _sprite((0, 0, 0)), _sprite((0, 255, 0))
    assert not np.array_equal(np.asarray(black.convert("RGB")), np.asarray(green.convert("RGB")))  # the bug
    a, b = np.asarray(ToRGB()(black)), np.asarray(ToRGB()(green))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (16, 16, 3) and (a[0, 0] == 255).all() and tuple(a[6, 6]) == (200, 0, 0)
    assert tuple(a[6, 12]) == (127, 127, 255)  # half blue on white
    # grayscale with alpha, a palette image with a transparent index, an RGB PNG with a colour key
    la = Image.fromarray(np.stack([np.full((4, 4), 30, np.uint8), np.zeros((4, 4), np.uint8)], -1), mode="LA")
    assert (np.asarray(ToRGB()(la)) == 255).all()
    palette = Image.fromarray(np.zeros((4, 4, 3), np.uint8)).convert("P")
    palette.info["transparency"] = 0
    assert (np.asarray(ToRGB()(palette)) == 255).all()
    keyed = Image.fromarray(np.zeros((4, 4, 3), np.uint8))
    keyed.info["transparency"] = (0, 0, 0)
    assert (np.asarray(ToRGB()(keyed)) == 255).all()
    opaque = Image.fromarray(np.zeros((4, 4, 3), np.uint8))
    assert ToRGB()(opaque) is opaque  # an RGB image without transparency is passed through


def test_a_folder_of_transparent_pngs_reaches_the_model_on_white(tmp_path):
    """From disk (PNG files whose hidden colours differ) through load() and the evaluation pipeline."""

    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(6):
            _sprite((0, 0, 0) if i % 2 else (0, 255, 0), red=100 + 20 * i + (cls == "b")).save(tmp_path / cls / f"{i}.png")
    ds = load(str(tmp_path))
    assert ds.info["image_mode"] == "RGBA"  # the card's usage lays them on white too (tests/publish)
    tf = build_transform({**CFG, "crop_pct": 1.0, "interpolation": "nearest"}, train=False, image_size=16)
    for split in (ds.train, ds.validation):
        for i in range(len(split)):
            x = tf(split[i]["image"])
            assert torch.allclose(x[:, 0, 0], torch.ones(3))  # white (normalised with mean = std = 0.5)
            assert x[1, 6, 6] == -1 and x[0, 6, 6] > -1  # the opaque square kept
