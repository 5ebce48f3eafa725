"""An ImageFolder's classes are its top folders, however deep the images lie (torchvision's ImageFolder);
datasets' imagefolder named them by each image's own folder (hf_quicktune/data/imagefolder.py)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from hf_quicktune.data import load
from hf_quicktune.data.columns import column_values
from hf_quicktune.errors import DatasetError

from .conftest import COLOURS, make_image


def _write(root: Path, layout: dict[str, int]) -> None:
    """``layout``: relative folder -> number of images written in it."""
    for seed, (folder, n) in enumerate(layout.items()):
        (root / folder).mkdir(parents=True, exist_ok=True)
        top = folder.split("/")[-1] if folder.split("/")[0] in ("train", "validation") else folder.split("/")[0]
        for i in range(n):
            make_image(COLOURS.get(top, (128, 128, 128)), 100 * seed + i).save(root / folder / f"{i}.png")


def _counts(ds) -> dict[str, Counter]:
    names = ds.class_names
    return {s: Counter(names[i] for i in column_values(split, "label")) for s, split in ds.splits.items()}


def test_images_in_sub_folders_of_a_class_folder_take_the_top_folders_class(tmp_path, caplog):
    """``cat/session1/0.png``: the class is cat (datasets said session1, for cats and dogs alike)."""
    _write(tmp_path / "pets", {"cat/session1": 5, "cat/session2": 5, "dog/session1": 6, "dog/session2": 4})
    with caplog.at_level("WARNING"):
        ds = load(str(tmp_path / "pets"))
    assert ds.class_names == ["cat", "dog"]
    counts = _counts(ds)
    assert counts["train"] + counts["validation"] == Counter({"cat": 10, "dog": 10})
    assert any("class folders hold sub-folders (cat/, dog/)" in r.getMessage() for r in caplog.records)


def test_a_class_folder_with_images_directly_and_in_a_sub_folder_keeps_its_labels(tmp_path):
    """datasets dropped every label of such a folder ("no class sub-folders")."""
    _write(tmp_path / "pets", {"cat": 6, "cat/extra": 4, "dog": 8, "owl": 3, "owl/more/deep": 5})
    ds = load(str(tmp_path / "pets"))
    counts = _counts(ds)
    assert counts["train"] + counts["validation"] == Counter({"cat": 10, "dog": 8, "owl": 8})


def test_split_folders_with_nested_classes(tmp_path):
    _write(tmp_path / "ds", {"train/cat/a": 6, "train/dog": 6, "validation/cat/b": 2, "validation/dog/c": 3})
    ds = load(str(tmp_path / "ds"))
    assert _counts(ds) == {"train": Counter({"cat": 6, "dog": 6}), "validation": Counter({"cat": 2, "dog": 3})}


def test_top_folders_not_named_like_splits_are_classes_even_when_they_hold_folders_only(tmp_path):
    """Before, any top level of folder-only folders was taken for splits: ``cat/`` and ``dog/`` became splits and the
    run asked which one was the training split."""
    _write(tmp_path / "pets", {"cat/indoor": 6, "dog/outdoor": 6})
    assert load(str(tmp_path / "pets")).class_names == ["cat", "dog"]


def test_images_outside_any_class_folder_are_refused(tmp_path):
    _write(tmp_path / "pets", {"cat": 6, "dog": 6})
    make_image((0, 0, 0), 7).save(tmp_path / "pets" / "stray.png")
    with pytest.raises(DatasetError, match=r"1 image\(s\) of .*pets lie outside any class folder \(stray\.png\)"):
        load(str(tmp_path / "pets"))


def test_one_class_and_no_class_folders_are_still_refused(tmp_path):
    _write(tmp_path / "one", {"cat/a": 4, "cat/b": 4})
    with pytest.raises(DatasetError, match=r"has one class \('cat'\)"):
        load(str(tmp_path / "one"))
    _write(tmp_path / "flat", {"": 6})
    with pytest.raises(DatasetError, match="no class sub-folders"):
        load(str(tmp_path / "flat"))


def test_capitalised_split_folders_are_splits(tmp_path):
    """Kaggle's Training/ and Testing/ (the brain-tumour MRI set): the run asked which split was for training."""
    _write(tmp_path / "mri", {"Training/cat": 6, "Training/dog": 6, "Testing/cat": 2, "Testing/dog": 2})
    ds = load(str(tmp_path / "mri"))
    assert ds.test is not None and len(ds.test) == 4 and len(ds.train) + len(ds.validation) == 12


