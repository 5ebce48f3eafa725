"""Classes read from file names in a folder without class folders (hf_quicktune/data/name_labels.py): Kaggle's
Dogs vs. Cats (train/cat.0.jpg), Oxford-IIIT Pet (Abyssinian_1.jpg); names that carry no class stay unlabelled."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from hf_quicktune.data import load
from hf_quicktune.data.columns import column_values
from hf_quicktune.data.name_labels import class_of, labels_from_names
from hf_quicktune.errors import DatasetError

from .conftest import make_image


def _flat(root: Path, names: list[str]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for seed, name in enumerate(names):
        colour = (200, 40, 40) if name.lower().startswith(("cat", "abys")) else (40, 40, 200)
        make_image(colour, seed).save(root / name)


def _all_labels(ds) -> Counter:
    return Counter(ds.class_names[i] for split in ds.splits.values() for i in column_values(split, "label"))


@pytest.mark.parametrize(("name", "cls"), [
    ("cat.0.jpg", "cat"), ("dog.12500.jpg", "dog"), ("Abyssinian_1.jpg", "Abyssinian"),
    ("american_bulldog_10.jpg", "american_bulldog"), ("n02085620_10074.jpg", "n02085620"),
    ("rose (3).png", "rose"), ("tulip-07.png", "tulip"), ("daisy12.png", "daisy"),
    ("1.jpg", None), ("0001.png", None), ("cat.jpg", None), ("_12.png", None),
    # a phone's or camera's names: a date or a counter, never a class
    ("IMG_20230101_123456.jpg", None), ("PXL_20240312_101010123.jpg", None), ("DSC01234.JPG", None),
    ("Screenshot 2024-03-01 at 10.11.12.png", None), ("holiday_2023-08-14_3.jpg", None),
])
def test_the_class_a_file_name_carries(name, cls):
    assert class_of(name) == cls


def test_names_label_files_only_when_every_name_does_and_classes_repeat():
    assert labels_from_names(["cat.0.jpg", "cat.1.jpg", "dog.0.jpg", "dog.1.jpg"]) == ["cat", "cat", "dog", "dog"]
    assert labels_from_names(["IMG_0001.jpg", "IMG_0002.jpg", "IMG_0003.jpg"]) is None  # one class: a camera's
    assert labels_from_names(["beach_1.jpg", "sunset_2.jpg", "forest_3.jpg", "lake_4.jpg"]) is None  # no repeats
    assert labels_from_names(["cat.0.jpg", "cat.1.jpg", "dog.0.jpg", "dog.1.jpg", "7.jpg"]) is None
    assert labels_from_names([]) is None


def test_a_dogs_vs_cats_download_trains_on_its_names_and_leaves_its_test_folder_out(tmp_path, caplog):
    """train/cat.N.jpg and train/dog.N.jpg beside test1/N.jpg (unlabelled): said "no labels" before."""
    _flat(tmp_path / "dvc" / "train", [f"{c}.{i}.jpg" for c in ("cat", "dog") for i in range(6)])
    _flat(tmp_path / "dvc" / "test1", [f"{i}.jpg" for i in range(1, 4)])
    with caplog.at_level("WARNING"):
        ds = load(str(tmp_path / "dvc"))
    assert ds.class_names == ["cat", "dog"] and _all_labels(ds) == Counter({"cat": 6, "dog": 6})
    for split in ds.splits.values():  # each image has the class its name carries
        raw = split.cast_column("image", __import__("datasets").Image(decode=False))
        for value, label in zip(column_values(raw, "image"), column_values(split, "label")):
            assert Path(value["path"]).name.startswith(ds.class_names[label] + ".")
    assert "each image's class is read from its file name" in caplog.text and "cat (6), dog (6)" in caplog.text
    assert "test1/ holds images without class folders" in caplog.text and ds.test is None


def test_a_flat_folder_of_pet_breeds_is_labelled_by_its_names(tmp_path):
    _flat(tmp_path / "images", [f"{b}_{i}.jpg" for b in ("Abyssinian", "american_bulldog") for i in range(1, 6)])
    ds = load(str(tmp_path / "images"))
    assert _all_labels(ds) == Counter({"Abyssinian": 5, "american_bulldog": 5})


def test_class_folders_win_and_names_beside_them_are_not_read(tmp_path, caplog):
    """train/ with class folders and test/ of named files: the named test/ is left out as before (its names are
    not trusted where the set uses folders); names never mix with folders in one split."""
    for cls in ("cat", "dog"):
        _flat(tmp_path / "ds" / "train" / cls, [f"{i}.png" for i in range(4)])
    _flat(tmp_path / "ds" / "test", ["cat.1.png", "cat.2.png", "dog.1.png", "dog.2.png"])
    with caplog.at_level("WARNING"):
        ds = load(str(tmp_path / "ds"))
    assert ds.test is None and "test/ holds images without class folders" in caplog.text
    _flat(tmp_path / "mixed" / "cat", [f"{i}.png" for i in range(4)])
    _flat(tmp_path / "mixed", ["dog.1.png", "dog.2.png", "dog.3.png"])
    with pytest.raises(DatasetError, match="lie outside any class folder"):
        load(str(tmp_path / "mixed"))


def test_names_that_carry_no_class_still_say_how_to_label(tmp_path):
    _flat(tmp_path / "phone", [f"IMG_202301{d:02d}_{i:06d}.jpg" for d in (1, 2, 3) for i in range(3)])
    with pytest.raises(DatasetError, match="no class sub-folders"):  # photos of three days are not three classes
        load(str(tmp_path / "phone"))
    _flat(tmp_path / "camera", [f"IMG_{i:04d}.jpg" for i in range(6)])
    with pytest.raises(DatasetError, match=r"no class sub-folders.*name each image after its class"):
        load(str(tmp_path / "camera"))
