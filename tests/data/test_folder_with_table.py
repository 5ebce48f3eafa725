"""A folder holding its table at the top and the images below it is read through the table; a folder that is an
ImageFolder stays one even beside a table that names no image (hf_quicktune/data/folder_tables.py ``top_tables``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hf_quicktune.data import load
from hf_quicktune.data.columns import column_values


def _table(path: Path, rows: list[tuple[str, str]]) -> Path:
    pd.DataFrame({"file": [r[0] for r in rows], "species": [r[1] for r in rows]}).to_csv(path, index=False)
    return path


def test_a_csv_beside_its_images_folder(tmp_path, write_images):
    """Was an ImageFolder of one class ('images') and refused."""
    rows = write_images({"cat": 6, "dog": 6})  # images/<class>/... relative to tmp_path
    flat = [(f"images/{Path(r[0]).name}", r[1]) for r in rows]
    for (old, _), (new, _) in zip(rows, flat):
        (tmp_path / old).rename(tmp_path / new)  # images/cat_0.png: no class folders, the table has the classes
    _table(tmp_path / "labels.csv", flat)
    ds = load(str(tmp_path))
    assert ds.class_names == ["cat", "dog"] and ds.source == "file"


def test_tables_named_by_split_beside_the_images(tmp_path, write_images):
    rows = write_images({"cat": 8, "dog": 8})
    _table(tmp_path / "train.csv", rows[:5] + rows[8:13])
    _table(tmp_path / "test.csv", rows[5:8] + rows[13:])
    ds = load(str(tmp_path))
    assert ds.test is not None and len(ds.test) == 6
    assert len(ds.train) + len(ds.validation) == 10


def test_an_image_folder_beside_a_table_naming_no_image_stays_an_image_folder(tmp_path, write_images):
    """A Kaggle download: train/CLASS/ with sample_submission.csv at the top."""
    write_images({"cat": 6, "dog": 6}, root="train")
    pd.DataFrame({"id": ["a", "b"], "label": ["cat", "dog"]}).to_csv(tmp_path / "sample_submission.csv", index=False)
    ds = load(str(tmp_path))
    assert ds.source == "imagefolder" and ds.class_names == ["cat", "dog"]


def test_a_table_naming_the_images_of_two_folders_wins_over_the_folders(tmp_path, write_images):
    """labels.csv naming images/part1/... and images/part2/...: the folders are not classes."""
    rows = write_images({"part1": 6, "part2": 6}, root="images")
    for part in ("part1", "part2"):
        (tmp_path / "images" / part).rename(tmp_path / part)  # two folders at the top, beside the table
    labels = [(r[0].split("/", 1)[1], "cat" if i % 2 else "dog") for i, r in enumerate(rows)]
    _table(tmp_path / "labels.csv", labels)
    ds = load(str(tmp_path))
    assert ds.class_names == ["cat", "dog"]
    assert sorted(column_values(ds.train, "label") + column_values(ds.validation, "label")).count(1) == 6


def test_paths_with_glob_characters(tmp_path, write_images):
    """datasets reads data files by glob patterns: a folder named ``[data]`` matched nothing."""
    rows = write_images({"cat": 6, "dog": 6}, root="[data] x*/images")
    base = tmp_path / "[data] x*"
    _table(base / "labels.csv", [(r[0].split("/", 1)[1], r[1]) for r in rows])
    assert load(str(base / "labels.csv")).class_names == ["cat", "dog"]
    assert load(str(base)).class_names == ["cat", "dog"]


def test_a_table_naming_images_in_flat_split_folders(tmp_path, write_images, caplog):
    """train.csv naming train/IMG.png beside flat train/ and test/ folders: the split folders hold no class folders,
    which the ImageFolder reading refuses ("no labels"); the table has them. The layout is looked at once (the
    unlabelled-folder warning was said twice)."""
    rows = write_images({"cat": 6, "dog": 6}, root="train")
    flat = [(f"train/{Path(r[0]).name}", r[1]) for r in rows]
    for (old, _), (new, _) in zip(rows, flat):
        (tmp_path / old).rename(tmp_path / new)
    for name in ("cat", "dog"):
        (tmp_path / "train" / name).rmdir()
    for old, _ in write_images({"x": 3}, root="test"):
        (tmp_path / old).rename(tmp_path / "test" / Path(old).name)
    (tmp_path / "test" / "x").rmdir()
    _table(tmp_path / "train.csv", flat)
    with caplog.at_level("WARNING"):
        ds = load(str(tmp_path))
    assert ds.class_names == ["cat", "dog"] and ds.source == "file"
    assert "without class folders" not in caplog.text