def test_symlinked_class_folders_are_read(tmp_path):
    """``train/cat -> /data/cats``: datasets' file patterns do not descend into linked folders ("no data")."""
    _write(tmp_path / "store", {"cat": 6, "dog": 6, "owl": 4})
    for split, classes in (("train", ("cat", "dog")), ("validation", ())):
        (tmp_path / "ds" / split).mkdir(parents=True)
        for name in classes:
            (tmp_path / "ds" / split / name).symlink_to(tmp_path / "store" / name)
    (tmp_path / "ds" / "validation" / "cat").mkdir()  # a real folder beside the links
    _write(tmp_path / "ds" / "validation", {"cat": 2, "dog": 2})
    (tmp_path / "ds" / "train" / "loop").symlink_to(tmp_path / "ds" / "train")  # a link back up is not followed
    ds = load(str(tmp_path / "ds"))
    assert _counts(ds)["train"] == Counter({"cat": 6, "dog": 6})


def test_a_folder_s_images_are_the_rows_datasets_imagefolder_reads_in_its_order(tmp_path):
    """The splits are built from the load's own walk, not by datasets' imagefolder (which resolved and prepared
    every file again: `benchmarks/folder_listing.py --whole`): the same rows in the same order (the carve's draw and the fingerprint
    follow it), on nested folders, a linked class folder, a link to a file, a broken link, hidden files, a tool's
    folder and notes."""
    import datasets

    from hf_quicktune.data.folder_files import walk_folder
    from hf_quicktune.data.imagefolder import _image_split

    _write(tmp_path / "store", {"owl": 3, "owl/night": 2})
    root = tmp_path / "ds"
    _write(root, {"cat": 3, "cat/session2": 2, "cat/session10": 2, "dog": 4, "dog/a/b": 1})
    (root / "owl").symlink_to(tmp_path / "store" / "owl")
    (root / "dog" / "same.png").symlink_to(root / "cat" / "0.png")
    (root / "dog" / "gone.png").symlink_to(root / "missing.png")
    (root / "dog" / ".hidden.png").write_bytes((root / "cat" / "0.png").read_bytes())
    (root / "__MACOSX" / "cat").mkdir(parents=True)
    (root / "__MACOSX" / "cat" / "._0.png").write_bytes(b"fork")
    (root / "cat" / "notes.txt").write_text("taken at noon")
    patterns = [str(root) + "/**", str(root / "owl") + "/**"]
    expected = datasets.load_dataset("imagefolder", data_files={"train": patterns}, drop_labels=True)["train"]
    built = _image_split(walk_folder(root))
    paths = [v["path"] for v in built.cast_column("image", datasets.Image(decode=False))["image"]]
    assert paths == [v["path"] for v in expected.cast_column("image", datasets.Image(decode=False))["image"]]
    assert len(paths) == 3 + 2 + 2 + 4 + 1 + 1 + 3 + 2 and built.features == expected.features
    # datasets' fingerprint keys the image check's memory: the same files give the same one in every load
    assert _image_split(walk_folder(root))._fingerprint == built._fingerprint
    counts = _counts(load(str(root)))  # validation carved from train
    assert counts["train"] + counts["validation"] == Counter({"cat": 7, "dog": 6, "owl": 5})


def test_an_unlabelled_test_folder_beside_labelled_splits_is_left_out_and_said(tmp_path, caplog):
    """A competition's layout: train/CLASS/... and test/ of unlabelled images. The top folders were taken for the
    classes ("train" and "test")."""
    _write(tmp_path / "comp", {"train/cat": 6, "train/dog": 6, "test": 4})
    with caplog.at_level("WARNING"):
        ds = load(str(tmp_path / "comp"))
    assert ds.class_names == ["cat", "dog"] and ds.test is None
    assert "test/ holds images without class folders" in caplog.text and "hf-quicktune predict" in caplog.text
    assert ds.info["unlabelled"] == [str((tmp_path / "comp" / "test").absolute())]  # run's summary names it
    _write(tmp_path / "flat", {"train": 6, "test": 4})
    with pytest.raises(DatasetError, match=r"split folders \(test/, train/\) of images but no class folders"):
        load(str(tmp_path / "flat"))


