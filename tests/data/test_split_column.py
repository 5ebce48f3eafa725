"""A table whose rows say their split (hf_quicktune/data/split_column.py): a ``split`` column, fastai's
``is_valid``, FER2013's ``Usage`` (tested with its pixels in test_pixel_tables.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from hf_quicktune.data import load
from hf_quicktune.data.split_column import guess_roles
from hf_quicktune.errors import DatasetError


def _table(tmp_path: Path, write_images, extra: dict) -> Path:
    rows = write_images({"cat": 10, "dog": 10})
    table = pd.DataFrame({"file": [r[0] for r in rows], "label": [r[1] for r in rows], **extra})
    table.to_csv(tmp_path / "data.csv", index=False)
    return tmp_path / "data.csv"


def _files(split) -> set[str]:
    return {Path(p["path"]).name for p in split.cast_column("image", split.features["image"].__class__(
        decode=False))["image"]}


def test_a_split_column_keeps_the_datasets_own_held_out_rows(tmp_path: Path, write_images):
    """Was: the held-out rows were trained on and a validation split was carved from all rows."""
    split = (["train"] * 6 + ["val"] * 2 + ["test"] * 2) * 2
    path = _table(tmp_path, write_images, {"split": split})
    prepared = load(str(path))
    assert prepared.info["split_column"] == "split" and prepared.info["made_splits"] == []
    assert [len(prepared.train), len(prepared.validation), len(prepared.test)] == [12, 4, 4]
    assert _files(prepared.validation) == {"cat_6.png", "cat_7.png", "dog_6.png", "dog_7.png"}


def test_fastai_is_valid(tmp_path: Path, write_images):
    path = _table(tmp_path, write_images, {"is_valid": [i % 5 == 0 for i in range(20)]})
    prepared = load(str(path))
    assert len(prepared.validation) == 4 and len(prepared.train) == 16 and prepared.test is None
    assert _files(prepared.validation) == {"cat_0.png", "cat_5.png", "dog_0.png", "dog_5.png"}


def test_a_column_named_split_holding_no_split_names_is_left_alone(tmp_path: Path, write_images):
    path = _table(tmp_path, write_images, {"split": ["a", "b"] * 10})
    prepared = load(str(path))
    assert "split_column" not in prepared.info and prepared.info["made_splits"] == ["validation"]
    assert len(prepared.train) + len(prepared.validation) == 20


def test_two_values_of_one_role_ask_for_a_mapping(tmp_path: Path, write_images):
    path = _table(tmp_path, write_images, {"split": (["train"] * 6 + ["test_a"] * 2 + ["test_b"] * 2) * 2})
    with pytest.raises(DatasetError, match="--split test=VALUE") as err:
        load(str(path))
    assert err.value.code == "split_column"
    prepared = load(str(path), split_map={"validation": "test_a", "test": "test_b"})
    assert prepared.info["source_splits"] == {"train": "train", "validation": "test_a", "test": "test_b"}
    assert len(prepared.validation) == 4 and len(prepared.test) == 4


def test_guessed_roles():
    assert guess_roles(["Training", "PublicTest", "PrivateTest"]) == {
        "train": "Training", "validation": "PublicTest", "test": "PrivateTest"}
    assert guess_roles(["TRAIN", "Valid"]) == {"train": "TRAIN", "validation": "Valid"}
    assert guess_roles(["train", "holdout"]) is None  # 'holdout' is no split name: the column is not read as splits
    assert guess_roles(["val", "test"]) is None  # no training rows
