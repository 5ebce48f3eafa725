"""Groups that must not be split (a patient's scans, a lesion's photos): the validation and test shares carved from
train take whole groups (data/groups.py, splits.group_holdout)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from hf_quicktune.data import load
from hf_quicktune.data.splits import group_holdout
from hf_quicktune.errors import DatasetError

from .conftest import COLOURS, make_image

CLASSES = ("cat", "dog", "owl")


def _ham(root, lesions: int = 30) -> None:
    """HAM10000's metadata: lesion_id (1-3 photos each), image_id, dx; images in images/."""
    (root / "images").mkdir(parents=True)
    rows = []
    for lesion in range(lesions):
        cls = CLASSES[lesion % 3]
        for k in range(1 + lesion % 3):
            image_id = f"ISIC_{lesion:04d}{k}"
            make_image(COLOURS[cls], 10 * lesion + k).save(root / "images" / f"{image_id}.png")
            rows.append({"lesion_id": f"HAM_{lesion:04d}", "image_id": image_id, "dx": cls})
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)  # not imagefolder's (no file_name)


def _lesions(prepared, split: str) -> set[str]:
    """The lesions of a split's images, from their file names (ISIC_LLLLK.png: lesion LLLL, photo K)."""
    import datasets

    entries = prepared.splits[split].cast_column("image", datasets.Image(decode=False))["image"]
    return {entry["path"].rsplit("/", 1)[-1][5:9] for entry in entries}


def test_a_lesions_photos_stay_on_one_side_of_the_carved_splits(tmp_path, caplog):
    _ham(tmp_path / "ham")
    with caplog.at_level(logging.WARNING):
        prepared = load(str(tmp_path / "ham"), test_fraction=0.2)
    train, validation, test = (_lesions(prepared, s) for s in ("train", "validation", "test"))
    assert train and validation and test and not (train & validation or train & test or validation & test)
    assert sum(len(s) for s in prepared.splits.values()) == 60 and set(prepared.class_names) == set(CLASSES)
    assert "take whole groups of column 'lesion_id' (30 groups for 60 images)" in caplog.text
    assert prepared.info["group_column"] == "lesion_id"  # data inspect and summary say so
    images = load(str(tmp_path / "ham"), group_column="none", test_fraction=0.2)  # images split, as before
    assert _lesions(images, "train") & (_lesions(images, "validation") | _lesions(images, "test"))


def test_a_named_group_column_that_is_not_there_or_too_few_groups(tmp_path):
    _ham(tmp_path / "ham", lesions=6)
    with pytest.raises(DatasetError, match="--group-column 'patient' is not a column"):
        load(str(tmp_path / "ham"), group_column="patient")
    with pytest.raises(DatasetError, match=r"Too few groups \(6\) to hold out whole ones as the test split \(10% takes "
                                           r"10\)"):
        load(str(tmp_path / "ham"), test_fraction=0.1)


def test_group_holdout_takes_whole_groups_near_the_fractions_stratified():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(200), rng.integers(1, 6, 200))
    labels = (groups % 4 + (rng.random(len(groups)) < 0.1)) % 4  # a group's images mostly of one class
    idx = group_holdout(labels, groups, {"validation": 0.2, "test": 0.1}, seed=0)
    assert sorted(np.concatenate(list(idx.values())).tolist()) == list(range(len(groups)))  # every row once
    sets = {k: set(groups[v].tolist()) for k, v in idx.items()}
    assert not (sets["train"] & sets["validation"] or sets["train"] & sets["test"] or sets["validation"] & sets["test"])
    assert abs(len(idx["test"]) / len(groups) - 0.1) < 0.03 and abs(len(idx["validation"]) / len(groups) - 0.2) < 0.05
    for split in ("validation", "test"):  # stratified: each class's share near its share overall
        shares = np.bincount(labels[idx[split]], minlength=4) / len(idx[split])
        assert np.abs(shares - np.bincount(labels, minlength=4) / len(labels)).max() < 0.06