def test_folders_named_like_splits_are_not_classes(tmp_path):
    """RSNA's image folders without their table (stage_2_train_images/, stage_2_test_images/): refused, where a
    classifier of the two folders was trained before; a class with a split's word (test_tube/) stays a class."""
    from PIL import Image

    def write(root, folders):
        for folder in folders:
            (root / folder).mkdir(parents=True)
            for i in range(4):
                Image.new("RGB", (8, 8), (40 * i, 90, 200 if "tube" in folder else 20)).save(root / folder / f"{i}.png")

    write(tmp_path / "rsna", ["stage_2_train_images", "stage_2_test_images"])
    with pytest.raises(DatasetError, match=r"holds split folders \(stage_2_test_images/, stage_2_train_images/\) of "
                                           "images but no class folders in them, so it has no labels"):
        load(str(tmp_path / "rsna"))
    write(tmp_path / "lab", ["test_tube", "beaker"])
    assert load(str(tmp_path / "lab")).class_names == ["beaker", "test_tube"]
    write(tmp_path / "places", ["train_station", "test_tube", "bus"])  # a train-like class among others
    assert load(str(tmp_path / "places")).class_names == ["bus", "test_tube", "train_station"]


def test_split_folders_named_by_a_word_and_wrapping_their_classes(tmp_path, caplog):
    """Intel's scenes (seg_train/seg_train/CLASS, seg_test/seg_test/CLASS, seg_pred/seg_pred/ unlabelled) trained a
    classifier of its three folders; ``training_set/training_set/CLASS`` and ``test_set/`` the same."""
    _write(tmp_path / "intel", {"seg_train/seg_train/cat": 4, "seg_train/seg_train/dog": 4,
                                "seg_test/seg_test/cat": 2, "seg_test/seg_test/dog": 2, "seg_pred/seg_pred": 3})
    with caplog.at_level("WARNING"):
        ds = load(str(tmp_path / "intel"))
    assert ds.class_names == ["cat", "dog"] and _counts(ds)["test"] == Counter({"cat": 2, "dog": 2})
    assert ds.info["unlabelled"] == [str(tmp_path / "intel" / "seg_pred" / "seg_pred")]  # what to classify after
    assert "seg_pred/ holds images without class folders" in caplog.text
    _write(tmp_path / "cd", {"training_set/training_set/cat": 4, "training_set/training_set/dog": 4,
                             "test_set/test_set/cat": 2, "test_set/test_set/dog": 2})
    ds = load(str(tmp_path / "cd"))
    assert _counts(ds)["test"] == Counter({"cat": 2, "dog": 2}) and ds.info["source_splits"]["train"] == "training_set"


def test_a_download_wrapping_its_dataset_beside_macos_resource_forks(tmp_path):
    """An unzipped chest_xray.zip: chest_xray/{train,val,test}/CLASS beside __MACOSX/ (resource forks, ._*.jpeg):
    "one class ('chest_xray')" before. One folder of class folders is still one class, with the folder to pass."""
    _write(tmp_path / "dl", {f"chest_xray/{s}/{c}": 3 for s in ("train", "val", "test") for c in ("cat", "dog")})
    for s in ("train", "test"):
        (tmp_path / "dl" / "__MACOSX" / "chest_xray" / s).mkdir(parents=True)
        (tmp_path / "dl" / "__MACOSX" / "chest_xray" / s / "._0.png").write_bytes(b"\x00\x05\x16\x07" + bytes(40))
    ds = load(str(tmp_path / "dl"))
    assert ds.class_names == ["cat", "dog"] and len(ds.test) == 6 and len(ds.validation) == 6
    _write(tmp_path / "Garbage", {"Garbage/cat": 3, "Garbage/dog": 3})  # a zip's doubled folder
    assert load(str(tmp_path / "Garbage")).class_names == ["cat", "dog"]
    _write(tmp_path / "ms", {"PetImages/cat": 3, "PetImages/dog": 3})
    with pytest.raises(DatasetError, match=r"has one class \('PetImages'\)") as err:
        load(str(tmp_path / "ms"))
    assert f"its folders (cat/, dog/) the classes, pass --dataset {tmp_path / 'ms' / 'PetImages'}" in err.value.fix


