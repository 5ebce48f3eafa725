"""Every local source through ``load``: ImageFolder, CSV/JSON paths, parquet bytes, overrides, splits."""

from __future__ import annotations

from pathlib import Path

import datasets
import pandas as pd
import pytest

from hf_quicktune.data import load
from hf_quicktune.data.splits import match_splits, stratified_holdout
from hf_quicktune.errors import DatasetError

from .conftest import make_image, png_bytes


def _check_structure(p, classes):
    for split in p.splits.values():
        assert split.column_names == ["image", "label"]
        assert isinstance(split.features["image"], datasets.Image)
        assert isinstance(split.features["label"], datasets.ClassLabel)
    assert p.class_names == classes
    assert p.train[0]["image"].size == (16, 16)


def test_imagefolder_without_splits(tmp_path, write_images):
    write_images({"cat": 5, "dog": 5})
    p = load(str(tmp_path / "images"))
    assert p.source == "imagefolder"
    _check_structure(p, ["cat", "dog"])
    assert len(p.train) + len(p.validation) == 10
    assert set(p.validation["label"]) == {0, 1}
    assert p.meta.num_train == len(p.train) and p.meta.channels == 3 and p.meta.median_width == 16


def test_imagefolder_existing_splits_are_kept(tmp_path, write_images):
    write_images({"cat": 4, "dog": 4}, root="data/train")
    write_images({"cat": 2, "dog": 2}, root="data/validation")
    write_images({"cat": 1, "dog": 1}, root="data/test")
    p = load(str(tmp_path / "data"))
    assert {k: len(v) for k, v in p.splits.items()} == {"train": 8, "validation": 4, "test": 2}
    assert p.info["made_splits"] == []


def test_csv_with_relative_paths_and_string_labels(csv_dataset):
    path = csv_dataset()
    p = load(str(path), val_fraction=0.34)
    assert p.source == "file"
    _check_structure(p, ["cat", "dog", "owl"])
    assert p.info["image_column"] == "filepath" and p.info["label_column"] == "species"
    assert len(p.validation) == 6 and sorted(p.validation["label"]) == [0, 0, 1, 1, 2, 2]
    # the red cat images really are cats after encoding
    cat = p.class_names.index("cat")
    img = p.train[p.train["label"].index(cat)]["image"]
    assert img.getpixel((8, 8))[0] > 150


def test_parquet_with_bytes_column_and_int_labels(tmp_path):
    imgs = [png_bytes(make_image((200, 30, 30) if i % 2 else (30, 30, 200), i)) for i in range(12)]
    path = tmp_path / "d.parquet"
    pd.DataFrame({"blob": imgs, "target": [7 if i % 2 else 3 for i in range(12)], "note": ["x"] * 12}).to_parquet(path)
    p = load(str(path))
    assert p.info["image_column"] == "blob" and p.info["label_column"] == "target"
    assert p.class_names == ["3", "7"]  # non-contiguous ints keep their values as names
    row = p.train[0]
    assert (row["image"].getpixel((4, 4))[0] > 150) == (p.class_names[row["label"]] == "7")


def test_of_several_image_columns_the_picture_is_trained_on_not_its_mask(tmp_path, caplog):
    """A segmentation set's table of ``mask`` and ``img`` (the mask first): the mask was the image, in silence. Now
    the column named like an image, else the first not named like a mask, with a warning naming the others."""
    import datasets
    import numpy as np
    from PIL import Image

    red = [Image.fromarray(np.full((8, 8, 3), (200, 30, 30) if i % 2 else (30, 30, 200), np.uint8)) for i in range(12)]
    masks = [Image.fromarray(np.full((8, 8), 255 * (i % 2), np.uint8)) for i in range(12)]
    feats = {"mask": datasets.Image(), "img": datasets.Image(), "label": datasets.ClassLabel(names=["blue", "red"])}
    datasets.Dataset.from_dict({"mask": masks, "img": red, "label": [i % 2 for i in range(12)]},
                               features=datasets.Features(feats)).to_parquet(str(tmp_path / "seg.parquet"))
    with caplog.at_level("WARNING"):
        p = load(str(tmp_path / "seg.parquet"))
    assert p.info["image_column"] == "img" and p.train[0]["image"].mode == "RGB"
    assert caplog.text.count("2 image columns: using 'img'; also 'mask' (a mask). Choose with --image-column") == 1
    feats = {"gt_mask": datasets.Image(), "scan": datasets.Image(), "label": datasets.ClassLabel(names=["b", "r"])}
    datasets.Dataset.from_dict({"gt_mask": masks, "scan": red, "label": [i % 2 for i in range(12)]},
                               features=datasets.Features(feats)).to_parquet(str(tmp_path / "scan.parquet"))
    assert load(str(tmp_path / "scan.parquet")).info["image_column"] == "scan"  # no image name: not the mask
    assert load(str(tmp_path / "scan.parquet"), image_column="gt_mask").info["image_column"] == "gt_mask"
    for i, (picture, mask) in enumerate(zip(red, masks)):  # a CSV of paths: mask_path first, img_path (no such name)
        picture.save(tmp_path / f"p{i}.png")
        mask.save(tmp_path / f"m{i}.png")
    pd.DataFrame({"mask_path": [f"m{i}.png" for i in range(12)], "img_path": [f"p{i}.png" for i in range(12)],
                  "label": ["red" if i % 2 else "blue" for i in range(12)]}).to_csv(tmp_path / "seg.csv", index=False)
    assert load(str(tmp_path / "seg.csv")).info["image_column"] == "img_path"


