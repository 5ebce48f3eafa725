"""HDF5 files of images and labels (hf_quicktune/data/hdf5.py): PatchCamelyon's x / y files per split, Galaxy10's
one file of ``images`` and ``ans``, Keras-style names in one file. Was: "unsupported type ('.h5')"."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from hf_quicktune.data import hdf5, load
from hf_quicktune.data.columns import column_values
from hf_quicktune.errors import DatasetError


def _images(n: int, seed: int, size: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """``n`` RGB images whose red channel is 40 + 100 x their class (0-2) and the rest noise; their classes."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    images = rng.integers(0, 256, (n, size, size, 3)).astype(np.uint8)
    images[..., 0] = (40 + 100 * labels)[:, None, None]
    return images, labels


def _classes_by_red(split) -> tuple[list[int], list[int]]:
    reds = [int(np.asarray(row["image"].convert("RGB"))[..., 0].mean()) for row in split]
    return [round((r - 40) / 100) for r in reds], column_values(split, "label")


def test_patchcamelyons_files_by_split(tmp_path: Path, monkeypatch):
    """camelyonpatch_level_2_split_{train,valid,test}_{x,y}.h5 (labels (N, 1, 1, 1)) beside _meta.csv tables; read
    a chunk at a time (a chunk smaller than the split here), in order."""
    monkeypatch.setattr(hdf5, "CHUNK", 7)
    root = tmp_path / "pcam"
    root.mkdir()
    sizes = {"train": 30, "valid": 9, "test": 9}
    for i, (split, n) in enumerate(sizes.items()):
        x, y = _images(n, i)
        with h5py.File(root / f"camelyonpatch_level_2_split_{split}_x.h5", "w") as f:
            f["x"] = x
        with h5py.File(root / f"camelyonpatch_level_2_split_{split}_y.h5", "w") as f:
            f["y"] = y.astype(np.uint8).reshape(-1, 1, 1, 1)
        (root / f"camelyonpatch_level_2_split_{split}_meta.csv").write_text("coord_y,coord_x,tumor_patch\n1,2,True\n")
    prepared = load(str(root))
    assert prepared.info["format"] == "hdf5" and prepared.info["made_splits"] == []
    assert [len(prepared.train), len(prepared.validation), len(prepared.test)] == [30, 9, 9]
    assert prepared.info["arrays"]["camelyonpatch_level_2_split_train"] == (
        "camelyonpatch_level_2_split_train_x/x, camelyonpatch_level_2_split_train_y/y")
    for split in (prepared.train, prepared.validation, prepared.test):
        seen, labels = _classes_by_red(split)
        assert [prepared.class_names[i] for i in labels] == [str(c) for c in seen]
    x, _ = _images(30, 0)  # every image as stored (lossless), in the file's order across chunks of 7
    assert all(np.array_equal(np.asarray(row["image"].convert("RGB")), x[i]) for i, row in enumerate(prepared.train))


def test_images_are_encoded_as_they_are_read(tmp_path: Path):
    """One table of PNGs in datasets' cache, not the arrays and then their images (PCam's 7 GB training array
    was kept twice, and encoding it from the cached arrays took 4-5 times longer: benchmarks/wide_table_load.py
    --hdf5); the layout the pixels module found is said, and arrays of floats in 0-1 are scaled as a table's."""
    import datasets

    x, y = _images(10, 3)
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f["x_train"], f["y_train"] = x.astype(np.float32) / 255, y
    splits, _, _, layout = hdf5.load_hdf5([tmp_path / "data.h5"])
    assert isinstance(splits["train"].features["image"], datasets.Image) and layout is not None
    assert layout.scale == 255 and layout.describe() == "the array column 'image' read as 12x12 RGB images, " \
                                                         "channels last"
    prepared = load(str(tmp_path / "data.h5"))
    assert prepared.info["pixels"] == layout.describe()
    rows = {int(np.asarray(r["image"])[..., 0].mean()): r for r in prepared.train}
    assert all(round((red - 40) / 100) == int(prepared.class_names[r["label"]]) for red, r in rows.items())


