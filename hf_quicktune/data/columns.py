"""Image and label column detection, and normalisation to ``image`` (Image) + ``label`` (ClassLabel)."""

from __future__ import annotations

import functools
import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hf_quicktune.errors import DatasetError

if TYPE_CHECKING:  # pragma: no cover
    import datasets

logger = logging.getLogger(__name__)

IMAGE_NAMES = ("image", "img", "images", "picture", "photo", "image_path", "image_file", "filepath",
               "file_path", "path", "file", "filename", "file_name", "image_bytes", "bytes")
LABEL_NAMES = ("label", "labels", "target", "targets", "class", "classes", "category", "fine_label",
               "label_id", "class_id", "y", "diagnosis", "dx", "cls")  # cls: a WebDataset sample's class


@functools.cache
def image_extensions() -> tuple[str, ...]:
    """The lower-case file extensions read as images: datasets' ``imagefolder`` list (``.jfif``, ``.jp2``, ...), so
    that a table's paths, a folder's files and ``predict``'s inputs are recognised alike."""
    from hf_quicktune.data.folder_files import read_extensions

    return tuple(sorted(read_extensions()))


def shown_columns(columns: list[str], limit: int = 12) -> str:
    """A table's column names for a message: all of a few, the first ones of many (a pixel table has thousands)."""
    if len(columns) <= limit:
        return str(columns)
    first = ", ".join(repr(c) for c in columns[:limit - 2])
    return f"[{first}, ..., {columns[-1]!r}] ({len(columns)} columns)"


def column_values(ds: datasets.Dataset, column: str) -> list[Any]:
    """Every stored value of ``column``, read in one batch: the label column of a split for counting,
    stratifying or hashing.

    ``ds[column]`` is a lazy ``Column`` in datasets >= 4, and ``np.asarray``, ``Counter`` or a loop over
    it read one row at a time through the formatter (~20 us a row: 1 s per 50,000 images, for every
    such read of a run's start-up); under a custom transform (``with_transform``) each row is also
    transformed with every other column, images included. This reads the raw values (no formatting,
    no transform) of that column alone, in dataset order (indices mappings of ``select`` and ``shuffle``
    applied).
    """
    return ds.with_format(None).select_columns([column])[:][column]


def _is_image_feature(feature: Any) -> bool:
    import datasets

    return isinstance(feature, datasets.Image)


def _value_dtype(feature: Any) -> str | None:
    import datasets

    return feature.dtype if isinstance(feature, datasets.Value) else None


def _looks_like_image_values(values: list[Any]) -> bool:
    """Strings ending in an image extension, or bytes/dicts with bytes (decoded later)."""
    values = [v for v in values if v is not None]
    if not values:
        return False
    for v in values:
        if isinstance(v, dict):
            if not (v.get("bytes") or v.get("path")):
                return False
        elif isinstance(v, bytes | bytearray):
            continue
        elif isinstance(v, str):  # a path, or a URL whose path names an image (a query after it: a CDN's size)
            if not v.split("?", 1)[0].split("#", 1)[0].lower().endswith(image_extensions()):
                return False
        else:
            return False
    return True


def detect_image_column(ds: datasets.Dataset, override: str | None = None, warn: bool = True) -> str:
    """An ``Image`` feature (of several, :func:`_one_image_column`'s; ``warn``: say which), else a column of image
    paths/bytes (by name first, then by content)."""
    columns = list(ds.column_names)
    if override is not None:
        if override not in columns:
            raise DatasetError(
                f"--image-column '{override}' is not a column of this dataset; its columns are "
                f"{shown_columns(columns)}. Pass one of these with --image-column."
            )
        return override
    features = ds.features  # a deep copy at every access: read once (a pixel table has thousands of columns)
    image_features = [c for c in columns if _is_image_feature(features[c])]
    if len(image_features) > 1:  # a segmentation set's image and mask; a pair's two views: by name, never a mask
        return _one_image_column(image_features, warn)
    if image_features:
        return image_features[0]
    sample = (ds.select(range(min(len(ds), 8))) if len(ds) else ds).with_format(None)[:]  # every column, read once
    ordered = [c for c in IMAGE_NAMES if c in columns] + [c for c in columns if c not in IMAGE_NAMES]
    ordered.sort(key=_mask_named)  # a column of mask paths after the pictures' (stable: names first)
    for col in ordered:
        if _looks_like_image_values(list(sample[col])):
            return col
    raise DatasetError(
        f"No image column found: the columns are {shown_columns(columns)} and none is an Image feature or holds "
        "image file paths or encoded image bytes. Pass the column that holds the images with "
        "--image-column NAME (paths relative to the data file are resolved against its folder)."
    )


