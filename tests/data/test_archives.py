"""Datasets given as zip or tar archives: unpacked once into the cache, read as what they hold, unsafe members
refused (hf_quicktune/data/archives.py)."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from hf_quicktune.data import archives, load
from hf_quicktune.errors import DatasetError


def _zip_folder(folder: Path, archive: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, prefix + str(path.relative_to(folder)))
        zf.writestr("__MACOSX/._junk", b"resource fork")  # what macOS' "Compress" adds
    return archive


def test_a_zipped_image_folder_in_a_wrapping_folder_loads_and_is_unpacked_once(tmp_path, write_images, caplog):
    write_images({"cat": 6, "dog": 6, "owl": 6}, root="pets")
    archive = _zip_folder(tmp_path / "pets", tmp_path / "pets.zip", prefix="pets/")
    with caplog.at_level("WARNING"):
        ds = load(str(archive))
    assert ds.class_names == ["cat", "dog", "owl"] and ds.meta.num_train + len(ds.validation) == 18
    assert sum("unpacking" in r.getMessage() for r in caplog.records) == 1
    caplog.clear()
    with caplog.at_level("WARNING"):
        again = load(str(archive))
    assert again.fingerprint == ds.fingerprint
    assert not [r for r in caplog.records if "unpacking" in r.getMessage()]  # read where the first run unpacked it
    # a changed archive (new size and time) is unpacked again
    write_images({"cat": 6, "dog": 6, "owl": 6, "bee": 6}, root="pets")
    _zip_folder(tmp_path / "pets", archive, prefix="pets/")
    os.utime(archive, ns=(archive.stat().st_atime_ns, archive.stat().st_mtime_ns + 10**9))
    assert load(str(archive)).class_names == ["bee", "cat", "dog", "owl"]
    unpacked = list((Path(os.environ["HF_QUICKTUNE_CACHE"]) / archives.PART).glob("pets-*"))
    assert len(unpacked) == 1  # the first version's folder is gone


def test_a_tar_gz_of_a_csv_and_its_images(tmp_path, write_images):
    rows = write_images({"cat": 6, "dog": 6})
    pd.DataFrame({"filepath": [r[0] for r in rows], "species": [r[1] for r in rows]}).to_csv(
        tmp_path / "labels.csv", index=False)
    archive = tmp_path / "set.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(tmp_path / "labels.csv", "labels.csv")
        tf.add(tmp_path / "images", "images")
    ds = load(str(archive))
    assert ds.class_names == ["cat", "dog"]


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_members_outside_the_folder_are_refused(tmp_path, kind):
    archive = tmp_path / f"evil.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("../outside.png", b"x")
    else:
        with tarfile.open(archive, "w") as tf:
            info = tarfile.TarInfo("../outside.png")
            info.size = 1
            tf.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(DatasetError, match="unsafe"):
        load(str(archive))
    assert not (tmp_path / "outside.png").exists()
    assert not list((Path(os.environ["HF_QUICKTUNE_CACHE"]) / archives.PART).glob("evil-*"))  # nothing kept


def test_a_truncated_download_and_an_archive_without_data_say_what_to_do(tmp_path, write_images):
    write_images({"cat": 6, "dog": 6}, root="pets")
    whole = _zip_folder(tmp_path / "pets", tmp_path / "whole.zip").read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(b"\x1f\x8b" + bytes(50))
    with pytest.raises(DatasetError, match=r"cut\.tar\.gz cannot be .*fetch it again"):
        load(str(tmp_path / "cut.tar.gz"))
    (tmp_path / "cut.zip").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DatasetError, match=r"cut\.zip cannot be read as a zip or tar archive: it is damaged"):
        load(str(tmp_path / "cut.zip"))
    with zipfile.ZipFile(tmp_path / "notes.zip", "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(DatasetError, match="holds no class folders and no single table file"):
        load(str(tmp_path / "notes.zip"))


def _dogs_vs_cats(root: Path) -> Path:
    """Kaggle's dogs-vs-cats download: train.zip (train/cat.N.jpg, train/dog.N.jpg), test1.zip (test1/N.jpg) and
    sampleSubmission.csv, zipped together; returns the folder they were made in."""
    from .conftest import make_image

    for name, n in (("train", 12), ("test1", 3)):
        folder = root / "src" / name
        folder.mkdir(parents=True)
        for i in range(n):
            cls = ("cat", "dog")[i % 2] if name == "train" else ""
            make_image((200, 40, 40) if cls == "cat" else (40, 40, 200), i).save(
                folder / (f"{cls}.{i}.jpg" if cls else f"{i + 1}.jpg"))
        with zipfile.ZipFile(root / "src" / f"{name}.zip", "w") as zf:
            for f in sorted(folder.iterdir()):
                zf.write(f, f"{name}/{f.name}")
        shutil.rmtree(folder)
    (root / "src" / "sampleSubmission.csv").write_text("id,label\n1,0\n2,0\n3,0\n")
    with zipfile.ZipFile(root / "dogs-vs-cats.zip", "w") as zf:
        for f in sorted((root / "src").iterdir()):
            zf.write(f, f.name)
    return root / "src"


def test_archives_inside_an_archive_are_unpacked_and_the_submission_template_ignored(tmp_path, caplog):
    folder = _dogs_vs_cats(tmp_path)
    with caplog.at_level("WARNING"):
        ds = load(str(tmp_path / "dogs-vs-cats.zip"))
    assert ds.class_names == ["cat", "dog"] and len(ds.train) + len(ds.validation) == 12 and ds.test is None
    assert "unpacked the archives inside it too: test1.zip, train.zip" in caplog.text
    assert "test1/ holds images without class folders" in caplog.text
    # a damaged archive inside stays a file, with a warning, and the rest loads
    (folder / "notes.zip").write_bytes(b"PK\x03\x04 cut short")
    with zipfile.ZipFile(tmp_path / "damaged-inside.zip", "w") as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f.name)
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert load(str(tmp_path / "damaged-inside.zip")).class_names == ["cat", "dog"]
    assert "notes.zip inside the archive is left packed" in caplog.text
    (folder / "notes.zip").unlink()
    # the folder the outer zip came from (unzipped once): its archives are unpacked into the cache as an archive's
    # inner ones are, the folder itself left as it is (was: refused, "unzip train.zip there")
    before = sorted(p.name for p in folder.iterdir())
    caplog.clear()
    with caplog.at_level("WARNING"):
        unzipped = load(str(folder))
    assert unzipped.class_names == ["cat", "dog"] and unzipped.fingerprint == ds.fingerprint
    assert unzipped.info["unlabelled"] == [str(folder / "test1.zip")]  # its test1/ as the user has it
    assert "keeps its data in archives (test1.zip, train.zip): unpacking them" in caplog.text
    assert sorted(p.name for p in folder.iterdir()) == before


def test_a_folder_of_a_table_beside_its_zipped_images_reads_as_unzipped(tmp_path, caplog):
    """APTOS-like: train.csv naming the images of train_images.zip, test.csv those of test_images.zip: the table
    labels its images (was: "No image column found"), the test split is what to classify; read again from the
    cache, and again after a changed archive."""
    from .conftest import make_image

    src = tmp_path / "src"
    for part, n in (("train_images", 12), ("test_images", 3)):
        (src / part).mkdir(parents=True)
        for i in range(n):
            make_image(((220, 30, 30), (30, 30, 220))[i % 2], i).save(src / part / f"{part[:2]}{i:03d}.png")
    pd.DataFrame({"id_code": [f"tr{i:03d}" for i in range(12)], "diagnosis": [i % 2 for i in range(12)]}).to_csv(
        src / "train.csv", index=False)
    folder = tmp_path / "aptos"
    folder.mkdir()
    shutil.copy(src / "train.csv", folder)
    pd.DataFrame({"id_code": [f"te{i:03d}" for i in range(3)]}).to_csv(folder / "test.csv", index=False)
    for part in ("train_images", "test_images"):
        _zip_folder(src / part, folder / f"{part}.zip", prefix=f"{part}/")
    with caplog.at_level("WARNING"):
        ds = load(str(folder))
    assert ds.info["label_column"] == "diagnosis" and ds.class_names == ["0", "1"]
    assert ds.meta.num_train + len(ds.validation) == 12
    for row in ds.train:
        assert (row["image"].getpixel((4, 4))[0] > 128) == (ds.class_names[row["label"]] == "0")
    assert ds.info["unlabelled"] == [str(folder / "test.csv")]  # what to classify, as the user has it
    assert sum("keeps its data in archives" in r.getMessage() for r in caplog.records) == 1
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert load(str(folder)).fingerprint == ds.fingerprint
    assert "keeps its data in archives" not in caplog.text  # read where the first load unpacked it
    _zip_folder(src / "train_images", folder / "train_images.zip", prefix="train_images/")
    os.utime(folder / "train_images.zip", ns=(1, (folder / "train_images.zip").stat().st_mtime_ns + 10**9))
    assert load(str(folder)).info["label_column"] == "diagnosis"
    assert len(list((Path(os.environ["HF_QUICKTUNE_CACHE"]) / archives.PART).glob("aptos-*"))) == 1
    assert sorted(p.name for p in folder.iterdir()) == ["test.csv", "test_images.zip", "train.csv",
                                                        "train_images.zip"]