def test_imagefolders_own_metadata_file_keeps_datasets_reading(tmp_path):
    """``metadata.csv`` with a ``file_name`` column is imagefolder's (its labels read by datasets); one without (the
    HAM10000 layout above) is a table like another, which imagefolder refused ("file_name must be present")."""
    (tmp_path / "ds").mkdir()
    rows = []
    for i in range(12):
        cls = CLASSES[i % 3]
        make_image(COLOURS[cls], i).save(tmp_path / "ds" / f"{i}.png")
        rows.append({"file_name": f"{i}.png", "species": cls})
    pd.DataFrame(rows).to_csv(tmp_path / "ds" / "metadata.csv", index=False)
    prepared = load(str(tmp_path / "ds"), label_column="species")
    assert prepared.source == "imagefolder" and sorted(prepared.class_names) == sorted(CLASSES)


def test_splits_the_dataset_gives_that_share_patients_with_train_are_said(tmp_path, caplog):
    """train.csv and validation.csv of one hospital's export, some patients in both: the validation score counts
    patients the model trained on (nothing to carve: said, not changed)."""
    (tmp_path / "xr" / "images").mkdir(parents=True)
    for split, patients in (("train", range(0, 12)), ("validation", range(9, 15))):
        rows = []
        for p in patients:
            cls = CLASSES[p % 3]
            name = f"{split}_{p}.png"
            make_image(COLOURS[cls], p).save(tmp_path / "xr" / "images" / name)
            rows.append({"file": f"images/{name}", "PatientID": f"P{p:03d}", "label": cls})
        make_image(COLOURS["cat"], 99).save(tmp_path / "xr" / "images" / f"{split}_0b.png")
        rows.append({**rows[0], "file": f"images/{split}_0b.png"})  # a patient with two images
        pd.DataFrame(rows).to_csv(tmp_path / "xr" / f"{split}.csv", index=False)
    with caplog.at_level(logging.WARNING):
        prepared = load(str(tmp_path / "xr"))
    assert len(prepared.validation) == 7
    assert ("3 of the 6 groups of the validation split (column 'PatientID': P009, P010, P011) also have training "
            "images") in caplog.text


def test_isic_2019s_lesions_are_read_from_its_metadata_table(tmp_path, caplog):
    """ISIC 2019: the ground truth (image + one-hot classes) labels the images, the metadata table beside it holds
    their lesion_id, missing for some images (no lesion recorded). Was: no groups (the metadata table was not read,
    and a group column with gaps was refused); now the carved splits take whole lesions, an image without one is
    a group of its own."""
    root = tmp_path / "isic"
    (root / "ISIC_2019_Training_Input").mkdir(parents=True)
    truth, meta = [], []
    for lesion in range(30):
        cls = CLASSES[lesion % 3]
        for k in range(1 + lesion % 3):
            image = f"ISIC_{lesion:04d}{k}"
            make_image(COLOURS[cls], 10 * lesion + k).save(root / "ISIC_2019_Training_Input" / f"{image}.png")
            truth.append({"image": image, **{c: float(c == cls) for c in CLASSES}})
            meta.append({"image": image, "age_approx": 40.0, "lesion_id": None if lesion % 5 == 0 else
                         f"HAM_{lesion:04d}", "sex": "female"})
    pd.DataFrame(truth).to_csv(root / "ISIC_2019_Training_GroundTruth.csv", index=False)
    pd.DataFrame(meta).sample(frac=1, random_state=0).to_csv(root / "ISIC_2019_Training_Metadata.csv", index=False)
    with caplog.at_level(logging.INFO):
        prepared = load(str(root), test_fraction=0.2)
    assert prepared.info["group_column"] == "lesion_id"
    assert "the groups of column 'lesion_id' are read from ISIC_2019_Training_Metadata.csv (by 'image'" in caplog.text
    recorded = [(_lesions(prepared, s) - {f"{n:04d}" for n in range(0, 30, 5)}) for s in ("train", "validation",
                                                                                            "test")]
    assert all(recorded) and not (recorded[0] & recorded[1] or recorded[0] & recorded[2] or recorded[1] & recorded[2])
    assert sum(len(s) for s in prepared.splits.values()) == 60
    # an image without a lesion is its own group: the 6 unrecorded lesions' 12 images are not one group of 12
    assert "(36 groups for 60 images)" in caplog.text
