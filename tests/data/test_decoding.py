"""JPEGs decoded no larger than the transform needs (hf_quicktune.data.decoding): the size the decoder returns,
EXIF orientation, the smallest source each transform needs, and the trial's and the ranking's data paths."""

from __future__ import annotations

import io

import datasets
import numpy as np
import pytest
import torch
from PIL import Image

from hf_quicktune.data.decoding import MIN_SIDE_ATTR, decode_image, min_source_side
from hf_quicktune.data.transforms import build_transform, to_torch

LITE0 = {"input_size": (3, 224, 224), "interpolation": "bicubic", "mean": (0.5,) * 3, "std": (0.5,) * 3,
         "crop_pct": 0.875}


def _photo(size: tuple[int, int] = (800, 600), fmt: str = "JPEG", orientation: int | None = None) -> bytes:
    """A smooth colour image (a photo's low frequencies, so a reduced decode stays close to a resize)."""
    w, h = size
    x = np.linspace(0, 1, w)[None, :, None]
    y = np.linspace(0, 1, h)[:, None, None]
    pixels = (np.sin(4 * x + 3 * y + np.arange(3)) * 100 + 128).astype(np.uint8)
    buf = io.BytesIO()
    image = Image.fromarray(pixels)
    if orientation is None:
        image.save(buf, format=fmt, quality=95) if fmt == "JPEG" else image.save(buf, format=fmt)
    else:
        exif = Image.Exif()
        exif[Image.ExifTags.Base.Orientation] = orientation
        image.save(buf, format=fmt, exif=exif)
    return buf.getvalue()


def _split(entries: list[bytes]) -> datasets.Dataset:
    return datasets.Dataset.from_dict(
        {"image": [{"bytes": b, "path": None} for b in entries], "label": [i % 2 for i in range(len(entries))]},
        features=datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b"])}),
    )


class _Recorder:
    """A transform that returns the size of the image it is given, and says it needs ``min_side`` px."""

    def __init__(self, min_side: int | None = None):
        setattr(self, MIN_SIDE_ATTR, min_side)

    def __call__(self, image):
        return torch.tensor(image.size)


def test_a_large_jpeg_is_decoded_at_the_smallest_scale_that_keeps_the_side_a_transform_needs():
    entry = {"bytes": _photo((800, 600)), "path": None}
    assert decode_image(entry).size == (800, 600)  # no need given: full size
    assert decode_image(entry, 100).size == (200, 150)  # 1/4: 1/8 would make the shorter side 75 < 100
    assert decode_image(entry, 150).size == (200, 150)
    assert decode_image(entry, 151).size == (400, 300)
    assert decode_image(entry, 400).size == (800, 600)  # less than twice the need: full size
    png = {"bytes": _photo((800, 600), fmt="PNG"), "path": None}
    assert decode_image(png, 100).size == (800, 600)  # only JPEGs have DCT scaling
    picture = Image.open(io.BytesIO(_photo((800, 600))))
    buf = io.BytesIO()
    picture.save(buf, format="MPO", save_all=True, append_images=[picture])  # as phone cameras write them
    mpo = decode_image({"bytes": buf.getvalue(), "path": None}, 100)
    assert mpo.format == "MPO" and mpo.size == (200, 150)


def test_exif_orientation_is_applied_as_datasets_does(tmp_path):
    data = _photo((800, 600), orientation=6)  # rotated 90 degrees: shown 600 wide, 800 high
    reference = datasets.Image().decode_example({"bytes": data, "path": None})
    assert reference.size == (600, 800)
    assert decode_image({"bytes": data, "path": None}).size == (600, 800)
    assert decode_image({"bytes": data, "path": None}, 100).size == (150, 200)
    path = tmp_path / "rotated.jpg"
    path.write_bytes(data)
    assert decode_image({"bytes": None, "path": str(path)}, 100).size == (150, 200)  # a file, as an ImageFolder has