def _mask_named(name: str) -> bool:
    """Whether a column is named like a segmentation mask (``mask``, ``mask_path``, ``gt``: data/masks.py)."""
    import re

    from hf_quicktune.data.masks import MASK_FOLDERS

    return bool(set(re.split(r"[^a-z0-9]+", name.lower())) & MASK_FOLDERS)


def _one_image_column(names: list[str], warn: bool = True) -> str:
    """Of several Image columns, the one to train on: named like an image (:data:`IMAGE_NAMES`), else the first
    not named like a mask (``mask``, ``segmentation``, ``gt``: data/masks.py), with a warning naming the others."""
    masks = [n for n in names if _mask_named(n)]
    named = [n for name in IMAGE_NAMES for n in names if n.lower() == name]
    chosen = (named or [n for n in names if n not in masks] or names)[0]
    others = ", ".join(f"'{n}'" + (" (a mask)" if n in masks else "") for n in names if n != chosen)
    if warn:
        logger.warning("%d image columns: using '%s'; also %s. Choose with --image-column NAME.", len(names), chosen,
                       others)
    return chosen


def _label_like(dtype: str | None) -> bool:
    return dtype is not None and (dtype.startswith(("int", "uint")) or dtype in ("string", "large_string", "bool"))


def detect_label_column(ds: datasets.Dataset, image_column: str, override: str | None = None) -> str:
    """A ``ClassLabel`` feature, else an int/string column named like a label, else the only
    int/string column besides the images."""
    import datasets

    columns = [c for c in ds.column_names if c != image_column]
    if override is not None:
        if override not in ds.column_names:
            raise DatasetError(
                f"--label-column '{override}' is not a column of this dataset; its columns are "
                f"{shown_columns(list(ds.column_names))}. Pass one of these with --label-column."
            )
        check_label_feature(ds, override)
        return override
    features = ds.features  # a deep copy at every access: read once
    class_labels = [c for c in columns if isinstance(features[c], datasets.ClassLabel)]
    if len(class_labels) > 1:  # CIFAR-100's fine_label / coarse_label: one named like a label first, and say so
        rank = {name: i for i, name in enumerate(LABEL_NAMES)}
        chosen = min(class_labels, key=lambda c: (rank.get(c.lower(), len(rank)), class_labels.index(c)))
        others = ", ".join(f"'{c}' ({features[c].num_classes} classes)" for c in class_labels if c != chosen)
        logger.warning("%d class columns: using '%s' (%d classes); also %s. Choose with --label-column NAME.",
                       len(class_labels), chosen, features[chosen].num_classes, others)
        return chosen
    if class_labels:
        return class_labels[0]
    for name in LABEL_NAMES:
        for col in columns:
            if col.lower() == name:
                dtype = _value_dtype(features[col])
                if _label_like(dtype) or ((dtype or "").startswith("float") and _whole_numbers(ds, col)):
                    return col
    from hf_quicktune.data.groups import is_group_name

    # a patient's or lesion's id is never the class (ISIC 2019's lesion_id beside its one-hot classes)
    usable = [c for c in columns if _label_like(_value_dtype(features[c])) and not is_group_name(c)]
    if len(usable) == 1:  # the only other int/string column: unambiguous, unless each row has its own value
        values = column_values(ds, usable[0])
        distinct = len(set(values))
        if len(values) >= 10 and 2 * distinct > len(values):  # a caption (a WebDataset's .txt) or an id
            raise DatasetError(
                f"No label column found: the only column besides the image column '{image_column}' is "
                f"'{usable[0]}', and it holds {distinct} different values in {len(values)} rows (captions or ids, "
                f"e.g. {str(values[0])[:60]!r}), not classes.", input=usable[0], code="no_label_column",
                fix="Pass a dataset with a class per image (a label column, class folders), or the column that holds "
                    "the classes with --label-column NAME.")
        logger.info("using '%s', the only int/string column besides the images, as the label column", usable[0])
        return usable[0]
    for col in columns:  # a column named like a label that cannot be one says why (lists: multi-label; fractions)
        if col.lower() in LABEL_NAMES:
            check_label_feature(ds, col)
    raise DatasetError(
        f"No label column found: the columns besides the image column '{image_column}' are {shown_columns(columns)}, "
        "and none is a ClassLabel or an int/string column named like a label "
        f"({', '.join(LABEL_NAMES[:6])}, ...). Pass the column that holds the classes with --label-column NAME."
    )


