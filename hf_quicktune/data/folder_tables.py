"""Which table of a folder is its dataset, and what a folder only wraps: the layouts of downloads.

A folder may be an ImageFolder, hold one table naming its images (``data/labels.csv`` beside ``data/images/``),
tables named by split (``train.csv``, ``test.csv``), or several tables of which one labels the images (RSNA's
``stage_2_train_labels.csv`` beside ``stage_2_detailed_class_info.csv``), or only wrap such a folder (an unzipped
``chest_xray/`` beside ``__MACOSX/``). :func:`top_tables` and :func:`wrapped_dataset` tell which; a table source's
unlabelled test folder is :func:`test_image_folders`'.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from hf_quicktune.data import archives
from hf_quicktune.errors import DatasetError

if TYPE_CHECKING:  # pragma: no cover
    import datasets

logger = logging.getLogger(__name__)


#: data file suffixes and the datasets builder that reads each
FILE_BUILDERS = {".parquet": "parquet", ".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json",
                 ".arrow": "arrow"}  # .arrow: a save_to_disk shard, or a datasets cache file, alone


def top_tables(path: Path) -> tuple[Path, dict[str, Path] | None] | None:
    """The table a folder holds at its top, when it is the dataset: ``data/labels.csv`` naming the images of
    ``data/images/`` (read as an ImageFolder of one class, "images", before), or tables named by split
    (``train.csv``, ``test.csv``) as ``(one of them, {split: file})``. A folder whose sub-folders make an
    ImageFolder (split folders, or two or more class folders) keeps that reading unless its table names image files
    that exist. imagefolder's own metadata files (``metadata.csv`` with a ``file_name`` column) and a competition's
    submission template (``sample_submission.csv``: placeholder classes) do not count."""
    from hf_quicktune.data.imagefolder import SPLIT_NAMES

    tables = sorted(f for f in path.iterdir() if f.is_file() and f.suffix.lower() in FILE_BUILDERS
                    and not f.name.startswith(".") and not _imagefolder_metadata(f) and not archives.is_submission(f))
    if len(tables) == 1:
        found: tuple[Path, dict[str, Path] | None] = (tables[0], None)
    elif tables and len({f.suffix.lower() for f in tables}) == 1 and all(f.stem.lower() in SPLIT_NAMES for f in tables):
        found = (tables[0], {f.stem: f for f in tables})
    elif len(tables) > 1:  # RSNA's stage_2_train_labels.csv beside stage_2_detailed_class_info.csv
        return _labelling_table(path, tables)
    else:
        return None
    subdirs = [d for d in path.iterdir() if d.is_dir() and not d.name.startswith(".")]
    if len(subdirs) < 2 and not any(d.name.lower() in SPLIT_NAMES for d in subdirs):
        return found
    # ids of images in folders of images (APTOS' train_images/<id>.png, Aerial Cactus' train/train/); not where a
    # folder holds class folders (two or more: a download's train/CLASS/ is an ImageFolder)
    # (SIIM-ISIC's jpeg/ holds train/ and test/: splits, not classes)
    flat = not any(sum(1 for e in d.iterdir() if e.is_dir() and not e.name.startswith(".")
                       and e.name.lower() not in SPLIT_NAMES) >= 2 for d in subdirs)
    return found if _names_image_files(found[0], path, ids=flat) else None


def read_columns(table: Path) -> list[str] | None:
    """The column names of a CSV / TSV / JSON-lines / parquet ``table`` from its header (None: unreadable or another
    format)."""
    import json

    suffix = table.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            with table.open(encoding="utf-8", errors="replace") as fh:
                header = fh.readline().strip().split("\t" if suffix == ".tsv" else ",")
        elif suffix == ".jsonl":
            with table.open(encoding="utf-8", errors="replace") as fh:
                header = list(json.loads(fh.readline() or "{}"))
        elif suffix == ".parquet":
            import pyarrow.parquet as pq

            header = list(pq.read_schema(table).names)
        else:
            return None
    except (OSError, ValueError):
        return None
    return [h.strip().strip('"') for h in header]


def _imagefolder_metadata(table: Path) -> bool:
    """Whether ``table`` is datasets' ``imagefolder`` metadata file: named ``metadata`` with a ``file_name`` column
    (or ``*_file_name``); a ``metadata.csv`` of other columns (HAM10000's ids and classes) is a table like another,
    where imagefolder refused it ("file_name must be present"). Unreadable: imagefolder's (datasets says why)."""
    if table.stem.lower() != "metadata":
        return False
    names = read_columns(table)
    return names is None or any(
        n in ("file_name", "file_names") or n.endswith(("_file_name", "_file_names")) for n in names)


#: words of a table's name that say it holds the labels (RSNA's ``train_labels``, ISIC's ``GroundTruth``)
_LABEL_WORDS = ("label", "truth", "target", "annotation")


def _labelling_table(path: Path, tables: list[Path]) -> tuple[Path, None] | None:
    """Of several tables at the top of ``path`` (not named by split), the one that labels its images: the only
    one naming images that exist (by path or by id), else the only one of those named as labels
    (:data:`_LABEL_WORDS`), else as training data (``*train*``), with a warning naming the others; None when none
    names images (the folder is read as an ImageFolder). Raises when several do and their names do not tell
    which."""
    naming = [t for t in tables if _names_image_files(t, path, ids=True)]
    if not naming:
        return None
    chosen = naming[0] if len(naming) == 1 else None
    for words in (_LABEL_WORDS, ("train",)):  # ISIC 2019's _Training_GroundTruth.csv beside _Training_Metadata.csv
        named = [t for t in naming if any(word in t.stem.lower() for word in words)]
        if chosen is None and len(named) == 1:
            chosen = named[0]
    if chosen is None:
        raise DatasetError(
            f"{path} holds {len(naming)} tables that name its images ({', '.join(t.name for t in naming)}), and "
            "their names do not say which holds the labels to train on.", input=str(path), code="several_tables",
            fix=f"Pass the one to train on as --dataset, e.g. --dataset {naming[0]}.")
    from hf_quicktune.data.columns import LABEL_NAMES

    others = [t for t in naming if t != chosen]
    labelled = [t for t in others if any(c.lower() in LABEL_NAMES for c in read_columns(t) or [])]
    if others:
        logger.warning("%s holds %d tables naming its images: training on %s (its name says labels, or training)%s",
                       path, len(naming), chosen.name,
                       f"; pass --dataset {labelled[0]} to train on {labelled[0].name}'s labels instead." if labelled
                       else f"; {', '.join(t.name for t in others)} has no label column.")
    return chosen, None


def join_groups(ds: datasets.Dataset, tables: list[Path], labelling: str) -> datasets.Dataset:
    """``ds`` (the table that labels the images, ``labelling`` its file name) with the group column of another of
    ``tables`` beside it joined by their shared id column, where ``ds`` has none: ISIC 2019's
    ``ISIC_2019_Training_Metadata.csv`` holds the ``lesion_id`` of the images its ``_GroundTruth.csv`` labels.
    Only a column named like a group (:data:`~hf_quicktune.data.groups.GROUP_NAMES`) is taken, and only where the other table has a row for
    most of ``ds``'s ids; ``ds`` unchanged otherwise."""
    import pandas as pd

    from hf_quicktune.data.groups import is_group_name

    if any(is_group_name(c) for c in ds.column_names):
        return ds
    for table in tables:
        header = read_columns(table) or []
        groups = [c for c in header if is_group_name(c)]
        shared = [c for c in header if c in ds.column_names]
        if not groups or not shared:
            continue
        key, group = shared[0], groups[0]
        try:
            other = (pd.read_parquet(table, columns=[key, group]) if table.suffix.lower() == ".parquet" else
                     pd.read_csv(table, usecols=[key, group], dtype=str, sep="\t" if table.suffix.lower() == ".tsv"
                                 else ","))
        except (OSError, ValueError) as err:
            logger.info("%s's groups not read (%s)", table.name, err)
            continue
        mapping = dict(zip(other[key].astype(str), other[group]))
        ids = [str(v) for v in ds.with_format(None).select_columns([key])[:][key]]
        if 2 * sum(i in mapping for i in ids) <= len(ids):
            continue
        logger.info("the groups of column '%s' are read from %s (by '%s', the column it shares with %s)", group,
                    table.name, key, labelling)
        found = [mapping.get(i) for i in ids]
        return ds.add_column(group, [None if v is None or v != v else str(v) for v in found])
    return ds


def _names_image_files(table: Path, base: Path, rows: int = 20, ids: bool = False) -> bool:
    """Whether the first ``rows`` rows of ``table`` name an image file that exists (relative to ``base``, or
    absolute), or (``ids``) hold a column of ids of images in a folder below ``base`` (a competition's
    ``train_images/<id>.png``: :func:`hf_quicktune.data.image_ids.locate`)."""
    import csv
    import json

    from hf_quicktune.data.columns import image_extensions
    from hf_quicktune.data.image_ids import image_listings, locate

    columns: list[list[object]] = []
    try:
        suffix = table.suffix.lower()
        if suffix in (".csv", ".tsv"):
            with table.open(encoding="utf-8", errors="replace", newline="") as fh:
                reader = csv.reader(fh, delimiter="\t" if suffix == ".tsv" else ",")
                next(reader, None)  # the header
                records: list[list[object]] = [list(row) for _, row in zip(range(rows), reader)]
        elif suffix == ".jsonl":
            with table.open(encoding="utf-8", errors="replace") as fh:
                records = [list(json.loads(line).values()) for _, line in zip(range(rows), fh) if line.strip()]
        elif suffix == ".parquet":
            import pyarrow.parquet as pq

            batch = next(pq.ParquetFile(table).iter_batches(batch_size=rows), None)
            records = [list(row.values()) for row in (batch.to_pylist() if batch is not None else [])]
        else:
            records = []
        width = max((len(r) for r in records), default=0)
        columns = [[r[i] for r in records if i < len(r)] for i in range(width)]
    except (OSError, ValueError, UnicodeError, AttributeError):
        return False
    names = [v for values in columns for v in values if isinstance(v, str) and v.lower().endswith(image_extensions())]
    if any((base / v).is_file() for v in names):
        return True
    listings = image_listings(base) if ids else []  # read once for all the columns (a pixel table has hundreds)
    return bool(listings) and any(locate(values, base, listings) is not None for values in columns)


def test_image_folders(path: Path, table: datasets.Dataset) -> list[str]:
    """The folders of ``path`` named like a test split (``test/``, or with ``test`` as a word of the name: RSNA's
    ``stage_2_test_images/``) that hold images the table does not name (no value of its first rows is a path into
    them): a table source's unlabelled test images, which ``run``'s summary says to classify."""
    from hf_quicktune.data.columns import image_extensions
    from hf_quicktune.data.splits import split_role

    head = table.select(range(min(len(table), 64))).with_format(None)[:]
    values = [v for column in head.values() for v in column if isinstance(v, str)]
    return [str(d) for d in sorted(path.iterdir()) if d.is_dir() and split_role(d.name) == "test"
            and any(f.name.lower().endswith(image_extensions()) for f in d.iterdir())
            and not any(v.startswith((f"{d.name}/", f"{d.name}\\")) or f"/{d.name}/" in v for v in values)]


def is_saved_to_disk(path: Path) -> bool:
    """A folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``."""
    return (path / "dataset_dict.json").is_file() or ((path / "state.json").is_file()
                                                      and (path / "dataset_info.json").is_file())


def wrapped_dataset(path: Path) -> Path | None:
    """The folder ``path`` only wraps (an unzipped download's ``chest_xray/`` beside macOS' ``__MACOSX/`` copy of
    resource forks, or alone), when it holds split folders or tables, or is named as ``path`` is (a zip's doubled
    folder); None otherwise (one folder of class folders may be one class with sub-folders: the ImageFolder says
    so, and what to pass if it is the dataset)."""
    from hf_quicktune.data.splits import split_role

    entries = [e for e in path.iterdir() if not e.name.startswith((".", "__"))]
    if len(entries) != 1 or not entries[0].is_dir() or is_saved_to_disk(path):
        return None
    inner = entries[0]
    held = [e for e in inner.iterdir() if not e.name.startswith((".", "__"))]
    if inner.name == path.name and any(e.is_dir() for e in held):  # a zip's doubled folder (Garbage/Garbage/CLASS)
        return inner
    return inner if any(e.is_dir() and split_role(e.name) or e.is_file() and e.suffix.lower() in FILE_BUILDERS
                        for e in held) else None
