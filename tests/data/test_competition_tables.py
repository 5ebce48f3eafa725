"""A competition's tables (hf_quicktune/data/image_ids.py, one_hot.py): ids naming images in a folder beside the
table (APTOS' train_images/<id_code>.png, Cassava's image_id 1000.jpg, Plant Pathology's images/<image_id>.jpg),
classes stored one-hot; said "no image column", "files do not exist" or "no label column" before."""

from __future__ import annotations

import hashlib
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pytest

from hf_quicktune.data import load
from hf_quicktune.data.columns import column_values
from hf_quicktune.errors import DatasetError

from .conftest import COLOURS, make_image

CLASSES = ("cat", "dog", "owl")


def _write(folder: Path, names: list[str], classes: list[str], seed: int = 0) -> dict[str, str]:
    """An image per name (its class's colour) in ``folder``; returns each image's pixel digest -> class."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, (name, cls) in enumerate(zip(names, classes)):
        image = make_image(COLOURS[cls], seed + i)
        image.save(folder / name)
        out[hashlib.sha1(np.asarray(image).tobytes()).hexdigest()] = cls
    return out


def _seen(prepared) -> dict[str, str]:
    """Every kept image's pixel digest -> its class, over the splits."""
    out = {}
    for split in prepared.splits.values():
        for i, label in enumerate(column_values(split, "label")):
            out[hashlib.sha1(np.asarray(split[i]["image"].convert("RGB")).tobytes()).hexdigest()] = \
                prepared.class_names[label]
    return out


def _aptos(root: Path, n: int = 12) -> dict[str, str]:
    """train.csv (id_code, diagnosis) + train_images/<id_code>.png; test.csv (id_code) + test_images/."""
    ids = [f"{i:04x}e5c3" for i in range(n)]
    classes = [CLASSES[i % 3] for i in range(n)]
    truth = _write(root / "train_images", [f"{i}.png" for i in ids], classes)
    pd.DataFrame({"id_code": ids, "diagnosis": [CLASSES.index(c) for c in classes]}).to_csv(root / "train.csv",
                                                                                           index=False)
    _write(root / "test_images", [f"t{i}.png" for i in range(3)], ["cat", "dog", "owl"], seed=100)
    pd.DataFrame({"id_code": [f"t{i}" for i in range(3)]}).to_csv(root / "test.csv", index=False)
    return {k: str(CLASSES.index(v)) for k, v in truth.items()}


def test_an_aptos_download_reads_ids_from_its_images_folder_and_leaves_test_out(tmp_path, caplog):
    truth = _aptos(tmp_path / "aptos")
    with caplog.at_level("WARNING"):
        prepared = load(str(tmp_path / "aptos"))
    assert prepared.info["image_column"] == "id_code" and prepared.test is None
    assert _seen(prepared) == truth  # every image, with its own row's class
    assert "ignoring split 'test': it has no labels (no column 'diagnosis')" in caplog.text
    assert prepared.info["unlabelled"] == [str(tmp_path / "aptos" / "test.csv")]  # run's summary: classify it


def test_file_names_in_a_folder_below_the_table_and_integer_ids(tmp_path):
    """Cassava: image_id holds 1000.jpg, the files are in train_images/; integer ids name train/<id>.png."""
    names = [f"{1000 + i}.jpg" for i in range(9)]
    classes = [CLASSES[i % 3] for i in range(9)]
    _write(tmp_path / "cassava" / "train_images", names, classes)
    pd.DataFrame({"image_id": names, "label": classes}).to_csv(tmp_path / "cassava" / "train.csv", index=False)
    prepared = load(str(tmp_path / "cassava" / "train.csv"))
    assert sorted(_seen(prepared).values()) == sorted(classes) and len(_seen(prepared)) == 9
    truth = _write(tmp_path / "ints" / "train", [f"{i}.png" for i in range(9)], classes)
    pd.DataFrame({"id": range(9), "label": classes}).to_csv(tmp_path / "ints" / "labels.csv", index=False)
    assert _seen(load(str(tmp_path / "ints" / "labels.csv"))) == truth


