"""Fixtures of the train-engine tests: a tiny learnable image dataset and tiny timm models."""

from __future__ import annotations

import numpy as np
import pytest


def make_dataset(num_classes: int = 3, n_train: int = 24, n_val: int = 12, size: int = 16, seed: int = 0,
                 with_test: bool = True):
    """Images whose class is the brightest colour channel/quadrant (learnable in a few steps)."""
    import datasets
    from PIL import Image

    from hf_quicktune.data.types import DatasetMeta, PreparedDataset

    rng = np.random.default_rng(seed)

    def split(n):
        images, labels = [], []
        for i in range(n):
            label = i % num_classes
            arr = rng.integers(0, 90, size=(size, size, 3)).astype(np.uint8)
            arr[..., label % 3] += 140
            if num_classes > 3:  # classes beyond three also differ by which half is bright
                half = (label // 3) % 2
                arr[half * size // 2:(half + 1) * size // 2] //= 3
            images.append(Image.fromarray(arr))
            labels.append(label)
        features = datasets.Features({"image": datasets.Image(),
                                      "label": datasets.ClassLabel(names=[f"c{k}" for k in range(num_classes)])})
        return datasets.Dataset.from_dict({"image": images, "label": labels}, features=features)

    splits = {"train": split(n_train), "validation": split(n_val)}
    if with_test:
        splits["test"] = split(n_val)
    meta = DatasetMeta(num_train=n_train, num_classes=num_classes, median_height=size, median_width=size, channels=3)
    return PreparedDataset(name="tiny", splits=datasets.DatasetDict(splits), fingerprint=f"tiny-{seed}",
                           meta=meta, source="builtin")


class TinyModel:
    """A picklable factory of a small timm model (random init, deterministic under the seed)."""

    def __init__(self, arch: str = "test_efficientnet"):
        self.arch = arch
        self.__name__ = arch

    def __call__(self, num_classes: int, drop_rate: float = 0.0):
        import timm

        return timm.create_model(self.arch, pretrained=False, num_classes=num_classes, drop_rate=drop_rate)


@pytest.fixture(scope="session")
def tiny_dataset():
    return make_dataset()


@pytest.fixture
def tiny_model():
    return TinyModel()
