"""``data inspect --samples``: a grid of training images, a row per class, drawn as training reads them."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from hf_quicktune.cli import main
from hf_quicktune.data.sampling import rows_per_class


def test_rows_per_class_and_the_most_frequent_classes():
    labels = [0] * 3 + [1] * 20 + [2] * 10 + [3] * 5
    rows = rows_per_class(labels, per_class=4, max_classes=3, seed=1)
    assert list(rows) == [1, 2, 3]  # the three most frequent, in class order
    assert [len(r) for r in rows.values()] == [4, 4, 4]
    assert all(labels[i] == cls for cls, r in rows.items() for i in r)
    assert rows == rows_per_class(labels, per_class=4, max_classes=3, seed=1)
    assert rows_per_class(labels, per_class=8, max_classes=20)[0] == [0, 1, 2]  # fewer images than asked: all


def test_the_grid_shows_each_class_images(tmp_path, capsys):
    colours = {"red": (230, 10, 10), "green": (10, 230, 10), "blue": (10, 10, 230)}
    for name, colour in colours.items():
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(5):
            Image.new("RGB", (16, 16), colour).save(tmp_path / "data" / name / f"{i}.png")
    out = tmp_path / "grid.png"
    assert main(["data", "inspect", str(tmp_path / "data"), "--samples", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == str(out)
    pixels = np.asarray(Image.open(out).convert("RGB")).reshape(-1, 3).astype(int)
    for colour in colours.values():  # each class's images are drawn
        assert (np.abs(pixels - np.asarray(colour)).sum(axis=1) < 30).sum() > 500, colour