def test_plant_pathology_classes_stored_one_hot(tmp_path, caplog):
    root = tmp_path / "plant"
    classes = [CLASSES[i % 3] for i in range(12)]
    truth = _write(root / "images", [f"Train_{i}.jpg".replace(".jpg", ".png") for i in range(12)], classes)
    table = pd.DataFrame({"image_id": [f"Train_{i}" for i in range(12)],
                          **{c: [int(k == c) for k in classes] for c in CLASSES}})
    table.to_csv(root / "train.csv", index=False)
    with caplog.at_level("WARNING"):
        prepared = load(str(root / "train.csv"))
    assert prepared.class_names == list(CLASSES) and _seen(prepared) == truth
    assert "the classes are the one-hot columns cat, dog, owl" in caplog.text
    table.loc[3, "dog"] = 1  # a second class for row 3: several labels per image
    table.to_csv(root / "train.csv", index=False)
    with pytest.raises(DatasetError, match=r"1 row\(s\) have several of them \(row 3\).*single-label"):
        load(str(root / "train.csv"))
    table.loc[3, ["cat", "dog", "owl"]] = 0
    table.to_csv(root / "train.csv", index=False)
    with pytest.raises(DatasetError, match=r"1 row\(s\) have none of them \(row 3\)"):
        load(str(root / "train.csv"))


def test_ids_that_name_no_file_still_say_no_image_column(tmp_path):
    _write(tmp_path / "t" / "images", ["a.png", "b.png"], ["cat", "dog"])
    pd.DataFrame({"name": [f"x{i}" for i in range(6)], "label": ["cat", "dog"] * 3}).to_csv(tmp_path / "t" / "d.csv",
                                                                                          index=False)
    with pytest.raises(DatasetError, match="No image column found"):
        load(str(tmp_path / "t" / "d.csv"))


def test_a_download_of_class_folders_stays_an_image_folder_beside_its_submission_table(tmp_path):
    """Plant Seedlings: train/CLASS/*.png, test/*.png and sample_submission.csv naming the test files (found in
    test/): the class folders are the dataset, not the submission's placeholder classes."""
    root = tmp_path / "seedlings"
    for cls in CLASSES:
        _write(root / "train" / cls, [f"{cls}{i}.png" for i in range(4)], [cls] * 4)
    _write(root / "test", [f"t{i}.png" for i in range(4)], ["cat"] * 4, seed=50)
    pd.DataFrame({"file": [f"t{i}.png" for i in range(4)], "species": "cat"}).to_csv(root / "sample_submission.csv",
                                                                                     index=False)
    prepared = load(str(root))
    assert prepared.class_names == list(CLASSES) and len(prepared.train) + len(prepared.validation) == 12


@pytest.mark.parametrize("prefix", ["/kaggle/input/pets-data/", "C:\\Users\\me\\pets-data\\"])
def test_another_machines_absolute_paths_are_read_by_their_last_parts(tmp_path, prefix, caplog):
    """A CSV written in a Kaggle notebook (/kaggle/input/...) or on Windows, next to the images downloaded here."""
    root = tmp_path / "pets-data"
    truth = {}
    for cls in ("cat", "dog"):
        truth.update(_write(root / "data" / "train" / cls, [f"{i}.png" for i in range(5)], [cls] * 5,
                            seed=10 * len(truth)))
    sep = "\\" if "\\" in prefix else "/"
    paths = [f"{prefix}data{sep}train{sep}{cls}{sep}{i}.png" for cls in ("cat", "dog") for i in range(5)]
    pd.DataFrame({"path": paths, "label": ["cat"] * 5 + ["dog"] * 5}).to_csv(root / "labels.csv", index=False)
    with caplog.at_level("WARNING"):
        prepared = load(str(root / "labels.csv"))
    assert _seen(prepared) == truth
    assert "the image paths of column 'path' are of another machine" in caplog.text


def test_aerial_cactus_and_histopathologic_layouts(tmp_path):
    """Aerial Cactus: train.csv (id = file name, has_cactus) with the images in train/train/ (a folder holding one
    folder: no class layout, said "one class ('train')"); Histopathologic Cancer Detection: train_labels.csv (id
    without extension) with train/<id>.tif beside test/ and sample_submission.csv, here ids of digits with leading
    zeros, which the CSV reader makes integers (000000000000001 -> 1)."""
    names = [f"{i:012x}.jpg" for i in range(10)]
    classes = ["cat", "dog"] * 5
    _write(tmp_path / "cactus" / "train" / "train", [n.replace(".jpg", ".png") for n in names], classes)
    pd.DataFrame({"id": [n.replace(".jpg", ".png") for n in names], "has_cactus": [c == "dog" for c in classes]}
                 ).astype({"has_cactus": int}).to_csv(tmp_path / "cactus" / "train.csv", index=False)
    prepared = load(str(tmp_path / "cactus"))
    assert prepared.info["image_column"] == "id" and len(_seen(prepared)) == 10
    ids = [f"{i:015x}" for i in range(10)]
    truth = _write(tmp_path / "histo" / "train", [f"{i}.tif" for i in ids], classes)
    _write(tmp_path / "histo" / "test", ["a.tif", "b.tif"], ["cat", "dog"], seed=70)
    pd.DataFrame({"id": ids, "label": [int(c == "dog") for c in classes]}).to_csv(
        tmp_path / "histo" / "train_labels.csv", index=False)
    pd.DataFrame({"id": ["a", "b"], "label": 0}).to_csv(tmp_path / "histo" / "sample_submission.csv", index=False)
    prepared = load(str(tmp_path / "histo"))
    assert _seen(prepared) == {k: str(int(v == "dog")) for k, v in truth.items()}
    assert prepared.info["unlabelled"] == [str(tmp_path / "histo" / "test")]  # run's summary: classify test/