@pytest.mark.parametrize("size", [32, 64, 224])
def test_the_random_resized_crop_of_a_source_of_the_needed_side_never_upsamples(size):
    """build_transform's ``min_source_side`` for training: every crop timm's random resized crop draws from an
    image whose shorter side is that long is at least ``size`` wide and high (so a reduced decode loses nothing
    the resize would keep), for square and 4:3 sources; evaluation resizes the shorter side to size / crop_pct."""
    from timm.data.transforms import RandomResizedCropAndInterpolation

    train = build_transform(LITE0, train=True, image_size=size)
    side = min_source_side(train)
    crops = [t for t in train.transforms[1].transforms if isinstance(t, RandomResizedCropAndInterpolation)]
    assert len(crops) == 1
    crop = crops[0]
    torch.manual_seed(0)
    for shape in ((side, side), (side * 4 // 3, side), (side, side * 4 // 3)):
        image = Image.new("RGB", shape)
        for _ in range(300):
            _, _, h, w = crop.get_params(image, crop.scale, crop.ratio)
            assert min(h, w) >= size - 1  # rounding of the crop's sides
    evaluation = build_transform(LITE0, train=False, image_size=size)
    assert min_source_side(evaluation) >= int(size / 0.875)


def test_the_trial_data_path_decodes_no_larger_than_its_transform_needs():
    """to_torch hands the transform images decoded at the reduced scale (a recording transform that says it needs
    a 100 px side sees 200x150 images from 800x600 JPEGs); with a real evaluation transform the tensors stay
    close to those of full decoding."""
    split = _split([_photo((800, 600)) for _ in range(3)])
    recorder = _Recorder(100)
    assert [tuple(to_torch(split, recorder)[i]["pixel_values"].tolist()) for i in range(3)] == [(200, 150)] * 3
    assert tuple(to_torch(split, _Recorder())[0]["pixel_values"].tolist()) == (800, 600)  # no need said: full size
    assert split.features["image"].decode  # the split itself is unchanged

    evaluation = build_transform(LITE0, train=False, image_size=64)
    full = build_transform(LITE0, train=False, image_size=64)
    setattr(full, MIN_SIDE_ATTR, None)
    reduced, plain = to_torch(split, evaluation)[0]["pixel_values"], to_torch(split, full)[0]["pixel_values"]
    assert reduced.shape == plain.shape == (3, 64, 64)
    assert float((reduced - plain).abs().mean()) < 0.02  # normalised units (2.5 of 255 levels)


def test_the_ranking_loader_decodes_no_larger_than_its_transform_needs():
    from hf_quicktune.rank.features import image_loader

    split = _split([_photo((800, 600)) for _ in range(2)])
    sizes, labels = next(iter(image_loader(split, np.arange(2), _Recorder(100), batch_size=2)))
    assert sizes.tolist() == [[200, 150], [200, 150]]
    assert labels.tolist() == [0, 1]


def test_the_estimators_subsample_decodes_no_larger_than_its_transform_needs(monkeypatch):
    from types import SimpleNamespace

    from hf_quicktune.data import decoding
    from hf_quicktune.estimate.estimator import load_subsample

    decoded = []
    real = decoding.decode_image

    def spy(value, min_side=None):
        image = real(value, min_side)
        decoded.append((min_side, image.size))
        return image

    monkeypatch.setattr(decoding, "decode_image", spy)
    dataset = SimpleNamespace(train=_split([_photo((800, 600)) for _ in range(4)]), image_column="image",
                              label_column="label")
    candidate = SimpleNamespace(data_config=lambda: LITE0)
    images, labels = load_subsample(dataset, candidate, 4, image_size=64)
    assert images.shape == (4, 3, 64, 64) and sorted(labels.tolist()) == [0, 0, 1, 1]
    assert decoded == [(74, (100, 75))] * 4  # 64 / 0.875 -> 74 px: the 1/8 scale of 800x600 keeps 75
