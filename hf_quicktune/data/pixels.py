"""Tables of pixel values read as images: Kaggle's MNIST-style CSVs and arrays in parquet.

Many image-classification sets are shared as tables of pixels rather than image files: Kaggle's Digit
Recognizer, Fashion-MNIST and Sign Language MNIST CSVs (``label, pixel0 ... pixel783``: one column per pixel),
FER2013 (``emotion, pixels, Usage``: one string of 2,304 space-separated values) and parquet files holding
arrays (a list column, flat or nested ``H x W (x C)``). Such a table has no image column, and hf-quicktune said
so. :func:`detect` recognises these layouts and :func:`to_images` encodes each row's pixels as a lossless PNG in
an ``Image`` column, so the rest of the pipeline (verification, meta-features, transforms, the model card's
usage) reads them as any other image.

Shapes: ``s * s`` values are an ``s x s`` grayscale image; ``3 * s * s`` an RGB one, either channel planes
(CIFAR's own layout: all red values, then green, then blue) or interleaved (``r, g, b`` per pixel). The two are
told apart on the data: in the right reading, vertically adjacent values of a channel are one row apart in the
picture, in the wrong one three rows or a third of a row apart, so the right reading is the smoother one
(natural images are smooth at the scale of a pixel). Arrays with a channel axis may also hold 4 channels (RGBA:
its transparent parts are laid on white like an RGBA file's); flat rows cannot (``4 * s * s`` values are a
grayscale ``2s x 2s`` image too). Values are 0-255, or 0-1 (scaled by 255); others are refused
with what to do.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hf_quicktune.data.columns import detect_image_column
from hf_quicktune.data.headerless import MIN_PIXELS, headerless
from hf_quicktune.errors import DatasetError

if TYPE_CHECKING:  # pragma: no cover
    import datasets

logger = logging.getLogger(__name__)

#: the cache part keeping the images of tables built in memory (``hf-quicktune cache clear pixels``)
CACHE_PART = "pixels"
#: bump when the encoding of pixels to images changes (the kept images are then made again)
ENCODING = 1

#: rows looked at to decide a table's layout and value range
SAMPLE_ROWS = 64
_NUMBERED = re.compile(r"^(.*?)(\d+)$")
_SEPARATED = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class PixelLayout:
    """How a table holds its pixels: ``columns`` (one column, or one per pixel in order), the image ``shape``
    (H, W) or (H, W, 3), ``order`` of the stored values (``hwc`` or ``chw``) and ``scale`` (255 for values in 0-1)."""

    columns: tuple[str, ...]
    kind: str  # wide (a column per pixel) | text (a string of values) | array / flat (a nested / flat list column)
    shape: tuple[int, ...]
    order: str = "hwc"
    scale: float = 1.0
    transposed: bool = False  # each image stored column by column (EMNIST's CSVs: data/emnist.py)

    @property
    def source(self) -> str:
        """The column(s) holding the pixels, named as the user knows them."""
        return self.columns[0] if self.kind != "wide" else f"{self.columns[0]}...{self.columns[-1]}"

    def describe(self) -> str:
        """What was found, for the log and the dataset's info."""
        if self.kind == "wide":
            where = f"{len(self.columns)} pixel columns ({self.columns[0]} ... {self.columns[-1]})"
        else:
            where = f"the {'text' if self.kind == 'text' else 'array'} column '{self.columns[0]}'"
        size = "x".join(str(s) for s in self.shape[:2])
        colour = "RGB" if len(self.shape) == 3 else "grayscale"
        if len(self.shape) == 2:
            stored = ""
        elif self.kind == "array":
            stored = f", channels {'first' if self.order == 'chw' else 'last'}"
        else:
            stored = f", channels stored as {'planes' if self.order == 'chw' else 'interleaved values'}"
        turned = ", stored column by column (turned upright)" if self.transposed else ""
        return f"{where} read as {size} {colour} images{stored}{turned}"


def _numeric(feature: Any) -> bool:
    import datasets

    return isinstance(feature, datasets.Value) and str(feature.dtype).startswith(("int", "uint", "float"))