def test_a_test_folder_the_table_names_is_not_called_unlabelled(tmp_path):
    """A table naming train/ and test/ images by path (its test rows labelled): test/ is data, not what to classify."""
    names = [f"train/{i}.png" for i in range(8)] + [f"test/{i}.png" for i in range(4)]
    classes = ["cat", "dog"] * 6
    for seed, (name, cls) in enumerate(zip(names, classes)):
        folder, file = name.split("/")
        _write(tmp_path / "ds" / folder, [file], [cls], seed=seed)
    pd.DataFrame({"file": names, "label": classes}).to_csv(tmp_path / "ds" / "labels.csv", index=False)
    prepared = load(str(tmp_path / "ds"))
    assert not prepared.info.get("unlabelled") and len(_seen(prepared)) == 12


def _rsna(root: Path, n: int = 12) -> dict[str, str]:
    """RSNA Pneumonia's download: stage_2_train_labels.csv (patientId, box, Target) and stage_2_detailed_class_info.csv
    (patientId, class) naming stage_2_train_images/<id>.png, beside stage_2_test_images/ and the template."""
    ids = [f"{i:04x}-4f2a" for i in range(n)]
    classes = [("cat", "dog")[i % 2] for i in range(n)]
    truth = _write(root / "stage_2_train_images", [f"{i}.png" for i in ids], classes)
    pd.DataFrame({"patientId": ids, "Target": [int(c == "dog") for c in classes]}).to_csv(
        root / "stage_2_train_labels.csv", index=False)
    pd.DataFrame({"patientId": ids, "class": [f"{c} class" for c in classes]}).to_csv(
        root / "stage_2_detailed_class_info.csv", index=False)
    _write(root / "stage_2_test_images", ["t0.png", "t1.png"], ["cat", "dog"], seed=90)
    pd.DataFrame({"patientId": ["t0", "t1"], "PredictionString": "0.5 0 0 100 100"}).to_csv(
        root / "stage_2_sample_submission.csv", index=False)
    return {k: str(int(v == "dog")) for k, v in truth.items()}


def test_of_two_tables_naming_the_images_the_labels_table_is_read_and_the_test_folder_found(tmp_path, caplog):
    """Read as an ImageFolder before, RSNA's download trained a classifier of its two folders (train and test)."""
    truth = _rsna(tmp_path / "rsna")
    with caplog.at_level("WARNING"):
        prepared = load(str(tmp_path / "rsna"))
    assert prepared.source == "file" and _seen(prepared) == truth
    assert "training on stage_2_train_labels.csv" in caplog.text
    assert f"pass --dataset {tmp_path / 'rsna' / 'stage_2_detailed_class_info.csv'} to train on" in caplog.text
    assert prepared.info["unlabelled"] == [str(tmp_path / "rsna" / "stage_2_test_images")]  # a word of its name
    other = load(str(tmp_path / "rsna" / "stage_2_detailed_class_info.csv"))  # the other table, named
    assert sorted(other.class_names) == ["cat class", "dog class"]
    (tmp_path / "rsna" / "stage_2_train_labels.csv").rename(tmp_path / "rsna" / "boxes.csv")  # no name tells
    with pytest.raises(DatasetError, match=r"holds 2 tables that name its images \(boxes.csv, "
                                           r"stage_2_detailed_class_info.csv\)") as err:
        load(str(tmp_path / "rsna"))
    assert "--dataset" in err.value.fix


def test_siim_isics_download_with_a_folder_of_split_folders_reads_its_tables(tmp_path):
    """SIIM-ISIC Melanoma: train.csv / test.csv (image_name without extension, target) with train/ and test/ of
    images and jpeg/train/, jpeg/test/ of copies: jpeg/'s two split folders are not an ImageFolder's classes (the
    download was read as one, and refused)."""
    names = [f"ISIC_{i:07d}" for i in range(10)]
    classes = ["cat", "dog"] * 5
    truth = _write(tmp_path / "siim" / "train", [f"{n}.png" for n in names], classes)
    _write(tmp_path / "siim" / "jpeg" / "train", [f"{n}.png" for n in names], classes)
    _write(tmp_path / "siim" / "test", ["ISIC_9000000.png"], ["owl"], seed=50)
    _write(tmp_path / "siim" / "jpeg" / "test", ["ISIC_9000000.png"], ["owl"], seed=50)
    pd.DataFrame({"image_name": names, "diagnosis": ["nevus"] * 10, "target": [int(c == "dog") for c in classes]}
                 ).to_csv(tmp_path / "siim" / "train.csv", index=False)
    pd.DataFrame({"image_name": ["ISIC_9000000"]}).to_csv(tmp_path / "siim" / "test.csv", index=False)
    prepared = load(str(tmp_path / "siim"))
    assert prepared.info["image_column"] == "image_name"
    assert _seen(prepared) == {k: str(int(v == "dog")) for k, v in truth.items()}


