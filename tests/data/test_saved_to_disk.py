"""A folder written by ``save_to_disk`` (a Dataset or a DatasetDict) loads with ``load_from_disk``: datasets' own
builders refused a saved Dataset ("use load_from_disk instead"), and the error said to name files by split."""

from __future__ import annotations

import datasets
import pytest

from hf_quicktune.data import load
from hf_quicktune.data.columns import column_values
from hf_quicktune.errors import DatasetError

from .conftest import COLOURS, make_image


def _dataset(n: int) -> datasets.Dataset:
    names = ["cat", "dog", "owl"]
    features = datasets.Features({"img": datasets.Image(), "species": datasets.ClassLabel(names=names)})
    return datasets.Dataset.from_dict(
        {"img": [make_image(COLOURS[names[i % 3]], i) for i in range(n)], "species": [i % 3 for i in range(n)]},
        features=features)


def test_a_saved_dataset_and_a_saved_dataset_dict_load(tmp_path):
    _dataset(30).save_to_disk(str(tmp_path / "one"))
    ds = load(str(tmp_path / "one"))
    assert ds.class_names == ["cat", "dog", "owl"] and ds.meta.num_train + len(ds.validation) == 30
    datasets.DatasetDict({"train": _dataset(30), "test": _dataset(9)}).save_to_disk(str(tmp_path / "dict"))
    ds = load(str(tmp_path / "dict"))
    assert ds.test is not None and sorted(column_values(ds.test, "label")) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert ds.info["format"] == "save_to_disk"


def test_a_damaged_saved_dataset_says_so(tmp_path):
    _dataset(6).save_to_disk(str(tmp_path / "one"))
    (tmp_path / "one" / "state.json").write_text("{not json")
    with pytest.raises(DatasetError, match=r"a dataset saved with save_to_disk.*load_from_disk"):
        load(str(tmp_path / "one"))
