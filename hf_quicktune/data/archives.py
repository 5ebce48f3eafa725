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
from collections.abc import Callable
from pathlib import Path

from hf_quicktune.constants import cache_dir
from hf_quicktune.errors import DatasetError

logger = logging.getLogger(__name__)

#: the archive types read, by how the file name ends
SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
#: data files a data root may be (data/folder_tables.py's builders, NumPy archives: data/npz.py, HDF5: data/hdf5.py)
TABLES = (".csv", ".tsv", ".parquet", ".json", ".jsonl", ".npz", ".h5", ".hdf5", ".he5")
#: the cache part holding unpacked archives and the copies of folders made to read them (``hf-quicktune cache clear
#: archives``)
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


def is_submission(path: Path) -> bool:
    """A competition's submission template (``sample_submission.csv``, ``sampleSubmission.csv``): placeholder classes
    for the test images, never the training data."""
    return "submission" in path.stem.lower()


def unpack_inner(root: Path, depth: int = 2) -> list[str]:
    """Unpack the archives inside an unpacked archive (Kaggle's ``dogs-vs-cats.zip`` holds ``train.zip`` and
    ``test1.zip``) where they lie, as ``unzip`` run there would: into their folder when they hold one top folder
    whose name is free there, else into a folder named after them; each inner archive is removed once unpacked
    (this is the cache's copy). Archives inside those are unpacked too, ``depth`` levels in all. Returns the names
    of those unpacked."""
    done: list[str] = []
    for inner in sorted(p for p in root.rglob("*") if is_archive(p) and "__MACOSX" not in p.parts):
        tmp = inner.with_name(f".{inner.name}-unpacking")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            unpack(inner, tmp)
        except DatasetError as err:  # a damaged or unsafe inner archive: kept as a file, as before
            shutil.rmtree(tmp, ignore_errors=True)
            logger.warning("%s inside the archive is left packed: %s", inner.name, err.message)
            continue
        entries = [p for p in tmp.iterdir() if not p.name.startswith((".", "__MACOSX"))]
        if len(entries) == 1 and entries[0].is_dir() and not (inner.parent / entries[0].name).exists():
            entries[0].rename(inner.parent / entries[0].name)
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            stem = inner.name[: -len(next(s for s in SUFFIXES if inner.name.lower().endswith(s)))] or "archive"
            tmp.rename(inner.parent / (stem if not (inner.parent / stem).exists() else f"{stem}-unpacked"))
        inner.unlink()
        done.append(str(inner.relative_to(root)))
    if done and depth > 1:
        done += unpack_inner(root, depth - 1)
    return done


def data_root(root: Path, name: str) -> Path:
    """The ImageFolder root, the one table file, the folder of tables, or the one folder of images (their classes in
    their names) inside an unpacked archive: single wrapping folders (``data/``) are descended, macOS'
    ``__MACOSX``, hidden entries and submission templates ignored."""
    while True:
        entries = [p for p in root.iterdir() if not p.name.startswith((".", "__MACOSX")) and not (
            p.is_file() and is_submission(p))]
        tables = [p for p in entries if p.is_file() and p.suffix.lower() in TABLES]
        dirs = [p for p in entries if p.is_dir()]
        if len(tables) == 1:
            return tables[0]
        if len(dirs) == 1 and not tables and not [p for p in entries if p.is_file()]:
            root = dirs[0]
            continue
        if dirs or tables:  # folders, or tables named by split (Kaggle's train.csv, test.csv, sample_submission.csv)
            return root
        from hf_quicktune.data.columns import image_extensions

        if any(p.is_file() and p.name.lower().endswith(image_extensions()) for p in entries):
            return root  # a folder of images (Dogs vs. Cats' train.zip: train/cat.0.jpg): classes from their names
        raise DatasetError(f"the archive {name} holds no class folders and no single table file. Archive a folder "
                           "with one sub-folder of images per class (or train/ and validation/ folders of those), or "
                           "one CSV/parquet file with the images it names.", code="no_data_in_archive")


def unpacked(archive: Path) -> Path:
    """The data root of ``archive`` unpacked in the cache (:func:`unpacked_folder`, then :func:`data_root`)."""
    return data_root(unpacked_folder(archive), archive.name)