def test_siim_isics_jpeg_copies_are_read_rather_than_its_dicom_scans(tmp_path, dicom_file):
    """Both train/ISIC_*.dcm and jpeg/train/ISIC_*.jpg hold every id: the JPEG copies are read (decoded at the
    transform's scale), where the scans (found first, breadth first) were (decoded in full at every epoch)."""
    names = [f"ISIC_{i:07d}" for i in range(10)]
    classes = ["cat", "dog"] * 5
    for i, name in enumerate(names):
        dicom_file(tmp_path / "siim" / "train" / f"{name}.dcm", np.full((8, 8, 3), 40 * (i % 2), np.uint8))
    _write(tmp_path / "siim" / "jpeg" / "train", [f"{n}.jpg" for n in names], classes)
    pd.DataFrame({"image_name": names, "target": [int(c == "dog") for c in classes]}).to_csv(
        tmp_path / "siim" / "train.csv", index=False)
    prepared = load(str(tmp_path / "siim"), verify_images=False)
    files = [Path(p["path"]) for p in prepared.train.cast_column("image", datasets.Image(decode=False))["image"]]
    assert {f.suffix for f in files} == {".jpg"} and {f.parent.name for f in files} == {"train"}
    assert {f.parent.parent.name for f in files} == {"jpeg"}


def test_ham10000s_images_in_two_folders_and_its_metadata_table(tmp_path):
    """HAM10000: HAM10000_metadata.csv (lesion_id, image_id, dx, ...) naming images split over
    HAM10000_images_part_1/ and _part_2/ (no folder holds most of them: no image column before), beside its
    hmnist_8_8_L.csv of pixels (a table that names no image file)."""
    ids = [f"ISIC_{i:07d}" for i in range(12)]
    classes = ["cat", "dog", "owl"] * 4
    truth = _write(tmp_path / "ham" / "HAM10000_images_part_1", [f"{i}.png" for i in ids[:6]], classes[:6])
    truth |= _write(tmp_path / "ham" / "HAM10000_images_part_2", [f"{i}.png" for i in ids[6:]], classes[6:], seed=6)
    pd.DataFrame({"lesion_id": [f"HAM_{i:07d}" for i in range(12)], "image_id": ids, "dx": classes,
                  "age": 50.0}).to_csv(tmp_path / "ham" / "HAM10000_metadata.csv", index=False)
    pd.DataFrame({**{f"pixel{i:04d}": [0] * 12 for i in range(64)}, "label": [0, 1, 2] * 4}).to_csv(
        tmp_path / "ham" / "hmnist_8_8_L.csv", index=False)
    prepared = load(str(tmp_path / "ham"))
    assert prepared.info["image_column"] == "image_id" and prepared.info["label_column"] == "dx"
    assert _seen(prepared) == truth  # every image, from both folders, with its own row's class


def test_isic_2019s_ground_truth_is_read_beside_its_metadata(tmp_path, caplog):
    """ISIC 2019: _Training_GroundTruth.csv (one-hot classes) and _Training_Metadata.csv both name the images of
    ISIC_2019_Training_Input/ and both say "Training": the ground truth's name says labels (was: an error)."""
    names = [f"ISIC_{i:07d}" for i in range(9)]
    classes = ["cat", "dog", "owl"] * 3
    truth = _write(tmp_path / "isic" / "ISIC_2019_Training_Input", [f"{n}.png" for n in names], classes)
    pd.DataFrame({"image": names, **{c: [float(k == c) for k in classes] for c in CLASSES}}).to_csv(
        tmp_path / "isic" / "ISIC_2019_Training_GroundTruth.csv", index=False)
    pd.DataFrame({"image": names, "age_approx": 50.0, "sex": "male"}).to_csv(
        tmp_path / "isic" / "ISIC_2019_Training_Metadata.csv", index=False)
    with caplog.at_level("WARNING"):
        assert _seen(load(str(tmp_path / "isic"))) == truth
    assert "ISIC_2019_Training_Metadata.csv has no label column" in caplog.text  # not offered as the labels
