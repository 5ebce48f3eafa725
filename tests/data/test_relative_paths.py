"""Relative image paths of a data file: read from its folder, or from the current directory where the files are
(a CSV written by a script run beside the data folder), always made absolute; missing files said as such."""

from __future__ import annotations

from pathlib import Path

import datasets
import pandas as pd
import pytest

from hf_quicktune.data import load
from hf_quicktune.data.columns import column_values
from hf_quicktune.errors import DatasetError


def _labels_in_subfolder(tmp_path: Path, write_images, relative_to_cwd: bool) -> Path:
    """``data/labels.csv`` naming ``data/images/<class>/<file>.png`` relative to ``tmp_path`` (the cwd of the
    script that wrote it) or relative to ``data/``."""
    rows = write_images({"cat": 8, "dog": 8}, root="data/images")
    prefix = "" if relative_to_cwd else "data/"
    frame = pd.DataFrame({"image": [r[0].removeprefix(prefix) for r in rows], "label": [r[1] for r in rows]})
    path = tmp_path / "data" / "labels.csv"
    frame.to_csv(path, index=False)
    return path


def _paths(ds) -> list[str]:
    split = ds.splits["train"].cast_column("image", datasets.Image(decode=False))
    return [v["path"] for v in column_values(split, "image")]


def test_paths_relative_to_the_current_directory_are_found_there_with_a_warning(tmp_path, write_images,
                                                                              monkeypatch, caplog):
    path = _labels_in_subfolder(tmp_path, write_images, relative_to_cwd=True)
    monkeypatch.chdir(tmp_path)
    with caplog.at_level("WARNING"):
        ds = load("data/labels.csv")
    assert ds.num_classes == 2 and ds.meta.num_train > 0
    assert all(Path(p).is_absolute() and Path(p).exists() for p in _paths(ds))
    warned = [r.getMessage() for r in caplog.records if "relative to the current directory" in r.getMessage()]
    assert len(warned) == 1, warned  # once, not once per split
    assert path.parent.name in warned[0]


def test_paths_relative_to_the_file_win_and_become_absolute(tmp_path, write_images, monkeypatch, caplog):
    _labels_in_subfolder(tmp_path, write_images, relative_to_cwd=False)
    monkeypatch.chdir(tmp_path)
    with caplog.at_level("WARNING"):
        ds = load("data/labels.csv")  # a relative spec: the paths must not stay relative to this cwd
    monkeypatch.chdir("/")
    assert all(Path(p).is_absolute() and Path(p).exists() for p in _paths(ds))
    assert not [r for r in caplog.records if "current directory" in r.getMessage()]


def test_paths_relative_to_another_folder_are_read_by_their_last_parts(tmp_path, write_images, monkeypatch, caplog):
    """``data/images/cat/0.png`` read from ``data/`` (neither beside the file nor from the current folder): found
    without the leading ``data/`` (data/image_ids.rebase)."""
    _labels_in_subfolder(tmp_path, write_images, relative_to_cwd=True)
    monkeypatch.chdir(tmp_path / "data")
    with caplog.at_level("WARNING"):
        ds = load("labels.csv")
    assert all(Path(p).is_file() and Path(p).is_relative_to(tmp_path / "data" / "images") for p in _paths(ds))
    assert "the image paths of column 'image' are relative to another folder (data/images/" in caplog.text


def test_missing_files_are_said_to_be_missing_with_where_paths_are_read_from(tmp_path, write_images, monkeypatch):
    _labels_in_subfolder(tmp_path, write_images, relative_to_cwd=True)
    for png in (tmp_path / "data" / "images").rglob("*.png"):
        png.rename(png.with_suffix(".bak"))  # gone: found nowhere
    monkeypatch.chdir(tmp_path / "data")
    with pytest.raises(DatasetError, match=r"16 of them are files that do not exist: check the image column .*"
                                           r"a data file's relative paths are read from its folder.*run from the "
                                           r"folder they are relative to\."):
        load("labels.csv")
