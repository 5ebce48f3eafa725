"""The images of a table to classify (``hf-quicktune predict MODEL test.csv``): a Kaggle test set is a table (the
Digit Recognizer's ``test.csv`` of pixel columns, a CSV naming image files), not a folder; a NumPy ``.npz`` or an
HDF5 file of test arrays (``x_test``, with ``y_test``) is read as one too.

Each row is a :class:`TableRow`: its image entry (``{"bytes", "path"}``, pixels encoded as by training: see
:mod:`hf_quicktune.data.pixels`), its key (the table's id column, ``id`` / ``ImageId`` / ..., else the row number
from 0) and, when the table has a label column, its true class.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hf_quicktune.data import archives, emnist, hdf5, image_ids, npz, pixels, webdataset
from hf_quicktune.data import columns as col
from hf_quicktune.data.quiet import no_progress_bars
from hf_quicktune.data.split_column import SPLIT_COLUMNS, VALID_FLAGS
from hf_quicktune.errors import DatasetError

logger = logging.getLogger(__name__)

#: file types read as tables (the data-file builders of the sources)
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".json", ".jsonl", ".npz", ".h5", ".hdf5", ".he5")
#: column names that identify a row (any letter case); a competition's submission is keyed by them
ID_NAMES = ("id", "imageid", "image_id", "img_id", "imgid", "index", "idx", "key")  # key: a WebDataset sample's


@dataclass(frozen=True)
class TableRow:
    """One row of a table to classify."""

    table: str  # the table's path
    key: Any  # the id column's value, else the row number (from 0)
    key_name: str  # the id column's name, else "row"
    value: dict[str, Any]  # the image entry: {"bytes", "path"}
    true: str | None = None  # the class in the table's label column

    def __str__(self) -> str:
        return f"{self.table}:{self.key}"


def is_table(path: Path) -> bool:
    """A table, array file or WebDataset shard: its rows (samples) are the images."""
    return path.is_file() and (path.suffix.lower() in TABLE_SUFFIXES or webdataset.is_shard(path))


def read_table(path: Path) -> list[TableRow]:
    """Every row of the table at ``path`` (an image column of paths, bytes or images, or pixels), in order."""
    with no_progress_bars():
        return _read(path)


def read_hub_split(spec: str, split: str | None = None) -> list[TableRow]:
    """Every row of a Hub dataset's ``split`` (default: its test split, else its validation split, else its only
    one), in order, with its class where the split has labels: ``predict MODEL org/name`` scores a model on a
    Hub dataset's held-out images."""
    from hf_quicktune.data.sources import resolve_source
    from hf_quicktune.data.splits import split_role

    def pick(names: list[str]) -> str:
        if split is None:
            roles = {split_role(name): name for name in reversed(names)}  # the first of a role
            chosen = roles.get("test") or roles.get("validation") or (names[0] if len(names) == 1 else None)
            if chosen is None:
                raise DatasetError(f"{spec} has no test or validation split to classify (its splits: "
                                   f"{', '.join(names)}).", input=spec, code="unknown_split",
                                   fix="Name the split to classify with --split NAME.")
            return chosen
        if split not in names:
            raise DatasetError(f"{spec} has no split '{split}' (its splits: {', '.join(names)}).", input=split,
                               code="unknown_split", fix="Pass one of them with --split NAME.")
        return split

    with no_progress_bars():
        source = resolve_source(spec, pick_split=pick)  # the other splits' files are not downloaded
        split = pick(list(source.splits))
        logger.info("%s: classifying its '%s' split (%d images)", spec, split, len(source.splits[split]))
        return _rows(source.splits[split], source.base_dir, f"{spec}:{split}")


def _read(path: Path) -> list[TableRow]:
    from hf_quicktune.data.sources import resolve_source

    if path.suffix.lower() in (".npz", *hdf5.SUFFIXES):  # arrays: the test images (x_test), labelled by y_test
        arrays, ds = (npz if path.suffix.lower() == ".npz" else hdf5).images_to_classify(path)
        logger.info("%s: classifying the array(s) %s", path, arrays)
        base_dir = None
    elif webdataset.is_shard(path):  # its samples, keyed by their key, labelled by their .cls or .json
        ds, base_dir = next(iter(webdataset.load_shards([path], keep_key=True).values())), None
    else:  # test.csv beside test_images.zip: read where the zip is unpacked (the table beside it a link)
        packed = archives.holds_archived_images(path.parent)
        source = resolve_source(str(archives.unpacked_copy(path.parent) / path.name if packed else path))
        ds, base_dir = next(iter(source.splits.values())), source.base_dir
    return _rows(ds, base_dir, str(path))


def _rows(ds: Any, base_dir: str | None, path: str) -> list[TableRow]:
    """The rows of the table ``ds`` (read from ``path``; relative image paths from ``base_dir``)."""
    import datasets

    if len(ds) == 0:
        raise DatasetError(f"{path} has no rows.", input=str(path), code="empty_dataset",
                           fix="Pass a table with a row per image.")
    # a competition's test.csv of ids with test_images/ beside it: its rows keyed by the ids
    paths = next(n for n in ("image", "image_path", "_image") if n not in ds.column_names)
    by_id = image_ids.images_by_id({"train": ds}, base_dir, into=paths)
    if by_id is not None:
        ds = by_id[0]["train"]
    splits, image_column, _ = pixels.read_pixels({"train": ds}, None if by_id is None else paths,
                                                 transposed=emnist.is_emnist(path))  # upright, as training read it
    ds = splits["train"]
    ds = col.to_image_feature(ds, image_column, base_dir).cast_column(image_column, datasets.Image(decode=False))
    names = list(ds.column_names)
    key_name = next((c for c in names if c.lower() in ID_NAMES and c != image_column), None) or (
        by_id[1] if by_id is not None else None)  # an id column, else the ids that named the images
    truth = _label_values(ds, image_column, key_name)
    keys = col.column_values(ds, key_name) if key_name else list(range(len(ds)))
    images = col.column_values(ds, image_column)
    return [TableRow(str(path), key, key_name or "row", image, None if truth is None else truth[i])
            for i, (key, image) in enumerate(zip(keys, images, strict=True))]


def _label_values(ds: Any, image_column: str, key_name: str | None) -> list[str | None] | None:
    """The label column's classes as names, when the table has one (a labelled test set)."""
    split_columns = [c for c in ds.column_names if c.lower() in SPLIT_COLUMNS + VALID_FLAGS]  # not the classes
    rest = ds.remove_columns([c for c in [key_name, *split_columns] if c])
    try:
        label = col.detect_label_column(rest, image_column)
    except DatasetError:
        return None
    feature = rest.features[label]
    values = col.column_values(rest, label)
    if hasattr(feature, "int2str"):  # a ClassLabel: its names
        return [None if v is None or v < 0 else feature.int2str(v) for v in values]
    return [None if v is None else col.class_name(v) for v in values]
