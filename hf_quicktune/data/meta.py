"""Dataset meta-features (Quick-Tune §4) and a stable content fingerprint for caches."""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np

from hf_quicktune.data.columns import column_values
from hf_quicktune.data.types import DatasetMeta

if TYPE_CHECKING:  # pragma: no cover
    import datasets

_MODE_CHANNELS = {"1": 1, "L": 1, "P": 3, "I": 1, "F": 1, "I;16": 1, "LA": 2, "RGB": 3, "RGBA": 4, "CMYK": 4, "YCbCr": 3}


def _spread(n: int, k: int) -> list[int]:
    """``k`` evenly spaced row indices out of ``n`` (deterministic sample)."""
    if n <= k:
        return list(range(n))
    return sorted({int(i) for i in np.linspace(0, n - 1, k)})


def compute_meta(splits: dict[str, datasets.Dataset], sample: int = 200) -> DatasetMeta:
    """#train images, #classes, median height/width and channels of (a sample of) the train split, and its most
    common image mode and file format."""
    train = splits["train"]
    heights: list[int] = []
    widths: list[int] = []
    modes: Counter[str] = Counter()
    formats: Counter[str | None] = Counter()
    for i in _spread(len(train), sample):
        im = train[i]["image"]
        widths.append(im.width)
        heights.append(im.height)
        modes[im.mode] += 1
        formats[im.format] += 1
    mode = modes.most_common(1)[0][0] if modes else "RGB"
    return DatasetMeta(
        num_train=len(train),
        num_classes=len(train.features["label"].names),
        median_height=int(np.median(heights)) if heights else 0,
        median_width=int(np.median(widths)) if widths else 0,
        channels=_MODE_CHANNELS.get(mode, 3),
        image_mode=mode if modes else None,
        image_format=formats.most_common(1)[0][0] if formats else None,
    )


def _image_bytes(value: Any) -> bytes:
    if isinstance(value, dict):
        if value.get("bytes"):
            return value["bytes"]
        if value.get("path"):
            try:
                with open(value["path"], "rb") as f:
                    return f.read()
            except OSError:
                return value["path"].encode()
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    buf = io.BytesIO()
    value.save(buf, format="PNG")
    return buf.getvalue()


def fingerprint(splits: dict[str, datasets.Dataset], extra: dict[str, Any] | None = None, sample: int = 64) -> str:
    """A stable hash of the prepared content: class names, every label, a sample of image bytes.

    Independent of where the data came from and of process state, so two runs on the same
    data share feature and rank caches; ``extra`` holds options that change the content.
    """
    import datasets

    h = hashlib.sha256()
    h.update(json.dumps(extra or {}, sort_keys=True, default=str).encode())
    for name in sorted(splits):
        ds = splits[name]
        h.update(name.encode())
        h.update(json.dumps(ds.features["label"].names).encode())
        h.update(np.asarray(column_values(ds, "label"), dtype=np.int64).tobytes())
        raw = ds.cast_column("image", datasets.Image(decode=False))
        for i in _spread(len(raw), sample):
            h.update(hashlib.sha256(_image_bytes(raw[i]["image"])).digest())
    return h.hexdigest()[:16]
