"""Datasets given as an archive (``.zip``, ``.tar``, ``.tar.gz``, ...): a Kaggle download or a zipped ImageFolder.

The archive is unpacked once into hf-quicktune's cache (``archives/``, keyed by the archive's path, size and
modification time: a changed archive is unpacked again), then read as what it holds: an ImageFolder, or its
one table file (CSV, parquet, ...) with the images beside it. Members that would land outside the folder
(absolute paths, ``../``, links out) are refused.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tarfile
import zipfile
from pathlib import Path

from hf_quicktune.constants import cache_dir
from hf_quicktune.errors import DatasetError

logger = logging.getLogger(__name__)

#: the archive types read, by how the file name ends
SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
#: data files a data root may be (data/sources.py's builders, and NumPy archives: data/npz.py)
TABLES = (".csv", ".tsv", ".parquet", ".json", ".jsonl", ".npz")
#: the cache part holding unpacked archives (``hf-quicktune cache clear archives``)
PART = "archives"
_DONE = ".hf-quicktune-unpacked"


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(SUFFIXES)


def unpack(archive: Path, target: Path) -> Path:
    """Extract ``archive`` into ``target`` (created), refusing members that would land outside it."""
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    if not (root / member).resolve().is_relative_to(root):
                        raise DatasetError(f"the archive {archive.name} has an unsafe path {member!r} (outside its "
                                           "folder); re-create it with relative paths.", input=str(archive),
                                           code="unsafe_archive")
                zf.extractall(root)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                try:
                    tf.extractall(root, filter="data")  # refuses absolute paths, ../ and links out of root
                except tarfile.FilterError as err:
                    raise DatasetError(f"the archive {archive.name} has an unsafe member ({err}); re-create it "
                                       "with relative paths.", input=str(archive), code="unsafe_archive") from err
        else:
            raise DatasetError(f"{archive.name} cannot be read as a zip or tar archive: it is damaged (an incomplete "
                               "download?) or of another format; fetch it again.", input=str(archive),
                               code="bad_archive")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as err:
        raise DatasetError(f"{archive.name} cannot be unpacked ({type(err).__name__}: {err}): the download may be "
                           "incomplete; fetch it again.", input=str(archive), code="bad_archive") from err
    return target


def data_root(root: Path, name: str) -> Path:
    """The ImageFolder root, the one table file, or the folder of tables inside an unpacked archive: single wrapping
    folders (``data/``) are descended, macOS' ``__MACOSX`` and hidden entries ignored."""
    while True:
        entries = [p for p in root.iterdir() if not p.name.startswith((".", "__MACOSX"))]
        tables = [p for p in entries if p.is_file() and p.suffix.lower() in TABLES]
        dirs = [p for p in entries if p.is_dir()]
        if len(tables) == 1:
            return tables[0]
        if len(dirs) == 1 and not tables and not [p for p in entries if p.is_file()]:
            root = dirs[0]
            continue
        if dirs or tables:  # folders, or tables named by split (Kaggle's train.csv, test.csv, sample_submission.csv)
            return root
        raise DatasetError(f"the archive {name} holds no class folders and no single table file. Archive a folder "
                           "with one sub-folder of images per class (or train/ and validation/ folders of those), or "
                           "one CSV/parquet file with the images it names.", code="no_data_in_archive")


def unpacked(archive: Path) -> Path:
    """The data root of ``archive`` unpacked in the cache (:func:`unpacked_folder`, then :func:`data_root`)."""
    return data_root(unpacked_folder(archive), archive.name)


def unpacked_folder(archive: Path) -> Path:
    """The folder ``archive`` is unpacked into in the cache (unpacked now unless an earlier run did)."""
    stat = archive.stat()
    key = hashlib.blake2b(f"{archive.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode(), digest_size=8).hexdigest()
    stem = archive.name.split(".")[0] or "archive"
    folder = cache_dir() / PART / f"{stem}-{key}"
    if not (folder / _DONE).exists():
        logger.warning("unpacking %s (%.1f MB) into %s (once: later runs read it there; `hf-quicktune cache clear "
                       "%s` removes it)", archive, stat.st_size / 1e6, folder, PART)
        tmp = folder.with_name(f".{folder.name}-tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            unpack(archive, tmp / "data")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        (tmp / _DONE).write_text(str(archive.resolve()), encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
        _drop_older(folder, archive)
    return folder / "data"


def _drop_older(current: Path, archive: Path) -> None:
    """Remove what earlier versions of ``archive`` (the same path, another size or time) unpacked."""
    for other in current.parent.glob(f"{current.name.rsplit('-', 1)[0]}-*"):
        marker = other / _DONE
        try:
            if other != current and marker.read_text(encoding="utf-8") == str(archive.resolve()):
                shutil.rmtree(other, ignore_errors=True)
        except OSError:
            continue