def _wide_columns(ds: datasets.Dataset) -> tuple[str, ...] | None:
    """The largest group of numeric columns named ``<prefix><i>`` for i = 0..n-1 or 1..n (``pixel0`` ...)."""
    groups: dict[str, list[tuple[int, str]]] = {}
    features = ds.features  # a deep copy at every access: read once
    for name in ds.column_names:
        match = _NUMBERED.match(name)
        if match and _numeric(features[name]):
            groups.setdefault(match.group(1), []).append((int(match.group(2)), name))
    if not groups:
        return None
    numbered = max(groups.values(), key=len)
    numbered.sort()
    first = numbered[0][0]
    if len(numbered) < MIN_PIXELS or first not in (0, 1) or [i for i, _ in numbered] != list(
            range(first, first + len(numbered))):
        return None
    return tuple(name for _, name in numbered)


def _shape_of(count: int, where: str) -> tuple[int, ...]:
    """The image shape of ``count`` values: s*s grayscale or 3*s*s RGB."""
    side = math.isqrt(count)
    if side * side == count:
        return (side, side)
    side = math.isqrt(count // 3)
    if count % 3 == 0 and side * side * 3 == count:
        return (side, side, 3)
    raise DatasetError(
        f"{where} hold {count} values per row, which is neither a square grayscale image (s x s) nor a square RGB "
        "one (3 x s x s), so their shape cannot be told.", input=where, code="pixel_shape",
        fix="Write the images as files (e.g. PNG with Pillow's Image.fromarray) and give their paths in an image "
            "column, or reshape the rows to square images.")


def _parse_text(value: Any) -> np.ndarray | None:
    if not isinstance(value, str):
        return None
    parts = [p for p in _SEPARATED.split(value.strip()) if p]
    if len(parts) < 2:
        return None
    try:
        return np.asarray(parts, dtype=np.float64)
    except ValueError:
        return None


def _rows(layout: PixelLayout, batch: dict[str, list]) -> np.ndarray:
    """The batch's pixels as floats, one flat row per image (stored order)."""
    if layout.kind == "wide":
        return np.column_stack([np.asarray(batch[c], dtype=np.float64) for c in layout.columns])
    values = batch[layout.columns[0]]
    size = int(np.prod(layout.shape))
    if layout.kind == "text":
        parsed = [_parse_text(v) for v in values]
    else:
        parsed = [None if v is None else np.asarray(v, dtype=np.float64).reshape(-1) for v in values]
    bad = next((i for i, p in enumerate(parsed) if p is None or p.size != size), None)
    if bad is not None:
        raise DatasetError(
            f"A row of the pixel column '{layout.columns[0]}' does not hold {size} numbers like the others "
            f"({values[bad]!r:.80}).", input=layout.columns[0], code="pixel_shape",
            fix="Fix or drop that row so that every row holds one image of the same size.")
    return np.stack([p for p in parsed if p is not None])


def _as_images(layout: PixelLayout, flat: np.ndarray) -> np.ndarray:
    """Flat stored rows -> (N, H, W) or (N, H, W, 3) arrays of the picture."""
    n = len(flat)
    images: np.ndarray
    if len(layout.shape) == 2:
        images = flat.reshape(n, *layout.shape)
    else:
        h, w, c = layout.shape
        images = flat.reshape(n, c, h, w).transpose(0, 2, 3, 1) if layout.order == "chw" else flat.reshape(n, h, w, c)
    return images.swapaxes(1, 2) if layout.transposed else images


def _vertical_roughness(images: np.ndarray) -> float:
    return float(np.abs(np.diff(images, axis=1)).mean())


def _channel_order(layout: PixelLayout, flat: np.ndarray) -> str:
    """``chw`` or ``hwc``: the reading whose rows are the smoother (see the module's docstring)."""
    rough = {order: _vertical_roughness(_as_images(PixelLayout(layout.columns, layout.kind, layout.shape, order),
                                                   flat)) for order in ("chw", "hwc")}
    return min(rough, key=rough.__getitem__)


def _scale(flat: np.ndarray, where: str) -> float:
    finite = flat[np.isfinite(flat)]
    if finite.size < flat.size:
        raise DatasetError(f"{where} hold missing or non-finite values.", input=where, code="pixel_values",
                           fix="Fill or drop the rows with missing pixels.")
    low, high = float(finite.min()), float(finite.max())
    if low >= 0 and high <= 1 and not np.all(finite == np.round(finite)):
        return 255.0
    if low >= 0 and high <= 255:
        return 1.0
    raise DatasetError(
        f"{where} hold values from {low:g} to {high:g}; pixels are read as 0-255 (or 0-1).", input=where,
        code="pixel_values",
        fix="Write the pixels as 0-255 integers (undo any normalisation), or save the images as files.")


def _array_shape(value: Any, where: str) -> tuple[tuple[int, ...], str] | None:
    """The picture's shape and stored order of one array value: flat, (H, W), (H, W, C) or (C, H, W)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if arr.ndim == 1:
        return (_shape_of(arr.size, where), "flat") if arr.size >= MIN_PIXELS else None
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[2] not in (1, 3, 4):
        arr = arr.transpose(1, 2, 0)
        order = "chw"
    else:
        order = "hwc"
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2 and arr.size >= MIN_PIXELS:
        return arr.shape, "hwc"
    if arr.ndim == 3 and arr.shape[2] in (3, 4) and arr[..., 0].size >= MIN_PIXELS:  # RGB, RGBA
        return arr.shape, order
    return None


def _list_feature(feature: Any) -> bool:
    import datasets

    kinds = tuple(t for t in (getattr(datasets, n, None) for n in ("Sequence", "List", "LargeList", "Array2D",
                                                                    "Array3D")) if isinstance(t, type))
    return isinstance(feature, (*kinds, list))


def detect(ds: datasets.Dataset, image_column: str | None = None) -> PixelLayout | None:
    """The pixel layout of a table with no image column, or None (it has one, or holds no pixels).

    ``image_column`` (``--image-column``) may name a text or array column of pixels; without it a table
    whose columns include an ``Image`` feature is left alone.
    """
    import datasets

    if image_column is None and any(isinstance(f, datasets.Image) for f in ds.features.values()):
        return None
    sample = ds.select(range(min(len(ds), SAMPLE_ROWS))).with_format(None)[:]
    columns = list(ds.column_names)  # like ds.features, built at every access: read once
    candidates = [image_column] if image_column is not None else columns
    features = ds.features
    for name in candidates:
        if name not in features:
            return None
        feature, values = features[name], [v for v in sample[name] if v is not None]
        if not values:
            continue
        where = f"The values of the column '{name}'"
        if _value_dtype_is_text(feature):
            parsed = [_parse_text(v) for v in values]
            if any(p is None for p in parsed):
                continue
            size = Counter(p.size for p in parsed if p is not None).most_common(1)[0][0]  # others: named by _finish
            if size < MIN_PIXELS:
                continue
            layout = PixelLayout((name,), "text", _shape_of(size, where))
        elif _list_feature(feature):
            shapes = {_array_shape(v, where) for v in values}
            if len(shapes) != 1 or None in shapes:
                continue
            shape, order = next(iter(shapes))  # type: ignore[misc]
            layout = PixelLayout((name,), "flat", tuple(shape)) if order == "flat" else PixelLayout(
                (name,), "array", tuple(shape), order)
        else:
            continue
        return _finish(layout, sample, where)
    if image_column is not None:
        return None
    wide = _wide_columns(ds)
    if wide is None:
        return None
    where = f"The {len(wide)} columns {wide[0]} ... {wide[-1]}"
    return _finish(PixelLayout(wide, "wide", _shape_of(len(wide), where)), sample, where)


def _value_dtype_is_text(feature: Any) -> bool:
    import datasets

    return isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string")


def _finish(layout: PixelLayout, sample: dict[str, list], where: str) -> PixelLayout:
    """The layout with its value scale and (RGB read from flat values) channel order decided on the sample."""
    rows = {k: [v for v, keep in zip(vals, _present(layout, sample), strict=True) if keep] for k, vals in
            sample.items()}
    flat = _rows(layout, rows)
    scale = _scale(flat, where)
    order = layout.order
    if len(layout.shape) == 3 and layout.kind != "array":
        order = _channel_order(layout, flat)
    return PixelLayout(layout.columns, layout.kind, layout.shape, order, scale)


def _present(layout: PixelLayout, sample: dict[str, list]) -> list[bool]:
    if layout.kind == "wide":
        return [True] * len(sample[layout.columns[0]])
    return [v is not None for v in sample[layout.columns[0]]]


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def encode_pngs(layout: PixelLayout, batch: dict[str, Any]) -> list[bytes]:
    """Each image of ``batch`` (its columns of pixels, as ``layout`` holds them) as a lossless PNG."""
    images = _as_images(layout, _rows(layout, batch) * layout.scale)
    return [_png(p) for p in np.clip(np.rint(images), 0, 255).astype(np.uint8)]


def to_images(ds: datasets.Dataset, layout: PixelLayout, column: str = "image") -> datasets.Dataset:
    """``ds`` with its pixels replaced by PNG images in an ``Image`` column named ``column``."""
    import datasets

    if column in ds.column_names and column not in layout.columns:
        raise DatasetError(f"The table has a column '{column}' beside its pixels.", input=column,
                           code="pixel_columns", fix=f"Rename the column '{column}'.")
    if layout.kind != "wide" and ds.with_format("arrow").select_columns([layout.columns[0]])[:].column(
            0).null_count:  # counted by Arrow: no array of the column is made a Python list
        raise DatasetError(f"The pixel column '{layout.columns[0]}' has empty rows.", input=layout.columns[0],
                           code="pixel_values", fix="Drop the rows without an image.")

    def encode(batch: dict[str, list]) -> dict[str, list]:
        return {column: [{"bytes": png, "path": None} for png in encode_pngs(layout, batch)]}

    features = ds.features.copy()
    for name in layout.columns:
        del features[name]
    features[column] = datasets.Image()
    # the pixels as NumPy arrays (a batch of arrays in one piece), not Python lists of lists of numbers: 6-7x faster
    # for 32 x 32 x 3 arrays; a text column's strings are parsed as they are
    source = ds if layout.kind == "text" else ds.with_format("numpy", columns=list(layout.columns),
                                                             output_all_columns=True)
    out = source.map(encode, batched=True, batch_size=256, remove_columns=list(layout.columns), features=features,
                     desc="pixels to images", cache_file_name=_cache_file(ds, layout, column))
    return out if source is ds else out.with_format(None)


def _cache_file(ds: datasets.Dataset, layout: PixelLayout, column: str) -> str | None:
    """Where the images of a table built in memory (an ``.npz``) are kept, named by its content's fingerprint, so
    that a second load or a ``--resume`` reads them instead of encoding every picture again; None for a table read
    from files (datasets caches its ``map`` beside them)."""
    if ds.cache_files:
        return None
    from hf_quicktune.constants import cache_dir

    key = hashlib.sha256(f"{ENCODING}|{ds._fingerprint}|{layout}|{column}".encode()).hexdigest()[:32]
    folder = cache_dir() / CACHE_PART
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / f"{key}.arrow")


def read_pixels(splits: dict[str, datasets.Dataset], image_column: str | None = None, transposed: bool = False
                ) -> tuple[dict[str, datasets.Dataset], str, PixelLayout | None]:
    """``(splits, image column, layout)``: a table of pixels (no image column, or ``image_column`` naming a text
    or array column of pixels) with its rows encoded as images in ``image`` (``transposed``: square images stored
    column by column, EMNIST's); any other table as it is, with the image column detected here (callers need not
    detect it again)."""
    train = splits["train"] if "train" in splits else next(iter(splits.values()))
    if image_column is None:
        try:
            return splits, detect_image_column(train), None
        except DatasetError as err:
            try:
                layout = detect(train)
            except DatasetError as why:  # columns that look like pixels and are not: say both
                raise DatasetError(f"{err.message} Read as pixels, they are not images: {why.message}",
                                   input=why.input, fix=why.fix, code=why.code) from None
            if layout is None:
                if headerless(list(train.column_names)):
                    raise DatasetError(
                        "The table's column names are numbers (" + ", ".join(list(train.column_names)[:5]) + ", ...): "
                        "its first row is data, not a header (pjreddie's MNIST CSVs are written so).",
                        code="no_header", input=list(train.column_names)[:5],
                        fix="Add a header row, e.g. label,pixel0,pixel1,... for a label and its pixels.") from None
                raise err from None
    else:
        layout = detect(train, image_column) if image_column in train.column_names else None
        if layout is None:
            return splits, image_column, None
    if transposed and layout.shape[0] == layout.shape[1]:
        from dataclasses import replace

        layout = replace(layout, transposed=True)
    logger.info("%s", layout.describe())
    return convert_splits(splits, layout), "image", layout


def convert_splits(splits: dict[str, datasets.Dataset], layout: PixelLayout) -> dict[str, datasets.Dataset]:
    """Every split of ``splits`` with its pixels (``layout``, found on the training split) encoded as images."""
    for name, ds in splits.items():
        missing = sorted(set(layout.columns) - set(ds.column_names))
        if missing:
            raise DatasetError(f"Split '{name}' lacks the pixel column(s) {missing[:3]} of the training split.",
                               input=name, code="pixel_columns", fix="Give all splits the same columns.")
    return {name: to_images(ds, layout) for name, ds in splits.items()}