def test_a_list_of_one_class_per_image_is_that_class(tmp_path):
    """A multi-label schema holding single-label data (``labels: [3]``; a ``Sequence(ClassLabel)`` of one label per
    image): was refused as multi-label; read as the class, its ClassLabel names kept. A list with a row of two
    labels, or of none, is still refused, and says how many."""
    import datasets

    imgs = [png_bytes(make_image((200, 30, 30) if i % 2 else (30, 30, 200), i)) for i in range(12)]
    pd.DataFrame({"blob": imgs, "labels": [[7] if i % 2 else [3] for i in range(12)]}).to_parquet(tmp_path / "a.parquet")
    p = load(str(tmp_path / "a.parquet"))
    assert p.class_names == ["3", "7"] and p.info["label_column"] == "labels"
    row = p.train[0]
    assert (row["image"].getpixel((4, 4))[0] > 150) == (p.class_names[row["label"]] == "7")
    feats = datasets.Features({"blob": datasets.Image(), "labels": datasets.Sequence(datasets.ClassLabel(
        names=["blue", "red"]))})
    data = {"blob": [{"bytes": b, "path": None} for b in imgs], "labels": [[i % 2] for i in range(12)]}
    datasets.Dataset.from_dict(data, features=feats).to_parquet(str(tmp_path / "b.parquet"))
    p = load(str(tmp_path / "b.parquet"))
    assert p.class_names == ["blue", "red"]
    assert (p.train[0]["image"].getpixel((4, 4))[0] > 150) == (p.class_names[p.train[0]["label"]] == "red")
    (tmp_path / "comp").mkdir()  # a competition's train.parquet of lists beside a test.parquet without labels
    datasets.Dataset.from_dict(data, features=feats).to_parquet(str(tmp_path / "comp" / "train.parquet"))
    pd.DataFrame({"blob": imgs[:3]}).to_parquet(tmp_path / "comp" / "test.parquet")
    assert load(str(tmp_path / "comp")).class_names == ["blue", "red"]
    data["labels"][5] = []
    datasets.Dataset.from_dict(data, features=feats).to_parquet(str(tmp_path / "c.parquet"))
    with pytest.raises(DatasetError, match="'labels' holds lists: 1 of its 12 rows hold no label"):
        load(str(tmp_path / "c.parquet"))


def test_a_label_column_that_cannot_hold_one_class_per_image_is_refused(tmp_path):
    imgs = [png_bytes(make_image((200, 30, 30) if i % 2 else (30, 30, 200), i)) for i in range(12)]
    path = tmp_path / "d.parquet"
    pd.DataFrame({"blob": imgs, "tags": [[i % 2, 5] for i in range(12)], "score": [i / 4 for i in range(12)],
                  "whole": [7.0 if i % 2 else 3.0 for i in range(12)]}).to_parquet(path)
    with pytest.raises(DatasetError, match="'tags' holds lists: 12 of its 12 rows hold several labels.*single-label"):
        load(str(path), label_column="tags")
    with pytest.raises(DatasetError, match=r"'score' holds numbers that are not whole \(e.g. 0.25\)"):
        load(str(path), label_column="score")
    # whole numbers stored as floats (pandas turns an int column with a gap into floats) are classes
    p = load(str(path), label_column="whole")
    assert p.class_names == ["3", "7"]
    row = p.train[0]
    assert (row["image"].getpixel((4, 4))[0] > 150) == (p.class_names[row["label"]] == "7")
    # and a NaN among them is a missing label, not a class; named like a label, such a column is found
    pd.DataFrame({"blob": imgs, "label": [float("nan")] + [7.0 if i % 2 else 3.0 for i in range(11)]}).to_parquet(path)
    with pytest.raises(DatasetError, match="'label' of split 'train' has 1 missing value"):
        load(str(path))


