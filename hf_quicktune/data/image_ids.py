"""A table's images named by id, in a folder beside the table: a Kaggle competition's layout.

Competitions ship ``train.csv`` with an id per image and the images in a folder beside it: APTOS
(``id_code,diagnosis`` with ``train_images/<id_code>.png``), Plant Pathology (``image_id`` with
``images/<image_id>.jpg``), Histopathologic Cancer Detection (``id,label`` with ``train/<id>.tif``), Cassava
(``image_id`` = ``1000015157.jpg`` in ``train_images/``). Read from the table's folder every file was missing, and
an id without an extension was no image column at all. :func:`locate` finds the folder (the table's own, or one
below it, two levels at most) and the extension that turn a sample of the values into files, and
:func:`images_by_id` makes such a column paths, split by split (``test.csv``'s images lie in ``test_images/``).
A column of paths that are not files where they are read from (another machine's ``/kaggle/input/...``) is read
from the table's folder by their last parts (:func:`rebase`).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import datasets

logger = logging.getLogger(__name__)

_SEPARATORS = re.compile(r"[\\/]+")

#: values tried per column, folders searched below the table's (breadth first), and how deep
SAMPLE = 32
MAX_DIRS = 200
MAX_DEPTH = 2
#: column names tried first for ids (then every other string or integer column)
ID_NAMES = ("image_id", "id_code", "image_name", "image", "img", "file", "filename", "file_name", "name", "id",
            "image_path", "path", "img_id", "imageid")


@dataclass(frozen=True)
class Located:
    """Where a column's values are files: ``folder / (value + suffix)``, for ``hits`` of the ``sample`` tried;
    ``drop``: leading parts of each value's path left out first (another machine's ``/kaggle/input/``)."""

    folder: Path
    suffix: str
    hits: int
    sample: int
    drop: int = 0
    pad: int = 0  # integer ids written with leading zeros to this width (0001.png: the table read 1)
    #: images spread over several folders: each file name's folder (:func:`_across_folders`); None: all in ``folder``
    index: dict[str, Path] | None = None

    def path(self, value: Any) -> str:
        if self.index is not None:
            name = f"{value}{self.suffix}"
            return str(self.index.get(name, self.folder) / name)
        if self.pad:
            return str(self.folder / f"{int(value):0{self.pad}d}{self.suffix}")
        parts = _SEPARATORS.split(str(value))[self.drop:] if self.drop else [str(value)]
        return str(self.folder.joinpath(*parts[:-1], f"{parts[-1]}{self.suffix}"))


def rebase(values: list[Any], base: Path) -> Located | None:
    """Absolute paths of another machine (a Kaggle notebook's ``/kaggle/input/set/train/cat/1.jpg``, Colab's
    ``/content/drive/...``, a Windows ``C:\\data\\...``) read from ``base`` by their last parts: the fewest
    leading parts dropped under which most of a sample of them are files there; None when no such number."""
    paths = [_SEPARATORS.split(v) for v in values if isinstance(v, str) and _SEPARATORS.search(v) and "://" not in v]
    sample = paths[:: max(1, len(paths) // SAMPLE)][:SAMPLE]
    if not sample:
        return None
    for drop in range(1, max(len(p) for p in sample)):
        hits = sum(1 for p in sample if len(p) > drop and base.joinpath(*p[drop:]).is_file())
        if 2 * hits > len(sample):
            return Located(base, "", hits, len(sample), drop)
    return None


def _folders(base: Path) -> list[Path]:
    """``base`` and the folders below it (hidden ones skipped), breadth first, at most :data:`MAX_DIRS`."""
    out, level = [base], [base]
    for _ in range(MAX_DEPTH):
        below = []
        for folder in level:
            try:
                below += sorted(Path(e.path) for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
            except OSError:
                continue
        out += below[: MAX_DIRS - len(out)]
        level = below
        if len(out) >= MAX_DIRS:
            break
    return out


def image_listings(base: Path) -> list[tuple[Path, set[str]]]:
    """The image files of ``base`` and of each folder below it (:func:`_folders`), by folder; folders without
    images left out."""
    from hf_quicktune.data.columns import image_extensions

    extensions = image_extensions()
    out = []
    for folder in _folders(base):
        try:
            files = {e.name for e in os.scandir(folder) if e.name.lower().endswith(extensions)}
        except OSError:
            continue
        if files:
            out.append((folder, files))
    return out


def locate(values: list[Any], base: Path, listings: list[tuple[Path, set[str]]] | None = None) -> Located | None:
    """The folder (``base`` or below it; ``listings``: their images, when already read) and extension (none, or one
    of the images' there) under which most of a sample of ``values`` are image files; None when not more than half
    of them are anywhere."""
    names = [str(v) for v in values if v is not None and str(v) and "/" not in str(v) and "\\" not in str(v)]
    sample = names[:: max(1, len(names) // SAMPLE)][:SAMPLE]
    if not sample:
        return None
    integers = all(isinstance(v, int) for v in values if v is not None)  # a CSV's 0001 is read as 1
    best: Located | None = None
    for folder, files in image_listings(base) if listings is None else listings:
        for suffix in [""] + sorted({os.path.splitext(f)[1] for f in files}):
            hits = sum(1 for v in sample if v + suffix in files)
            if hits and (best is None or (hits, _fast(suffix)) > (best.hits, _fast(best.suffix))):
                best = Located(folder, suffix, hits, len(sample))
        widths = {len(os.path.splitext(f)[0]) for f in files if os.path.splitext(f)[0].isdigit()}
        if integers and len(widths) == 1 and (width := widths.pop()) > 1:
            for suffix in sorted({os.path.splitext(f)[1] for f in files}):
                hits = sum(1 for v in sample if f"{int(v):0{width}d}{suffix}" in files)
                if hits and (best is None or hits > best.hits):
                    best = Located(folder, suffix, hits, len(sample), pad=width)
    if best is not None and 2 * best.hits > best.sample:
        return best
    return _across_folders(sample, image_listings(base) if listings is None else listings)


def _fast(suffix: str) -> bool:
    """Whether files of ``suffix`` decode fast: of two folders holding every id, the JPEG copies a competition
    ships (SIIM-ISIC's ``jpeg/train/``) win over its DICOM scans (``train/*.dcm``: decoded in full and windowed
    at every epoch, where a JPEG is decoded at the scale the transform needs)."""
    from hf_quicktune.data.dicom import EXTENSIONS

    return suffix.lower() not in EXTENSIONS


def _across_folders(sample: list[str], listings: list[tuple[Path, set[str]]]) -> Located | None:
    """Ids whose images are spread over several folders (HAM10000's ``HAM10000_images_part_1/`` and ``_part_2/``,
    NIH ChestX-ray14's ``images_001/images/`` ... ``images_012/images/``): most of the ``sample`` found, each in one
    folder only, over two or more; every file of the folders indexed by name. None otherwise (a name in two folders
    cannot tell which is the image)."""
    for suffix in [""] + sorted({os.path.splitext(f)[1] for _, files in listings for f in files}):
        holders = {v: [folder for folder, files in listings if v + suffix in files] for v in sample}
        found = [h for h in holders.values() if h]
        if 2 * len(found) <= len(sample) or any(len(h) > 1 for h in found) or len({h[0] for h in found}) < 2:
            continue
        index: dict[str, Path] = {}
        for folder, files in listings:
            for name in files:
                index.setdefault(name, folder)
        return Located(found[0][0], suffix, len(found), len(sample), index=index)
    return None


def _id_like(name: str, feature: Any) -> bool:
    """A string column, or an integer one named like an id (a pixel table's integer columns are not ids)."""
    import datasets

    return isinstance(feature, datasets.Value) and (feature.dtype in ("string", "large_string") or (
        feature.dtype.startswith(("int", "uint")) and name.lower() in ID_NAMES))


def images_by_id(splits: dict[str, datasets.Dataset], base_dir: str | os.PathLike | None,
                 image_column: str | None = None, into: str | None = None
                 ) -> tuple[dict[str, datasets.Dataset], str] | None:
    """The splits with their id column made image paths, and the id column; None when the table has an image
    column (or ``image_column`` names one of paths that need no search) or no column's values are files near it.
    ``into``: write the paths to a new column of that name and keep the ids (``predict`` keys its rows by them).

    The column: ``image_column`` when given, else the first (by :data:`ID_NAMES`, then in order) whose values
    :func:`locate` finds. Each split's folder is located on its own values; a split whose values are found
    nowhere is left as it is (its images are reported missing, or it is an unlabelled split left out)."""
    from hf_quicktune.data.columns import column_values, detect_image_column
    from hf_quicktune.errors import DatasetError

    if base_dir is None:
        return None
    train = splits["train"] if "train" in splits else next(iter(splits.values()))
    base = Path(base_dir).resolve()
    features = train.features
    if image_column is None:
        try:  # a column of file names (Cassava's 1000015157.jpg) is searched for when they are not where they are read
            image_column = detect_image_column(train, warn=False)  # said once, when the columns are read
        except DatasetError:
            columns = list(train.column_names)
            ordered = [c for n in ID_NAMES for c in columns if c.lower() == n] + columns
            candidates = [c for c in dict.fromkeys(ordered) if _id_like(c, features[c])]
    if image_column is not None:
        candidates = [image_column] if image_column in features and _id_like("id", features[image_column]) else []
    if not candidates:
        return None
    rows = train.select(range(min(len(train), 4 * SAMPLE))).with_format(None).select_columns(candidates)[:]
    if image_column is not None and _found_as_they_are([v for v in rows[image_column] if isinstance(v, str) and v],
                                                       base):
        return None  # paths read from the table's folder or the current one (columns.resolve_paths)
    listings = image_listings(base)  # read once for every column tried

    def find(values: list[Any]) -> Located | None:
        return locate(values, base, listings) or (rebase(values, base) if column == image_column else None)

    for column in candidates:
        if find(rows[column]) is None:
            continue
        out = {}
        for name, ds in splits.items():
            located = find(column_values(ds, column)) if column in ds.column_names else None
            if located is None:
                out[name] = ds
                continue
            if located.drop:
                example = str(rows[column][0])
                whose = "of another machine" if _SEPARATORS.match(example) or ":" in example[:3] else \
                    "relative to another folder"
                logger.warning("split '%s': the image paths of column '%s' are %s (%s): read from %s by their last "
                               "parts", name, column, whose, example, located.folder)
            elif located.index is not None:
                folders = sorted({str(f) for f in located.index.values()})
                logger.info("split '%s': the images of column '%s' are <%s>%s in %d folders (%s, ...)", name, column,
                            column, located.suffix, len(folders), folders[0])
            else:
                logger.info("split '%s': the images of column '%s' are %s/<%s>%s", name, column, located.folder,
                            column, located.suffix)
            out[name] = _as_paths(ds, column, located, into)
        return out, column
    return None


def _found_as_they_are(paths: list[str], base: Path) -> bool:
    """Whether most of ``paths`` are files as they are: absolute, or relative to ``base`` or the current folder."""
    found = sum(1 for p in paths if (base / p).is_file() or Path(p).is_file())  # base / p is p when p is absolute
    return 2 * found > len(paths)


def _as_paths(ds: datasets.Dataset, column: str, located: Located, into: str | None) -> datasets.Dataset:
    import datasets

    features = ds.features.copy()
    features[into or column] = datasets.Value("string")
    return ds.map(lambda batch: {into or column: [None if v is None else located.path(v) for v in batch[column]]},
                  batched=True, features=features, desc=None)
