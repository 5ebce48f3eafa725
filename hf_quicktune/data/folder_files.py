"""Files of an ImageFolder that datasets' ``imagefolder`` does not read, said before they go missing.

``imagefolder`` loads the file types in its extension list and ignores every other file without a word: a
class folder of iPhone photos (``.HEIC``) or of ``.avif`` files vanished from the dataset, and the run
trained a classifier with one class fewer.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hf_quicktune.errors import DatasetError

logger = logging.getLogger(__name__)

#: files beside images that are not meant as images (notes, labels, imagefolder's own metadata files)
NOT_IMAGES = frozenset({".txt", ".md", ".json", ".jsonl", ".csv", ".tsv", ".parquet", ".xml", ".yaml", ".yml",
                        ".ini", ".db", ".log", ".pdf", ".html", ".py", ".zip"})


def read_extensions() -> frozenset[str]:
    """The lower-case extensions ``imagefolder`` loads (its own list, so the two never disagree), DICOM's
    included (:func:`hf_quicktune.data.dicom.teach_datasets` adds them to that list)."""
    from datasets.packaged_modules.imagefolder.imagefolder import ImageFolder

    from hf_quicktune.data.dicom import teach_datasets

    teach_datasets()
    return frozenset(ext.lower() for ext in ImageFolder.EXTENSIONS)


@dataclass(frozen=True)
class FolderWalk:
    """Every file below a folder by its path relative to it (``CLASS/.../NAME.EXT``, joined by ``/``), and its
    symlinked folders the same way: what datasets' file patterns would read, hidden names (``.DS_Store``) and tools'
    folders (``__MACOSX``) skipped, symlinked folders followed (a link back up the tree once)."""

    root: Path
    files: list[str]
    linked: list[str]


def walk_folder(root: Path) -> FolderWalk:
    """One walk of ``root`` (:class:`FolderWalk`), shared by every check of a load, in ``os.walk``'s order (each
    folder's files, then its sorted sub-folders): a folder of a million images is listed once, with one string join
    per file (path objects per file cost seconds per hundred thousand files). A link to a file is a file, a broken
    link none (as datasets' patterns read them); a sub-folder's real path is its parent's plus its name but below a
    link, so only links cost a ``realpath``."""
    files: list[str] = []
    linked: list[str] = []
    seen: set[str] = set()
    base = os.fspath(root)
    stack = [(base, "", os.path.realpath(base))]
    while stack:
        folder, prefix, real = stack.pop()
        if real in seen:  # a link back up the tree
            continue
        seen.add(real)
        try:
            entries = list(os.scandir(folder))
        except OSError:  # unreadable: skipped, as os.walk does
            continue
        names, subdirs = [], []
        for entry in entries:
            if entry.name.startswith((".", "__")):
                continue
            try:
                if entry.is_dir():
                    subdirs.append((entry.name, entry.path, entry.is_symlink()))
                elif not entry.is_symlink() or os.path.isfile(entry.path):
                    names.append(entry.name)
            except OSError:
                continue
        files += [prefix + n for n in sorted(names)]
        subdirs.sort()
        linked += [prefix + name for name, _, link in subdirs if link]
        for name, sub, link in reversed(subdirs):  # popped in sorted order
            stack.append((sub, prefix + name + "/", os.path.realpath(sub) if link else os.path.join(real, name)))
    return FolderWalk(root, files, linked)


def check_unread_files(path: Path, splits: list[Path] | None = None,
                       walks: Mapping[Path, FolderWalk] | None = None) -> None:
    """Raise when a class folder of the ImageFolder ``path`` (``path/CLASS/...``, or
    ``SPLIT/CLASS/...`` for the split folders ``splits`` given) holds files and none of a type
    ``imagefolder`` reads (the class would be dropped); warn about other files of such types in class folders,
    counted by extension. Notes and metadata (:data:`NOT_IMAGES`) are not counted. Class folders of DICOM scans
    without an extension raise :class:`ScansWithoutExtension` (read through links that give them one). ``walks``:
    the folders' :func:`walk_folder` where the caller has them (by absolute path), else each is walked here."""
    readable = read_extensions()
    skipped: Counter[str] = Counter()
    lost: dict[str, Counter[str]] = {}
    bare: list[Path] = []  # files without an extension: a PACS export's DICOM scans (IM000001, 1.2.840....)?
    for root in splits or [path]:
        walk = (walks or {}).get(root.absolute()) or walk_folder(root)
        by_class: dict[str, list[str]] = {}
        for rel in walk.files:  # a file directly in the root is in no class folder
            cls, sep, below = rel.partition("/")
            if sep:
                by_class.setdefault(cls, []).append(below)
        for cls, files in sorted(by_class.items()):
            each = [suffix_of(f) for f in files]
            suffixes = Counter(each)
            unread = Counter({s: n for s, n in suffixes.items() if s not in readable and s not in NOT_IMAGES})
            if unread and not any(s in readable for s in suffixes):
                lost[str((root / cls).relative_to(path))] = unread
            skipped.update(unread)
            bare += [root / cls / f for f, suffix in zip(files, each) if suffix == BARE][:3]
    if _dicom_without_extension(bare):
        raise ScansWithoutExtension(str(path))
    if lost:
        listed = "; ".join(f"{name}/: {_counts(c)}" for name, c in list(lost.items())[:8])
        raise DatasetError(
            f"{len(lost)} class folder(s) hold no file of an image type hf-quicktune reads, so their class would "
            f"be left out: {listed}.", input=str(path), code="unreadable_class",
            fix="Convert them to JPEG or PNG (iPhone HEIC photos: e.g. `heif-convert` from libheif, or "
            "pillow-heif in Python), or move folders that are not classes out of the dataset. Types read: "
            + ", ".join(sorted(readable & {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}))
            + " and other Pillow formats.")
    if skipped:
        logger.warning("%d file(s) in class folders are not of an image type hf-quicktune reads and are left out "
                       "(%s); convert them to JPEG or PNG to train on them.", sum(skipped.values()), _counts(skipped))


class ScansWithoutExtension(Exception):
    """Class folders hold DICOM scans without an extension (a PACS export's ``IM000001``): the folder is to be read
    through :func:`hf_quicktune.data.scan_links.named_scans`."""


#: :func:`suffix_of` a file without an extension
BARE = "(none)"


def suffix_of(name: str) -> str:
    """A file's lower-case extension, ``(none)`` without one (a DICOM UID's dots are no extension: ``1.2.840.10``)."""
    base = name.replace(os.sep, "/").rpartition("/")[2]
    dot = base.rfind(".")
    suffix = base[dot:].lower() if 0 < dot < len(base) - 1 else ""  # Path(name).suffix, without a path object
    return BARE if not suffix or suffix[1:].isdigit() else suffix


def _dicom_without_extension(files: list[Path]) -> bool:
    """Whether files without an extension are DICOM scans (a PACS export names them ``IM000001`` or by their UID),
    found by the ``DICM`` marker of the first few of them."""
    from hf_quicktune.data.dicom import is_scan_file

    return any(is_scan_file(file) for file in files[:5])


def _counts(counts: Counter[str]) -> str:
    return ", ".join(f"{n} {ext}" for ext, n in counts.most_common(4)) + (", ..." if len(counts) > 4 else "")
