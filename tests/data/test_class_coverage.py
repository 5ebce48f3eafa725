"""Splits that do not share their classes are said at load time: what cannot be learnt, what is never measured."""

from __future__ import annotations

import numpy as np

from hf_quicktune.data import load
from hf_quicktune.data.splits import coverage_warnings

NAMES = ["cat", "dog", "owl", "fox"]


def test_classes_shared_by_every_split_say_nothing():
    labels = {"train": [0, 1, 2, 0], "validation": [2, 1, 0], "test": np.array([0, 1, 2])}
    assert coverage_warnings(labels, NAMES) == []


def test_held_out_class_without_training_images_is_named_with_its_share():
    labels = {"train": [0, 0, 1, 1], "validation": [0, 1, 3, 3, 3], "test": [0, 1, 2]}
    warnings = coverage_warnings(labels, NAMES, {"validation": "dev", "test": "test"})
    assert len(warnings) == 2
    val, test = warnings
    assert "1 class(es) of the validation split ('dev') have no training image: 'fox'" in val
    assert "their 3 of 5 validation images (60.0 %) are errors" in val
    assert "of the test split have no training image: 'owl'" in test  # same name as ours: no origin
    assert "1 of 3 test images (33.3 %)" in test


def test_trained_class_missing_from_validation_is_named_and_long_lists_are_cut():
    names = [f"c{i}" for i in range(9)]
    labels = {"train": list(range(9)), "validation": [0, 1]}
    (warning,) = coverage_warnings(labels, names)
    assert warning.startswith("7 class(es) have training images and none in the validation split: "
                              "'c2', 'c3', 'c4', 'c5', 'c6' and 2 more.")


def test_load_warns_about_a_validation_class_absent_from_train(tmp_path, write_images, caplog):
    write_images({"cat": 4, "dog": 4}, root="folder/train")
    write_images({"cat": 2, "dog": 2, "owl": 3}, root="folder/validation")
    with caplog.at_level("WARNING", logger="hf_quicktune.data.prepare"):
        prepared = load(str(tmp_path / "folder"))
    assert prepared.num_classes == 3
    # (the fixture draws each call's images from the same seeds: its validation images are copies, said apart)
    messages = [r.getMessage() for r in caplog.records if r.name == "hf_quicktune.data.prepare"
                and "byte-for-byte" not in r.getMessage()]
    assert len(messages) == 1
    assert "have no training image: 'owl'" in messages[0] and "3 of 7 validation images (42.9 %)" in messages[0]


def test_load_of_a_carved_validation_split_warns_nothing(tmp_path, write_images, caplog):
    write_images({"cat": 5, "dog": 5, "owl": 5}, root="flat")
    with caplog.at_level("WARNING", logger="hf_quicktune.data.prepare"):
        load(str(tmp_path / "flat"))
    assert not [r for r in caplog.records if r.name == "hf_quicktune.data.prepare"]


def test_held_out_copies_of_training_images_are_counted():
    from hf_quicktune.data.splits import leak_warnings

    digests = {"train": ["a", "b", "c", None], "validation": ["a", "x", "b", None], "test": ["x", "y", "c"]}
    val, test, val_test = leak_warnings(digests)
    assert val.startswith("2 of 3 validation images (66.7 %) are byte-for-byte copies of training images")
    assert test.startswith("1 of 3 test images (33.3 %)")
    assert val_test.startswith("1 test images are byte-for-byte copies of validation images")
    assert leak_warnings({"train": ["a"], "validation": ["b"]}) == [] and leak_warnings({}) == []


def test_load_warns_when_a_carved_validation_split_holds_copies_of_training_images(tmp_path, write_images, caplog):
    """A scraped set with each image twice: the stratified carve sends copies to both sides."""
    import shutil

    write_images({"cat": 10, "dog": 10}, root="twice")
    for path in list((tmp_path / "twice").rglob("*.png")):
        shutil.copy(path, path.with_name("copy_" + path.name))
    with caplog.at_level("WARNING", logger="hf_quicktune.data.prepare"):
        prepared = load(str(tmp_path / "twice"))
    (message,) = [r.getMessage() for r in caplog.records if "byte-for-byte" in r.getMessage()]
    assert f"of {len(prepared.validation)} validation images" in message
    copies = int(message.split(" of ")[0])
    assert 1 <= copies <= len(prepared.validation)


def test_load_of_distinct_images_warns_of_no_copies(tmp_path, write_images, caplog):
    write_images({"cat": 10, "dog": 10}, root="once")
    with caplog.at_level("WARNING", logger="hf_quicktune.data.prepare"):
        load(str(tmp_path / "once"))
    assert not [r for r in caplog.records if "byte-for-byte" in r.getMessage()]
