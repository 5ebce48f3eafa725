"""An ImageFolder's files that datasets' imagefolder would ignore: a class of them is refused, others warned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hf_quicktune.data import load
from hf_quicktune.errors import DatasetError

HEIC = b"\x00\x00\x00\x18ftypheic" + bytes(200)  # an iPhone photo's header: Pillow cannot open it


def _folder(root: Path, classes: dict[str, tuple[int, int]]) -> Path:
    """``root/CLASS/`` with (PNG images, HEIC files) per class."""
    rng = np.random.default_rng(0)
    for name, (pngs, heics) in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(pngs):
            Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(root / name / f"{i}.png")
        for i in range(heics):
            (root / name / f"IMG_{i:04d}.HEIC").write_bytes(HEIC)
    return root


def test_a_class_folder_of_heic_photos_is_refused_not_dropped(tmp_path):
    root = _folder(tmp_path / "pets", {"cat": (8, 0), "dog": (8, 0), "bird": (0, 6)})
    (root / "cat" / "notes.txt").write_text("shot in 2026")  # a note is not an image left out
    with pytest.raises(DatasetError, match=r"1 class folder\(s\) hold no file of an image type.*bird/: 6 \.heic"
                                           r".*heif-convert") as err:
        load(str(root))
    assert err.value.code == "unreadable_class" and "cat" not in str(err.value).split("Convert")[0]


def test_split_folders_name_the_split_and_class(tmp_path):
    _folder(tmp_path / "ds" / "train", {"cat": (8, 0), "dog": (8, 0)})
    _folder(tmp_path / "ds" / "validation", {"cat": (3, 0), "dog": (0, 3)})
    with pytest.raises(DatasetError, match=r"validation/dog/: 3 \.heic"):
        load(str(tmp_path / "ds"))


def test_unread_files_beside_images_are_counted_in_a_warning(tmp_path, caplog):
    root = _folder(tmp_path / "pets", {"cat": (8, 2), "dog": (8, 0)})
    (root / "dog" / "sub").mkdir()
    (root / "dog" / "sub" / "x.avif").write_bytes(b"\x00" * 32)
    (root / "dog" / ".DS_Store").write_bytes(b"\x00")
    (root / "dog" / "labels.csv").write_text("a,b\n")
    with caplog.at_level("WARNING"):
        ds = load(str(root))
    assert ds.num_classes == 2
    warned = [r.getMessage() for r in caplog.records if "not of an image type" in r.getMessage()]
    assert len(warned) == 1 and "3 file(s)" in warned[0] and "2 .heic, 1 .avif" in warned[0], warned


def test_a_folder_of_readable_images_says_nothing(tmp_path, caplog):
    root = _folder(tmp_path / "pets", {"cat": (8, 0), "dog": (8, 0)})
    with caplog.at_level("WARNING"):
        load(str(root))
    assert not [r for r in caplog.records if "image type" in r.getMessage()]


def test_dicom_scans_without_an_extension_are_read_where_they_lie(tmp_path, caplog, dicom_file):
    """A PACS export names its scans IM000001 or by UID (1.2.840....): datasets' imagefolder reads files by
    extension, and the class folder of them was refused (session 54: with a `find ... mv` renaming them); they are
    read through links named .dcm in the cache, the folder untouched, a class of images and scans alike."""
    root = _folder(tmp_path / "xr", {"normal": (6, 0), "pneumonia": (0, 0)})
    for i in range(4):
        dicom_file(root / "pneumonia" / (f"IM{i:06d}" if i % 2 else f"1.2.840.10008.{i}"),
                   np.full((8, 8), 100 * i, np.uint16))
    before = sorted(p.name for p in (root / "pneumonia").iterdir())
    with caplog.at_level("WARNING"):
        ds = load(str(root))
    assert ds.class_names == ["normal", "pneumonia"] and ds.meta.num_train + len(ds.validation) == 10
    assert "holds DICOM scans without an extension: reading them through links named .dcm" in caplog.text
    scans = [row for split in ds.splits.values() for row in split if ds.class_names[row["label"]] == "pneumonia"]
    assert len(scans) == 4 and all(row["image"].format == "DICOM" for row in scans)
    assert sorted(p.name for p in (root / "pneumonia").iterdir()) == before and ds.info["path"] == str(root)
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert load(str(root)).fingerprint == ds.fingerprint
    assert "holds DICOM scans" not in caplog.text  # read where the first load linked them
    (root / "pneumonia" / "0.png").write_bytes((root / "normal" / "0.png").read_bytes())  # a class with images too
    mixed = load(str(root))
    assert mixed.meta.num_train + len(mixed.validation) == 11


def test_a_folder_is_walked_once_per_load_and_a_linked_class_of_heic_photos_is_refused(tmp_path, monkeypatch):
    """The unread-files check, the symlinked folders' patterns, the draw under limits and the split's files share one
    listing of the folder (it was walked three times, then datasets' patterns listed it again: seconds per hundred
    thousand images); the check now follows links below a class folder as the load does (a linked folder of HEIC
    photos was read as nothing)."""
    import os

    root = _folder(tmp_path / "pets", {"cat": (8, 0), "dog": (8, 0)})
    listed: list[str] = []
    real_scandir = os.scandir

    def counting(top=".", *args, **kwargs):
        listed.append(os.fspath(top))
        return real_scandir(top, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", counting)
    for limits in ({"train_limit": 4, "eval_limit": 2}, {}):  # drawn, and read whole
        listed.clear()
        load(str(root), seed=0, **limits)
        # the source's detection looks until the first image (pets/, pets/cat/), then one walk lists every folder
        assert [f for f in listed if f.startswith(str(root))] == [str(root), str(root / "cat")] + [
            str(root), str(root / "cat"), str(root / "dog")]
    monkeypatch.setattr(os, "scandir", real_scandir)
    _folder(tmp_path / "store", {"bird": (0, 4)})
    (root / "dog" / "more").symlink_to(tmp_path / "store" / "bird")  # read by the load as dog images
    (root / "bird").mkdir()
    (root / "bird" / "phone").symlink_to(tmp_path / "store" / "bird")
    with pytest.raises(DatasetError, match=r"1 class folder\(s\) hold no file of an image type.*bird/: 4 \.heic"):
        load(str(root))


def test_suffixes_are_read_as_pathlib_reads_them_and_numbers_are_no_extension():
    from hf_quicktune.data.folder_files import BARE, suffix_of

    names = ["a.JPG", "dir.d/b", ".hidden", "c.", "..x", "d.tar.gz", "IM000001", "1.2.840.10008", "e.HEIC",
             "f.dcm", "x/y/z.PnG", "g.5"]
    expected = {name: Path(name).suffix.lower() for name in names}
    expected.update({"1.2.840.10008": BARE, "g.5": BARE})
    assert {name: suffix_of(name) for name in names} == {n: s or BARE for n, s in expected.items()}


def test_a_folder_without_images_says_so(tmp_path):
    """An empty folder, or one of notes only, was "Instruction 'split0' corresponds to no data" from datasets."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes" / "cat").mkdir(parents=True)
    (tmp_path / "notes" / "cat" / "readme.txt").write_text("photos to come")
    for name in ("empty", "notes"):
        with pytest.raises(DatasetError, match=r"holds no image file") as err:
            load(str(tmp_path / name))
        assert err.value.code == "no_images" and "path/CLASS/IMAGE.jpg" in err.value.fix
