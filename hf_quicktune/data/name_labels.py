"""Classes read from image file names, for a folder of images without class folders.

Some of the best-known image-classification sets are shared as one flat folder whose file names carry the class:
Kaggle's Dogs vs. Cats (``train/cat.0.jpg``, ``train/dog.12.jpg``), Oxford-IIIT Pet (``Abyssinian_1.jpg``,
``american_bulldog_10.jpg``), Stanford Dogs flattened (``n02085620_10074.jpg``). fastai reads them with
``ImageDataLoaders.from_name_re``; hf-quicktune said "no labels". A file's class is its name without the
extension and a trailing number (and the separator before it: ``.``, ``_``, ``-``, a space, ``(3)``).

The names are read as classes only when every image's name has that form, its class holds a letter and no date
and is not a camera's name, and every class has at least :data:`MIN_PER_CLASS` images: a phone's photos
(``IMG_20230101_1234.jpg``, ``PXL_...``, ``DSC01234``: a date or a counter), bare numbers (``1.jpg``: a
competition's unlabelled test folder) and names unique to each file (no class repeats) stay unlabelled. The run's log says which classes were read this way.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import PurePosixPath

#: a class read from names needs this many images (names that never repeat are no classes)
MIN_PER_CLASS = 2

_NAMED = re.compile(r"(?P<cls>.+?)[\s._-]*(?:\(\d+\)|\d+)")
_LETTER = re.compile(r"[^\W\d_]")
#: what cameras, phones and screenshots name files (IMG_20230101_1234.jpg, PXL_..., DSC01234, Screenshot 2024-...):
#: a date or a counter, never a class
_CAMERA = re.compile(r"(img|dsc[nf]?|pxl|vid|mvimg|screenshot|whatsapp image|photo|image|pic|picture|frame|scan)"
                     r"[\s._-]*\d", re.IGNORECASE)
_DATE = re.compile(r"(?<!\d)(19|20)\d{2}[-_.]?\d{2}[-_.]?\d{2}(?!\d)")


def class_of(name: str) -> str | None:
    """The class a file name carries (``cat.0.jpg`` -> ``cat``, ``american_bulldog_10.jpg`` ->
    ``american_bulldog``), or None when its name is not a class followed by a number."""
    stem = PurePosixPath(name).stem
    match = _NAMED.fullmatch(stem)
    if match is None or not _LETTER.search(match["cls"]) or _CAMERA.match(stem) or _DATE.search(stem):
        return None
    return match["cls"]


def labels_from_names(names: list[str]) -> list[str] | None:
    """Each file's class from its name (see the module's docstring), or None when the names do not label the files:
    one of them has no class, fewer than two classes, or a class with fewer than :data:`MIN_PER_CLASS` files."""
    classes = [class_of(n) for n in names]
    if not classes or any(c is None for c in classes):
        return None
    counts = Counter(classes)
    if len(counts) < 2 or min(counts.values()) < MIN_PER_CLASS:
        return None
    return [c for c in classes if c is not None]


def describe(labels: list[str], limit: int = 6) -> str:
    """``cat (12,500), dog (12,500)``: the classes read and their files, the largest first."""
    counts = Counter(labels).most_common()
    shown = ", ".join(f"{c} ({n:,})" for c, n in counts[:limit])
    return shown + (f" and {len(counts) - limit} more" if len(counts) > limit else "")
