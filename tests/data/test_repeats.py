"""A table that names an image in several rows (a row per box: RSNA Pneumonia's labels; a row per reader) holds
each image once; an image named with several labels is said to be multi-label (data/repeats.py)."""

from __future__ import annotations

import logging

import numpy as np
from PIL import Image

from hf_quicktune.data import load


def _table(root, rows_of: dict[int, list[str]]) -> None:
    """``root/images/p{i}.png`` and ``root/train_labels.csv`` (``patientId, x, y, width, height, Target``) with a
    row per label of ``rows_of[i]``."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    lines = ["patientId,x,y,width,height,Target"]
    for i, labels in rows_of.items():
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(root / "images" / f"p{i}.png")
        lines += [f"p{i},{'10,10,5,5' if label == '1' else ',,,'},{label}" for label in labels]
    (root / "train_labels.csv").write_text("\n".join(lines) + "\n")


def test_a_row_per_box_gives_each_image_once(tmp_path, caplog):
    _table(tmp_path / "rsna", {i: ["1"] * 3 if i % 2 else ["0"] for i in range(40)})  # positives: three boxes each
    with caplog.at_level(logging.WARNING):
        prepared = load(str(tmp_path / "rsna"), seed=0)
    labels = [lab for split in prepared.splits.values() for lab in split["label"]]
    assert len(labels) == 40 and labels.count(0) == labels.count(1) == 20  # not 20 negatives against 60 positives
    assert "40 of the 80 rows of the 'train' split repeat an earlier row's image and label" in caplog.text
    assert "byte-for-byte copies" not in caplog.text  # no copy of a training image in validation


def test_an_image_named_with_two_labels_is_said_to_be_multi_label_and_kept(tmp_path, caplog):
    _table(tmp_path / "vin", {0: ["0", "1"], **{i: [str(i % 2)] for i in range(1, 30)}})
    with caplog.at_level(logging.WARNING):
        prepared = load(str(tmp_path / "vin"), seed=0)
    assert sum(len(s) for s in prepared.splits.values()) == 31
    assert "1 image(s) of the 'train' split are named with more than one label in 'Target' (e.g. p0.png: 0, 1)" in caplog.text
    assert "repeat an earlier row" not in caplog.text