def test_galaxy10s_images_and_ans(tmp_path: Path):
    """One file of an image array and one other array of a value per image, whatever their names."""
    x, y = _images(24, 5)
    with h5py.File(tmp_path / "Galaxy10_DECals.h5", "w") as f:
        f["images"] = x
        f["ans"] = y.astype(np.uint8)
    prepared = load(str(tmp_path / "Galaxy10_DECals.h5"))
    assert prepared.info["arrays"] == {"train": "images, ans"} and len(prepared.train) + len(prepared.validation) == 24
    seen, labels = _classes_by_red(prepared.train)
    assert [prepared.class_names[i] for i in labels] == [str(c) for c in seen]


def test_keras_names_in_groups_and_class_names(tmp_path: Path):
    xtr, ytr = _images(18, 1)
    xte, yte = _images(6, 2)
    with h5py.File(tmp_path / "data.hdf5", "w") as f:
        f["train/x_train"], f["train/y_train"] = xtr, ytr
        f["test/x_test"], f["test/y_test"] = xte, yte
        f["class_names"] = np.array([b"red0", b"red1", b"red2"])
    prepared = load(str(tmp_path / "data.hdf5"))
    assert len(prepared.test) == 6 and prepared.class_names == ["red0", "red1", "red2"]
    seen, labels = _classes_by_red(prepared.test)
    assert [prepared.class_names[i] for i in labels] == [f"red{c}" for c in seen]


def test_what_cannot_be_read_says_why(tmp_path: Path):
    with h5py.File(tmp_path / "only.h5", "w") as f:
        f["a"] = np.zeros((4, 8, 8))
        f["b"] = np.zeros((4, 8, 8))
    with pytest.raises(DatasetError, match=r"hold\(s\) no pair of image and label arrays .*a \(4, 8, 8\)"):
        load(str(tmp_path / "only.h5"))
    with h5py.File(tmp_path / "short.h5", "w") as f:
        f["x_train"], f["y_train"] = np.zeros((4, 8, 8)), np.zeros(3)
    with pytest.raises(DatasetError, match="x_train has 4 images and y_train 3 labels"):
        load(str(tmp_path / "short.h5"))
    (tmp_path / "cut.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(DatasetError, match=r"cannot be read as an HDF5 file.*gunzip") as err:
        load(str(tmp_path / "cut.h5"))
    assert err.value.code == "bad_hdf5"


def test_predict_reads_an_hdf5_files_test_images(tmp_path: Path):
    """``predict MODEL data.h5``: the test array's rows (PNG-encoded as in training), with their true classes
    where the file labels them; PCam's test_x.h5 alone: its images, unlabelled, or labelled by test_y.h5 beside
    it."""
    import io

    from PIL import Image

    from hf_quicktune.data.table_images import read_table

    xtr, ytr = _images(8, 1)
    xte, yte = _images(5, 2)
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f["x_train"], f["y_train"], f["x_test"], f["y_test"] = xtr, ytr, xte, yte
        f["class_names"] = np.array([b"red0", b"red1", b"red2"])
    rows = read_table(tmp_path / "data.h5")
    assert [r.key for r in rows] == list(range(5)) and [r.true for r in rows] == [f"red{c}" for c in yte]
    assert all(np.array_equal(np.asarray(Image.open(io.BytesIO(r.value["bytes"])).convert("RGB")), xte[i])
               for i, r in enumerate(rows))
    with h5py.File(tmp_path / "camelyonpatch_level_2_split_test_x.h5", "w") as f:
        f["x"] = xte
    rows = read_table(tmp_path / "camelyonpatch_level_2_split_test_x.h5")
    assert len(rows) == 5 and all(r.true is None for r in rows)
    with h5py.File(tmp_path / "camelyonpatch_level_2_split_test_y.h5", "w") as f:  # its labels beside it
        f["y"] = yte.astype(np.uint8).reshape(-1, 1, 1, 1)
    rows = read_table(tmp_path / "camelyonpatch_level_2_split_test_x.h5")
    assert [r.true for r in rows] == [str(c) for c in yte]
    with h5py.File(tmp_path / "other_y.h5", "w") as f:  # a label file of another length is not taken
        f["y"] = np.zeros(3)
    with h5py.File(tmp_path / "other_x.h5", "w") as f:
        f["x"] = xte
    assert all(r.true is None for r in read_table(tmp_path / "other_x.h5"))
