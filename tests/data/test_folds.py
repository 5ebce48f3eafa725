"""A training table's cross-validation folds (hf_quicktune/data/folds.py): a notebook's ``train_folds.csv`` with a
``kfold`` column holds out one fold as validation instead of a random share."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from hf_quicktune.data import load
from hf_quicktune.errors import DatasetError


def _table(tmp_path: Path, write_images, extra: dict, name: str = "train_folds.csv") -> Path:
    rows = write_images({"cat": 10, "dog": 10})
    table = pd.DataFrame({"file": [r[0] for r in rows], "label": [r[1] for r in rows], **extra})
    table.to_csv(tmp_path / name, index=False)
    return tmp_path / name


def _files(split) -> set[str]:
    return {Path(p["path"]).name for p in split.cast_column("image", split.features["image"].__class__(
        decode=False))["image"]}


FOLDS = [i % 5 for i in range(10)] * 2  # cat_0 and cat_5 (dog_0, dog_5) in fold 0, ...


def test_one_fold_validates_and_the_others_train(tmp_path: Path, write_images, caplog):
    """Was: the kfold column was ignored and 20 % of the rows carved at random (across the notebook's folds)."""
    path = _table(tmp_path, write_images, {"kfold": FOLDS})
    with caplog.at_level(logging.WARNING):
        prepared = load(str(path))
    assert prepared.info["fold_column"] == "kfold" and prepared.info["made_splits"] == []
    assert prepared.info["source_splits"] == {"train": "kfold != 0", "validation": "kfold == 0"}
    assert _files(prepared.validation) == {"cat_0.png", "cat_5.png", "dog_0.png", "dog_5.png"}
    assert len(prepared.train) == 16 and prepared.test is None
    assert "kfold" not in prepared.train.column_names  # not a feature, nor a label candidate
    assert "fold 0 of column 'kfold' (5 folds) is the validation split" in caplog.text


@pytest.mark.parametrize("written", [[f"fold_{f}" for f in FOLDS], [float(f) for f in FOLDS], [f"F{f}" for f in FOLDS]])
def test_folds_written_as_text_or_whole_floats_are_folds(tmp_path: Path, write_images, written):
    """A notebook's "fold_3" strings, or pandas' 3.0 (a column that once held a gap): was read as no folds, and a
    random 20 % held out across them."""
    prepared = load(str(_table(tmp_path, write_images, {"fold": written})))
    assert prepared.info["fold_column"] == "fold"
    assert _files(prepared.validation) == {"cat_0.png", "cat_5.png", "dog_0.png", "dog_5.png"}
    assert "fold" not in prepared.train.column_names


def test_split_names_the_folds_to_hold_out(tmp_path: Path, write_images):
    path = _table(tmp_path, write_images, {"fold": [f + 1 for f in FOLDS]})  # ESC-50's 1-5
    prepared = load(str(path), split_map={"validation": "3", "test": "5"})
    assert prepared.info["source_splits"] == {"train": "fold not in (3, 5)", "validation": "fold == 3",
                                              "test": "fold == 5"}
    assert _files(prepared.validation) == {"cat_2.png", "cat_7.png", "dog_2.png", "dog_7.png"}
    assert _files(prepared.test) == {"cat_4.png", "cat_9.png", "dog_4.png", "dog_9.png"}
    assert len(prepared.train) == 12
    with pytest.raises(DatasetError, match=r"--split validation=0: the fold column 'fold' has folds 1, 2, 3, 4, 5"):
        load(str(path), split_map={"validation": "0"})
    with pytest.raises(DatasetError, match="name the same fold"):
        load(str(path), split_map={"validation": "2", "test": "2"})


def test_unassigned_rows_train_and_a_column_of_one_fold_is_no_folds(tmp_path: Path, write_images):
    path = _table(tmp_path, write_images, {"kfold": [-1, *FOLDS[1:]]})  # cat_0 not assigned: it trains
    prepared = load(str(path))
    assert _files(prepared.validation) == {"cat_5.png", "dog_0.png", "dog_5.png"} and len(prepared.train) == 17
    path = _table(tmp_path, write_images, {"fold": [1] * 20}, name="one.csv")
    prepared = load(str(path))
    assert "fold_column" not in prepared.info and prepared.info["made_splits"] == ["validation"]


def test_folds_of_a_training_table_beside_a_test_table(tmp_path: Path, write_images):
    """A train.csv with folds and a test.csv: the test split stays the dataset's, one fold validates."""
    path = _table(tmp_path, write_images, {"kfold": FOLDS}, name="train.csv")
    pd.read_csv(path).drop(columns="kfold").head(6).to_csv(tmp_path / "test.csv", index=False)
    prepared = load(str(tmp_path))
    assert prepared.info.get("fold_column") == "kfold" and len(prepared.test) == 6
    assert prepared.info["source_splits"]["validation"] == "kfold == 0" and len(prepared.validation) == 4