def _fractional(ds: datasets.Dataset, column: str) -> list[float]:
    """The values of a float column that are not whole numbers (NaN is a missing label, not one of them)."""
    return [v for v in column_values(ds, column) if v is not None and math.isfinite(v) and v != int(v)]


def _whole_numbers(ds: datasets.Dataset, column: str) -> bool:
    """A float column of whole numbers: a pandas int column with a gap (NaN) or written as floats."""
    return not _fractional(ds, column)


def _list_types() -> tuple[type, ...]:
    """datasets' list features: 2.x has Sequence; 3+ List and LargeList (Sequence builds a List there)."""
    import datasets

    return tuple(t for t in (getattr(datasets, n, None) for n in ("Sequence", "List", "LargeList")) if isinstance(t, type))


def unwrap_single_labels(splits: dict[str, datasets.Dataset], image_column: str, label_column: str | None = None
                         ) -> dict[str, datasets.Dataset]:
    """``splits`` with each list column of one class per row (``labels: [3]``, a ``Sequence(ClassLabel)`` of one
    label per image: a multi-label schema holding single-label data) made that class's column, where every row of
    every split holds exactly one int / string / ClassLabel value; other columns, and lists of other lengths (a
    multi-label set: refused by :func:`check_label_feature`), are left as they are. Only ``label_column`` when
    given, else the columns named like a label (:data:`LABEL_NAMES`)."""
    import datasets

    lists = _list_types()
    train = splits["train"]
    candidates = [label_column] if label_column is not None else [
        c for c in train.column_names if c != image_column and c.lower() in LABEL_NAMES]
    for name in candidates:
        feature = train.features.get(name)
        inner = getattr(feature, "feature", None)
        if not isinstance(feature, lists) or not (isinstance(inner, datasets.ClassLabel) or _label_like(
                _value_dtype(inner))):
            continue
        holding = {split: ds for split, ds in splits.items() if name in ds.column_names}  # not a test.csv's
        if not all(ds.features[name] == feature and all(isinstance(v, list) and len(v) == 1
                                                         for v in column_values(ds, name)) for ds in holding.values()):
            continue
        logger.info("the label column '%s' holds a list of one class per image: read as that class", name)

        def first(batch: dict, name: str = name) -> dict:
            return {name: [v[0] for v in batch[name]]}

        splits = {**splits, **{split: ds.map(first, batched=True, desc=None, features=datasets.Features(
            {**ds.features, name: inner})) for split, ds in holding.items()}}
    return splits


def check_label_feature(ds: datasets.Dataset, column: str) -> None:
    """Refuse a label column that cannot hold one class per image: lists (multi-label), non-integer numbers
    (a regression target), images or records. Whole numbers stored as floats (a pandas int column with a
    gap) are classes."""
    import datasets

    feature = ds.features[column]
    if isinstance(feature, datasets.ClassLabel) or _label_like(_value_dtype(feature)):
        return
    what = None
    if isinstance(feature, (*_list_types(), list)):
        lengths = [len(v) if isinstance(v, list) else 1 for v in column_values(ds, column)]
        several, empty = sum(n > 1 for n in lengths), sum(n == 0 for n in lengths)
        what = (f"holds lists: {several} of its {len(lengths)} rows hold several labels"
                + (f" and {empty} none" if empty else "") + " (a multi-label set); hf-quicktune trains single-label "
                "classifiers: keep one class per image in a column of its own")
        if not several:
            what = (f"holds lists: {empty} of its {len(lengths)} rows hold no label (the others one); keep one class "
                    "per image")
    elif (_value_dtype(feature) or "").startswith("float"):
        fractional = _fractional(ds, column)
        if not fractional:
            return
        what = (f"holds numbers that are not whole (e.g. {fractional[0]}), a regression target rather than "
                "classes; hf-quicktune trains classifiers: map the values to classes (bins or names) first")
    if what is None:
        what = f"has type {feature}, which is not a class (an int, a string or a ClassLabel)"
    raise DatasetError(f"The label column '{column}' {what}, or pass another column with --label-column.")