def unpacked_folder(archive: Path) -> Path:
    """The folder ``archive`` is unpacked into in the cache (unpacked now unless an earlier run did)."""
    stat = archive.stat()

    def fill(data: Path, final: Path) -> None:
        logger.warning("unpacking %s (%.1f MB) into %s (once: later runs read it there; `hf-quicktune cache clear "
                       "%s` removes it)", archive, stat.st_size / 1e6, final, PART)
        unpack(archive, data)
        inner = unpack_inner(data)
        if inner:
            logger.warning("unpacked the archives inside it too: %s", ", ".join(inner))

    return cached_copy(archive, f"{stat.st_size}|{stat.st_mtime_ns}", fill)


def holds_archived_images(folder: Path) -> bool:
    """Whether ``folder`` keeps its images inside archives at its top level, as a download unzipped once does
    (Kaggle's dogs-vs-cats: ``train.zip``, ``test1.zip``; APTOS-like: ``train.csv`` beside ``train_images.zip``):
    an archive there and no image file outside it (nor a parquet / Arrow table, which holds its images)."""
    from hf_quicktune.data.columns import image_extensions

    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if not any(is_archive(p) for p in entries) or any(p.suffix.lower() in (".parquet", ".arrow") for p in entries):
        return False
    images = image_extensions()
    return not any(p.name.lower().endswith(images) for p in folder.rglob("*") if p.is_file())


def unpacked_copy(folder: Path) -> Path:
    """A copy of ``folder`` in the cache with its top-level archives unpacked (:func:`unpack_inner`'s rules) and
    links to everything else: the folder as the user would have it after unzipping there, without writing into
    it (a Hub snapshot is read-only). Unpacked once per state of its top-level entries."""
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    state = "|".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in entries)

    def fill(data: Path, final: Path) -> None:
        data.mkdir(parents=True)
        packed = [p.name for p in entries if is_archive(p)]
        logger.warning("%s keeps its data in archives (%s): unpacking them into %s (once: later runs read it "
                       "there; `hf-quicktune cache clear %s` removes it)", folder, ", ".join(packed), final, PART)
        for entry in entries:  # a link to each entry (an archive's link is unpacked, then removed)
            try:
                (data / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
            except OSError:  # no links on this filesystem: the files themselves
                (shutil.copytree if entry.is_dir() else shutil.copy2)(entry, data / entry.name)
        unpack_inner(data, depth=3)

    return cached_copy(folder, state, fill)


def original_path(path: str, copy: Path, folder: Path) -> str:
    """``path`` inside :func:`unpacked_copy`'s ``copy`` of ``folder`` named as the user has it: the same file in
    ``folder`` (``test.csv``), or the archive a top folder came from (``test1/`` -> ``test1.zip``); else as it is."""
    try:
        rel = Path(path).relative_to(copy)
    except ValueError:
        return path
    if (folder / rel).exists():
        return str(folder / rel)
    packed = [folder / f"{rel.parts[0]}{suffix}" for suffix in SUFFIXES] if len(rel.parts) == 1 else []
    return next((str(p) for p in packed if p.is_file()), path)


def cached_copy(source: Path, state: str, fill: Callable[[Path, Path], None]) -> Path:
    """The cache's ``data`` folder for ``source`` in ``state``, made by ``fill(data, final folder)`` unless an
    earlier run made it (written beside, then renamed: an interrupted unpacking leaves nothing read later); older
    states removed."""
    key = hashlib.blake2b(f"{source.resolve()}|{state}".encode(), digest_size=8).hexdigest()
    stem = source.name.split(".")[0] or "archive"
    folder = cache_dir() / PART / f"{stem}-{key}"
    if not (folder / _DONE).exists():
        tmp = folder.with_name(f".{folder.name}-tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            fill(tmp / "data", folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        (tmp / _DONE).write_text(str(source.resolve()), encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
        _drop_older(folder, source)
    return folder / "data"


def _drop_older(current: Path, archive: Path) -> None:
    """Remove what earlier versions of ``archive`` (the same path, another size or time; a folder: other
    contents) unpacked."""
    for other in current.parent.glob(f"{current.name.rsplit('-', 1)[0]}-*"):
        marker = other / _DONE
        try:
            if other != current and marker.read_text(encoding="utf-8") == str(archive.resolve()):
                shutil.rmtree(other, ignore_errors=True)
        except OSError:
            continue
