"""Decoding images no larger than a transform needs: JPEG DCT scaling (Pillow's ``Image.draft``).

A photo of 2000x1500 pixels trained at 224 px (or at 64 px on a CPU) is decoded at full size by datasets'
``Image`` feature, then resized down by the transform: on a CPU most of that decoding is thrown away, and on a
GPU it is what the loaders wait for. libjpeg can decode straight to 1/2, 1/4 or 1/8 of the size (it skips the
high-frequency coefficients: an area-filtered reduction, what ``Image.thumbnail`` does too), so a JPEG is
decoded at the smallest of those scales whose shorter side stays at least the transform's
``min_source_side`` (:func:`hf_quicktune.data.transforms.build_transform` sets it so that its resize or random
resized crop still only ever shrinks). Other formats, and JPEGs already small enough, decode as before.
``benchmarks/decode_draft.py`` measures the loaders on photos with and without it.
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import datasets
    from PIL import Image as PILImage

#: the transform attribute naming the shorter side a source image needs (build_transform sets it)
MIN_SIDE_ATTR = "min_source_side"


def min_source_side(transform: Any) -> int | None:
    """The shorter side ``transform`` needs its input images to have (None: unknown, decode at full size)."""
    side = getattr(transform, MIN_SIDE_ATTR, None)
    return int(side) if isinstance(side, int | float) and side > 0 else None


def decode_image(value: Any, min_side: int | None = None) -> PILImage.Image:
    """One image entry of a ``datasets.Image(decode=False)`` column (``{"bytes", "path"}``) decoded as datasets
    decodes it (EXIF orientation applied), a JPEG at the smallest DCT scale whose shorter side is at least
    ``min_side`` (none: full size). Entries that are already images are returned as they are; a path that is
    not a local file (a remote or archived one) goes through datasets' own decoding."""
    from PIL import Image, ImageOps
    from PIL.JpegImagePlugin import JpegImageFile

    if isinstance(value, Image.Image):
        return value
    data, path = (value.get("bytes"), value.get("path")) if isinstance(value, dict) else (None, value)
    if not data and not (isinstance(path, str) and os.path.isfile(path)):
        import datasets

        return datasets.Image().decode_example(value if isinstance(value, dict) else {"path": path, "bytes": None})
    image = Image.open(io.BytesIO(data) if data else path)
    # a JPEG, or an MPO (a phone camera's JPEG with a second picture inside), which decodes the same way
    if min_side and isinstance(image, JpegImageFile) and min(image.size) >= 2 * min_side:
        image.draft(image.mode, (min_side, min_side))  # both sides stay >= min_side (the largest scale that does)
    image.load()  # the file is read now (datasets does the same: no open file per image)
    if image.getexif().get(Image.ExifTags.Base.Orientation) is not None:
        image = ImageOps.exif_transpose(image)
    return image


def undecoded(split: datasets.Dataset, column: str) -> datasets.Dataset | None:
    """``split`` with its image ``column`` left undecoded (to decode with :func:`decode_image`), or None when the
    column is not a decoding ``datasets.Image`` feature (nothing to gain)."""
    import datasets

    feature = split.features.get(column)
    if not isinstance(feature, datasets.Image) or not feature.decode:
        return None
    return split.cast_column(column, datasets.Image(decode=False))