def _path_base(relative: list[str], base: Path) -> Path:
    """The folder relative image paths are read from: the data file's (``base``), or the current directory
    where more of a sample of them exist there (a CSV written by a script run beside the data folder holds
    ``data/imgs/1.png`` next to ``data/labels.csv``; read from ``data/`` every file was missing). File names
    found in a folder below ``base`` instead (a competition's ``train_images/``) were made paths before
    (:func:`hf_quicktune.data.image_ids.images_by_id`)."""
    sample = relative[:: max(1, len(relative) // 64)][:64]
    cwd = Path.cwd()
    beside_file = sum(1 for v in sample if (base / v).exists())
    beside_cwd = sum(1 for v in sample if (cwd / v).exists())
    if beside_cwd > beside_file:
        _warn_cwd_base(str(cwd), str(base))
        return cwd
    return base


@functools.lru_cache(maxsize=16)
def _warn_cwd_base(cwd: str, base: str) -> None:
    """Once per folder pair, not once per split."""
    logger.warning("the image paths are relative to the current directory (%s), not to the data file's folder "
                   "(%s): read from the current directory", cwd, base)


def resolve_paths(ds: datasets.Dataset, column: str, base_dir: str | os.PathLike | None) -> datasets.Dataset:
    """Make relative image paths absolute against ``base_dir`` (the folder of the data file), or against the
    current directory where the files are found there instead (:func:`_path_base`). Absolute, so that a
    ``--resume`` from another directory, or a Ray worker, reads the same files."""
    if base_dir is None:
        return ds
    relative = [v for v in column_values(ds, column)
                if isinstance(v, str) and v and not os.path.isabs(v) and "://" not in v]
    if not relative:
        return ds
    base = _path_base(relative, Path(base_dir).resolve())

    def fix(batch: dict[str, list]) -> dict[str, list]:
        out = []
        for v in batch[column]:
            if isinstance(v, str) and v and not os.path.isabs(v) and "://" not in v:
                v = str(base / v)
            out.append(v)
        return {column: out}

    return ds.map(fix, batched=True, desc=None)


def _downloaded(ds: datasets.Dataset, column: str, progress: Any = None) -> datasets.Dataset:
    """A column of image URLs (a web-scraped set's CSV) with each URL downloaded once into the cache and replaced by
    its local path (:mod:`hf_quicktune.data.downloads`); rows whose download failed are left out with a warning,
    or the load stops when more than a few failed."""
    from hf_quicktune.data import downloads
    from hf_quicktune.data.images import MAX_BAD_FRACTION

    values = column_values(ds, column)
    urls = [v for v in values if downloads.is_url(v)]
    if not urls:
        return ds
    errors = downloads.download(urls, progress)
    failed = [i for i, v in enumerate(values) if v in errors]
    if failed:
        shown = "; ".join(f"{url}: {error}" for url, error in list(errors.items())[:3])
        if len(failed) > MAX_BAD_FRACTION * len(values):
            raise DatasetError(
                f"{len(failed)} of {len(values)} image URLs of the column '{column}' could not be downloaded "
                f"({shown}).", input=next(iter(errors)), code="image_urls",
                fix="Check the network (or a proxy: HTTPS_PROXY), or download the images first (e.g. with "
                    "img2dataset) and point the column at the local files.")
        logger.warning("%d of %d image URLs of the column '%s' could not be downloaded and are left out (%s)",
                       len(failed), len(values), column, shown)
        keep = sorted(set(range(len(values))) - set(failed))
        ds = ds.select(keep)

    def local(batch: dict[str, list]) -> dict[str, list]:
        return {column: [str(downloads.local_path(v)) if downloads.is_url(v) else v for v in batch[column]]}

    return ds.map(local, batched=True, desc="image URLs to files")


def to_image_feature(ds: datasets.Dataset, column: str, base_dir: str | os.PathLike | None = None,
                     progress: Any = None) -> datasets.Dataset:
    """Cast a path/bytes/URL column to ``datasets.Image`` (lazy decoding; URLs downloaded once, ``progress`` hears
    how far); Image columns pass through."""
    import datasets

    feature = ds.features[column]
    if isinstance(feature, datasets.Image):
        return ds
    if _value_dtype(feature) in ("string", "large_string"):
        ds = _downloaded(ds, column, progress)
        ds = resolve_paths(ds, column, base_dir)
    try:
        return ds.cast_column(column, datasets.Image())
    except (TypeError, ValueError) as err:
        raise DatasetError(
            f"The image column '{column}' (type {feature}) cannot be read as images: {err}. "
            "It must hold file paths, encoded image bytes or an Image feature; pass another column with --image-column."
        ) from err


def check_missing_labels(ds: datasets.Dataset, column: str, split: str) -> None:
    import datasets

    values = column_values(ds, column)
    unknown = -1 if isinstance(ds.features[column], datasets.ClassLabel) else None  # ClassLabel's "no label"
    missing = [i for i, v in enumerate(values)
               if v is None or v == unknown or (isinstance(v, str) and not v.strip())
               or (isinstance(v, float) and not math.isfinite(v))]
    if missing:
        raise DatasetError(
            f"The label column '{column}' of split '{split}' has {len(missing)} missing value(s) "
            f"(rows {missing[:10]}{' ...' if len(missing) > 10 else ''}). Every image needs a class: "
            "fill or drop those rows, or pass another column with --label-column."
        )


def label_names_for(dsets: dict[str, datasets.Dataset], column: str) -> list[str] | None:
    """Class names across splits (a ClassLabel keeps its own); None when the column is a ClassLabel."""
    import datasets

    first = next(iter(dsets.values()))
    if isinstance(first.features[column], datasets.ClassLabel):
        return None
    values: set[Any] = set()
    for ds in dsets.values():
        values.update(ds.unique(column))
    values.discard(None)
    try:
        ordered = sorted(values)
    except TypeError:
        ordered = sorted(values, key=str)
    return list(dict.fromkeys(class_name(v) for v in ordered))


def id_names(dsets: dict[str, datasets.Dataset], column: str, class_names: list[str]) -> list[str] | None:
    """The names to encode ``column`` by when ``--class-names`` names its classes: an integer column's ids
    ``"0" ... "K-1"`` (every value must be one of them), None for a ClassLabel of K classes (renamed after)."""
    import datasets

    first = next(iter(dsets.values()))
    feature = first.features[column]
    count = len(class_names)
    if isinstance(feature, datasets.ClassLabel):
        if feature.num_classes != count:
            raise DatasetError(f"--class-names gives {count} names for the {feature.num_classes} classes of the "
                               f"label column '{column}' ({', '.join(feature.names[:5])}, ...).", input=class_names,
                               code="class_names", fix="Give one name per class, in the order of their ids.")
        return None
    ids = [str(i) for i in range(count)]
    known = set(ids)
    bad = sorted({class_name(v) for ds in dsets.values() for v in ds.unique(column)} - known - {"None"}, key=str)
    if bad:
        raise DatasetError(
            f"--class-names gives {count} names (ids 0-{count - 1}), but the label column '{column}' holds "
            f"{', '.join(repr(b) for b in bad[:5])}{' ...' if len(bad) > 5 else ''}.", input=class_names,
            code="class_names",
            fix="Give one name per id of an integer label column (label 0 is the first name); a column of names "
                "needs no --class-names.")
    return ids


def class_name(value: Any) -> str:
    """The class name of a label value: a whole number stored as a float is named as the int (3.0 -> "3")."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def encode_labels(ds: datasets.Dataset, column: str, names: list[str] | None) -> datasets.Dataset:
    """Map int/string labels to a ``ClassLabel`` with ``names`` (shared by all splits)."""
    import datasets

    if names is None:
        return ds
    index = {n: i for i, n in enumerate(names)}

    def enc(batch: dict[str, list]) -> dict[str, list]:
        return {column: [index[class_name(v)] for v in batch[column]]}

    features = ds.features.copy()
    features[column] = datasets.ClassLabel(names=names)
    return ds.map(enc, batched=True, features=features)


def normalise_columns(ds: datasets.Dataset, image_column: str, label_column: str,
                      group: str | None = None) -> datasets.Dataset:
    """Keep only ``image`` and ``label`` (renamed), and ``group`` (the column of groups, renamed so) when given."""
    keep = (image_column, label_column) + ((group,) if group else ())
    drop = [c for c in ds.column_names if c not in keep]
    if drop:
        ds = ds.remove_columns(drop)
    renames = {}
    if image_column != "image":
        renames[image_column] = "image"
    if label_column != "label":
        renames[label_column] = "label"
    if group and group != "group":
        renames[group] = "group"
    if renames:
        ds = ds.rename_columns(renames)
    return ds.select_columns(["image", "label"] + (["group"] if group else []))
