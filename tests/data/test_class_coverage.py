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
    messages = [r.getMessage() for r in caplog.records if r.name == "hf_quicktune.data.prepare"]
    assert len(messages) == 1
    assert "have no training image: 'owl'" in messages[0] and "3 of 7 validation images (42.9 %)" in messages[0]


def test_load_of_a_carved_validation_split_warns_nothing(tmp_path, write_images, caplog):
    write_images({"cat": 5, "dog": 5, "owl": 5}, root="flat")
    with caplog.at_level("WARNING", logger="hf_quicktune.data.prepare"):
        load(str(tmp_path / "flat"))
    assert not [r for r in caplog.records if r.name == "hf_quicktune.data.prepare"]
