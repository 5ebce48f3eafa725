"""A CSV whose first row is data, not a header: pjreddie's MNIST CSVs and Kaggle's EMNIST ones are written so.
Told by its column names (all numbers), and given names when its width is a label and an image's pixels."""

from __future__ import annotations

import math
import re

#: the fewest values a row needs to be read as an image (an 8x8 grayscale one: scikit-learn's digits)
MIN_PIXELS = 64


def headerless(columns: list[str]) -> bool:
    """Column names that are all numbers (pandas appends ``.1``, ``.2`` to repeats): a CSV's data row read as
    its header."""
    return len(columns) >= 8 and all(re.fullmatch(r"-?\d+(\.\d+)?", c.strip()) for c in columns)


def pixel_count(count: int) -> bool:
    """Whether ``count`` values are one square image's pixels: ``s * s`` gray or ``3 * s * s`` RGB, 64 or more."""
    side, rgb = math.isqrt(count), math.isqrt(count // 3)
    return count >= MIN_PIXELS and (side * side == count or (count % 3 == 0 and 3 * rgb * rgb == count))


def headerless_names(count: int) -> list[str] | None:
    """Column names for a headerless CSV of ``count`` numbers per row that are a label and an image's pixels
    (pjreddie's MNIST and Kaggle's EMNIST CSVs: the label first), or an image's pixels alone; None for any other
    count (the columns cannot be told)."""
    if pixel_count(count - 1):
        return ["label", *(f"pixel{i}" for i in range(count - 1))]
    if pixel_count(count):
        return [f"pixel{i}" for i in range(count)]
    return None