def test_json_lines_and_column_overrides(tmp_path, write_images):
    rows = write_images({"a": 4, "b": 4})
    path = tmp_path / "d.jsonl"
    pd.DataFrame({"pic": [r[0] for r in rows], "kind": [r[1] for r in rows],
                  "label": [0] * len(rows)}).to_json(path, orient="records", lines=True)
    # without overrides the constant 'label' column would be picked, and it has a single class
    with pytest.raises(DatasetError, match="at least 2"):
        load(str(path))
    p = load(str(path), image_column="pic", label_column="kind")
    assert p.class_names == ["a", "b"]
    with pytest.raises(DatasetError, match="--image-column 'nope'"):
        load(str(path), image_column="nope")
    with pytest.raises(DatasetError, match="--label-column 'nope'"):
        load(str(path), image_column="pic", label_column="nope")


def test_split_mapping():
    assert match_splits(["train", "dev", "test"]) == {"train": "train", "validation": "dev", "test": "test"}
    assert match_splits(["full"]) == {"train": "full"}
    # in any case: Kaggle's Training/ and Testing/ folders were "cannot tell which split is the training split"
    assert match_splits(["Testing", "Training"]) == {"train": "Training", "test": "Testing"}
    assert match_splits(["TRAIN", "Val"]) == {"train": "TRAIN", "validation": "Val"}
    assert match_splits(["a", "b"], {"train": "a", "validation": "b"}) == {"train": "a", "validation": "b"}
    with pytest.raises(DatasetError, match="--split train=NAME"):
        match_splits(["a", "b"])
    with pytest.raises(DatasetError, match="does not exist"):
        match_splits(["train"], {"validation": "holdout"})
    with pytest.raises(DatasetError, match=r"train=train and validation=train gives one split two roles: the trials "
                                           r"would be scored on the images they train on"):
        match_splits(["train", "test"], {"train": "train", "validation": "train"})


def test_stratified_holdout_properties():
    labels = [0] * 50 + [1] * 10 + [2] * 3
    idx = stratified_holdout(labels, {"validation": 0.2, "test": 0.1}, seed=5)
    allidx = sorted(i for v in idx.values() for i in v)
    assert allidx == list(range(63))  # a partition
    for c, n in ((0, 50), (1, 10), (2, 3)):
        val = sum(labels[i] == c for i in idx["validation"])
        test = sum(labels[i] == c for i in idx["test"])
        assert val >= 1 and test >= 1 and n - val - test >= 1
    assert sum(labels[i] == 0 for i in idx["validation"]) == 10
    again = stratified_holdout(labels, {"validation": 0.2, "test": 0.1}, seed=5)
    assert all((again[k] == idx[k]).all() for k in idx)


def test_fingerprint_depends_on_content(tmp_path, write_images):
    write_images({"cat": 4, "dog": 4})
    a = load(str(tmp_path / "images"))
    b = load(str(tmp_path / "images"))
    assert a.fingerprint == b.fingerprint
    make_image((0, 0, 0), 99).save(Path(tmp_path / "images" / "cat" / "cat_0.png"))
    c = load(str(tmp_path / "images"))
    assert c.fingerprint != a.fingerprint


def test_classlabel_minus_one(tmp_path):
    """ClassLabel -1 means "no label": a fully unlabelled test split is ignored, a partly unlabelled one is an error."""
    feats = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b"])})
    imgs = [make_image((200, 0, 0) if i % 2 else (0, 0, 200), i) for i in range(8)]
    train = datasets.Dataset.from_dict({"image": imgs, "label": [i % 2 for i in range(8)]}, features=feats)
    test = datasets.Dataset.from_dict({"image": imgs[:3], "label": [-1, -1, -1]}, features=feats)
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(str(tmp_path / "dd"))
    for split in ("train", "test"):
        (tmp_path / "pq").mkdir(exist_ok=True)
        datasets.load_from_disk(str(tmp_path / "dd"))[split].to_parquet(str(tmp_path / "pq" / f"{split}.parquet"))
    p = load(str(tmp_path / "pq"))  # a directory of split-named data files; its test split has no labels
    assert p.source == "file" and p.test is None and p.class_names == ["a", "b"]
    assert p.info["source_splits"] == {"train": "train"} and len(p.train) + len(p.validation) == 8
    bad = train.cast_column("label", datasets.ClassLabel(names=["a", "b"])).map(
        lambda r, i: {"label": -1 if i == 2 else r["label"]}, with_indices=True)
    bad.to_parquet(str(tmp_path / "bad.parquet"))
    with pytest.raises(DatasetError, match=r"1 missing value\(s\) \(rows \[2\]\)"):
        load(str(tmp_path / "bad.parquet"))


