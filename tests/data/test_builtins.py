"""Built-in datasets through the common load path: features, stratified seeded splits, meta."""

from __future__ import annotations

from collections import Counter

import datasets
import pytest

from hf_quicktune.data import load


@pytest.fixture(scope="module")
def digits():
    return load("builtin:digits")


def test_digits_structure(digits):
    assert digits.source == "builtin"
    assert set(digits.splits) == {"train", "validation"}
    assert len(digits.train) + len(digits.validation) == 1797
    for split in digits.splits.values():
        assert split.column_names == ["image", "label"]
        assert isinstance(split.features["image"], datasets.Image)
        assert isinstance(split.features["label"], datasets.ClassLabel)
    assert digits.class_names == [str(i) for i in range(10)]
    img = digits.train[0]["image"]
    assert img.size == (8, 8)
    assert digits.meta.num_train == len(digits.train)
    assert (digits.meta.num_classes, digits.meta.median_height, digits.meta.channels) == (10, 8, 1)


def test_digits_validation_is_stratified(digits):
    train = Counter(digits.train["label"])
    val = Counter(digits.validation["label"])
    for c in range(10):
        total = train[c] + val[c]
        assert abs(val[c] - 0.2 * total) <= 1, (c, val[c], total)
    assert len(digits.validation) == pytest.approx(0.2 * 1797, abs=10)


def test_split_is_seeded_and_fingerprint_stable(digits):
    again = load("builtin:digits")
    other_seed = load("builtin:digits", seed=1)
    assert again.fingerprint == digits.fingerprint
    assert again.validation["label"] == digits.validation["label"]
    assert other_seed.fingerprint != digits.fingerprint
    raw_a = digits.validation.cast_column("image", datasets.Image(decode=False))["image"]
    raw_b = other_seed.validation.cast_column("image", datasets.Image(decode=False))["image"]
    assert [r["bytes"] for r in raw_a] != [r["bytes"] for r in raw_b]


def test_test_split_on_request():
    p = load("builtin:digits", val_fraction=0.1, test_fraction=0.1, seed=3)
    assert set(p.splits) == {"train", "validation", "test"}
    sizes = {k: len(v) for k, v in p.splits.items()}
    assert sum(sizes.values()) == 1797
    assert sizes["test"] == pytest.approx(180, abs=10)
    assert set(p.test["label"]) == set(range(10))


def test_mnist5k():
    p = load("builtin:mnist5k")
    assert len(p.train) + len(p.validation) == 5000
    assert p.train[0]["image"].size == (28, 28)
    assert p.meta.median_width == 28 and p.meta.num_classes == 10
    assert len(set(p.validation["label"])) == 10
