"""An ImageFolder's files that datasets' imagefolder would ignore: a class of them is refused, others warned."""

from __future__ import annotations

import subprocess
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


def test_dicom_scans_without_an_extension_are_said_with_how_to_rename_them(tmp_path, caplog, dicom_file):
    """A PACS export names its scans IM000001 or by UID (1.2.840....): datasets' imagefolder reads files by
    extension, and the class folder of them was refused as 'no file of an image type' with HEIC's advice."""
    root = _folder(tmp_path / "xr", {"normal": (6, 0), "pneumonia": (0, 0)})
    for i in range(4):
        dicom_file(root / "pneumonia" / (f"IM{i:06d}" if i % 2 else f"1.2.840.10008.{i}"),
                   np.full((8, 8), 100 * i, np.uint16))
    with pytest.raises(DatasetError, match=r"pneumonia/: 4 \(none\)\. Files without an extension are DICOM scans "
                                           r"\((IM|1\.2\.840)") as err:
        load(str(root))
    command = err.value.fix.split("`")[1]
    assert command.startswith(f"find '{root}' -type f ")
    subprocess.run(command, shell=True, check=True)  # the advice works: every scan renamed, and read
    assert sorted(p.suffix for p in (root / "pneumonia").iterdir()) == [".dcm"] * 4
    assert load(str(root)).num_classes == 2
    for scan in (root / "pneumonia").iterdir():
        scan.rename(scan.with_suffix(""))  # as exported again
    (root / "pneumonia" / "0.png").write_bytes((root / "normal" / "0.png").read_bytes())  # a class with images too
    with caplog.at_level("WARNING"):
        load(str(root))
    assert "4 file(s) in class folders are not of an image type hf-quicktune reads and are left out (4 (none)); " \
           "Files without an extension are DICOM scans" in caplog.text