@pytest.mark.parametrize(("columns", "chosen"), [
    (("coarse_label", "fine_label"), "fine_label"),  # CIFAR-100's pair, coarse first: the one named like a label
    (("species", "breed"), "species"),  # none named like a label: the first, said
])
def test_several_class_columns_choose_one_named_like_a_label_and_say_so(tmp_path, caplog, columns, chosen):
    names = {columns[0]: ["p", "q"], columns[1]: ["a", "b", "c", "d"]}
    feats = datasets.Features({"image": datasets.Image(),
                               **{c: datasets.ClassLabel(names=names[c]) for c in columns}})
    rows = {"image": [make_image((60 * (i % 4), 0, 0), i) for i in range(16)],
            columns[0]: [i % 2 for i in range(16)], columns[1]: [i % 4 for i in range(16)]}
    datasets.Dataset.from_dict(rows, features=feats).to_parquet(str(tmp_path / "two.parquet"))
    with caplog.at_level("WARNING", logger="hf_quicktune.data.columns"):
        p = load(str(tmp_path / "two.parquet"))
    assert p.class_names == names[chosen] and p.info["label_column"] == chosen
    other = next(c for c in columns if c != chosen)
    (message,) = [r.getMessage() for r in caplog.records if r.name == "hf_quicktune.data.columns"]
    assert message == (f"2 class columns: using '{chosen}' ({len(names[chosen])} classes); also '{other}' "
                       f"({len(names[other])} classes). Choose with --label-column NAME.")
    assert load(str(tmp_path / "two.parquet"), label_column=other).class_names == names[other]


def test_a_long_tails_rare_classes_stay_in_train():
    """A class with one image (a scraped set's long tail) trains and is never validated (coverage_warnings says
    so); one with two gives its second to validation before test. Was: an error for the whole dataset."""
    labels = [0] * 20 + [1] * 20 + [2] + [3] * 2
    idx = stratified_holdout(labels, {"validation": 0.2, "test": 0.1}, seed=0)
    where = {split: sorted({labels[i] for i in rows}) for split, rows in idx.items()}
    assert where == {"train": [0, 1, 2, 3], "validation": [0, 1, 3], "test": [0, 1]}
    assert sorted(i for rows in idx.values() for i in rows) == list(range(len(labels)))
    with pytest.raises(DatasetError, match="no class has the 2 examples"):
        stratified_holdout([0, 1, 2], {"validation": 0.2}, seed=0)


def test_a_rare_class_loads_with_a_warning(tmp_path, write_images, caplog):
    write_images({"cat": 8, "dog": 8, "owl": 1})
    with caplog.at_level("WARNING"):
        ds = load(str(tmp_path / "images"))
    assert ds.class_names == ["cat", "dog", "owl"] and len(ds.validation) == 4
    assert "1 class(es) have training images and none in the validation split: 'owl'" in caplog.text


def test_a_table_of_jfif_paths_is_a_table_of_images(tmp_path):
    """Browsers save JPEGs as .jfif: datasets reads them in a folder, and a table naming them was 'no image
    column' (its own, shorter, extension list)."""
    import pandas as pd

    rows = []
    for i in range(8):
        make_image((200, 0, 0) if i % 2 else (0, 0, 200), i).save(tmp_path / f"{i}.jfif", format="JPEG")
        rows.append((f"{i}.jfif", "red" if i % 2 else "blue"))
    pd.DataFrame(rows, columns=["picture", "colour"]).to_csv(tmp_path / "data.csv", index=False)
    ds = load(str(tmp_path / "data.csv"))
    assert ds.info["image_column"] == "picture" and ds.class_names == ["blue", "red"]


def test_an_arrow_file_alone(tmp_path):
    """A ``save_to_disk`` shard (``data-00000-of-00001.arrow``) or a datasets cache file passed alone, or in a
    folder without the state files: was "a file of an unsupported type ('.arrow')"."""
    import datasets

    imgs = [png_bytes(make_image((200, 30, 30) if i % 2 else (30, 30, 200), i)) for i in range(12)]
    feats = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["blue", "red"])})
    datasets.Dataset.from_dict({"image": [{"bytes": b, "path": None} for b in imgs], "label": [i % 2 for i in range(12)]},
                               features=feats).save_to_disk(str(tmp_path / "saved"))
    shard = tmp_path / "saved" / "data-00000-of-00001.arrow"
    p = load(str(shard))
    assert p.class_names == ["blue", "red"] and len(p.train) + len(p.validation) == 12
    (tmp_path / "bare").mkdir()
    shard.rename(tmp_path / "bare" / shard.name)
    assert load(str(tmp_path / "bare")).class_names == ["blue", "red"]