def test_segmentation_masks_beside_the_images_are_not_images_of_their_class(tmp_path, caplog):
    """COVID-19 Radiography's CLASS/images/ and CLASS/masks/; BUSI's `benign (1).png` beside `benign (1)_mask.png`
    (and a second `_mask_1`): every mask was one more image of its class. A face-mask class keeps its images."""
    _write(tmp_path / "covid", {"cat/images": 4, "cat/masks": 4, "dog/images": 4, "dog/masks": 4})
    with caplog.at_level("WARNING"):
        ds = load(str(tmp_path / "covid"))
    assert sum(_counts(ds)["train"].values()) + sum(_counts(ds)["validation"].values()) == 8
    assert "8 file(s) are segmentation masks beside the images" in caplog.text
    _write(tmp_path / "busi", {"cat": 4, "dog": 4})
    for cls in ("cat", "dog"):
        for i in range(4):
            make_image((0, 0, 0), 50 + i).save(tmp_path / "busi" / cls / f"{i}_mask.png")
        make_image((0, 0, 0), 60).save(tmp_path / "busi" / cls / "0_mask_1.png")
    ds = load(str(tmp_path / "busi"))
    assert sum(len(s) for s in ds.splits.values()) == 8
    _write(tmp_path / "named", {"cat": 4, "dog": 4})  # other sets' namings: _seg, _segmentation, _gt (ISIC's, ...)
    for cls in ("cat", "dog"):
        for i, suffix in enumerate(("seg", "segmentation", "gt", "GT_2")):
            make_image((0, 0, 0), 70 + i).save(tmp_path / "named" / cls / f"{i}_{suffix}.png")
    assert sum(len(s) for s in load(str(tmp_path / "named")).splits.values()) == 8
    _write(tmp_path / "faces", {"with_mask": 3, "without_mask": 3})
    (tmp_path / "faces" / "with_mask" / "0.png").rename(tmp_path / "faces" / "with_mask" / "face_mask.png")
    assert sum(len(s) for s in load(str(tmp_path / "faces")).splits.values()) == 6


def test_a_segmentation_sets_images_and_masks_are_not_two_classes(tmp_path):
    """Kvasir-SEG's images/ and masks/ trained a classifier of pictures against masks."""
    _write(tmp_path / "kvasir", {"images": 4, "masks": 4})
    with pytest.raises(DatasetError, match=r"holds images and their segmentation masks \(images/, masks/\)") as err:
        load(str(tmp_path / "kvasir"))
    assert err.value.code == "segmentation_dataset"
    _write(tmp_path / "masks-or-not", {"masks": 4, "hats": 4})  # a class of masks beside a class of hats: classes
    assert load(str(tmp_path / "masks-or-not")).class_names == ["hats", "masks"]


def _metadata(folder: Path, rows: dict[str, str], column: str = "caption") -> None:
    """datasets' ``metadata.csv`` in ``folder``: ``rows`` maps each image's path below it to its ``column``."""
    folder.joinpath("metadata.csv").write_text(f"file_name,{column}\n" + "".join(f"{f},{v}\n" for f, v in rows.items()))


def test_class_folders_with_a_metadata_file_that_names_no_class_keep_their_classes(tmp_path, caplog):
    """A ``metadata.csv`` of captions beside class folders: datasets reads its columns and drops the folders' classes,
    so the only column left was the caption (one 'class', or 'captions, not classes'); the classes are the folders,
    said, and every image the metadata leaves out is counted in a warning (datasets dropped them in silence)."""
    _write(tmp_path / "pets", {"cat": 6, "dog": 6})
    _metadata(tmp_path / "pets", {f"{c}/{i}.png": "a pet" for c in ("cat", "dog") for i in range(5)})  # 10 of 12
    with caplog.at_level("WARNING"):
        ds = load(str(tmp_path / "pets"))
    assert ds.class_names == ["cat", "dog"]
    counts = _counts(ds)
    assert counts["train"] + counts["validation"] == Counter({"cat": 5, "dog": 5})
    assert "2 of the 12 images of " in caplog.text and "are not in its metadata file (e.g. cat/5.png)" in caplog.text
    assert "the metadata file names no class (its columns: caption)" in caplog.text
    # a metadata file that names the classes is datasets' reading as before: its column, not the folders
    _metadata(tmp_path / "pets", {f"{c}/{i}.png": ("tabby" if i % 2 else "other") for c in ("cat", "dog")
                                  for i in range(6)}, column="label")
    assert sorted(load(str(tmp_path / "pets")).class_names) == ["other", "tabby"]


def test_a_split_folder_without_the_metadata_file_its_sibling_has_is_said(tmp_path):
    """datasets answered 'Instruction "split1" corresponds to no data!' (it reads a folder's images through its
    metadata files, every split's or none)."""
    _write(tmp_path / "ds", {"train/cat": 4, "train/dog": 4, "validation/cat": 2, "validation/dog": 2})
    _metadata(tmp_path / "ds" / "train", {f"{c}/{i}.png": "x" for c in ("cat", "dog") for i in range(4)})
    with pytest.raises(DatasetError) as err:
        load(str(tmp_path / "ds"))
    assert err.value.code == "metadata_split"
    assert "train/ holds a metadata file (metadata.csv) and validation/ none" in str(err.value)
    assert "Add one to validation/" in err.value.fix
