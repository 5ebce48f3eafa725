"""Whether a split's rows, in the order of the files they were read from, come grouped by class: shards written
class after class, each holding a few classes, of which a part of the files leaves the other classes out
(:mod:`hf_quicktune.data.file_draw` then reads them all)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any


def grouped_by_class(labels: Sequence[Any]) -> bool:
    """Whether ``labels``, in the order of the files read, come grouped by class: one class only, or classes of at
    least 8 rows found in one half of the rows and not the other (a random order puts such a class in one half
    only about once in 128) for 2 of them and 5 % of all. Shards that each hold every class, however ordered
    inside, are not grouped: each half of the rows holds every class."""
    counts = Counter(labels)
    if len(counts) == 1 and len(labels) >= 8:
        return True
    half = len(labels) // 2
    first, second = set(labels[:half]), set(labels[half:])
    frequent = [c for c, k in counts.items() if k >= 8]
    lopsided = sum((c in first) != (c in second) for c in frequent)
    return lopsided >= max(2, 0.05 * len(frequent))


def split_grouped(ds: Any, label_column: str | None) -> bool:
    """:func:`grouped_by_class` of a loaded split's ``label_column`` (``--label-column``; None: its first
    ``ClassLabel``, else a column named like a label); False where no such column holds hashable labels."""
    import datasets

    from hf_quicktune.data.columns import LABEL_NAMES, column_values

    columns = list(ds.column_names)
    features = ds.features
    named = [c for c in columns if isinstance(features[c], datasets.ClassLabel)] + [
        c for name in LABEL_NAMES for c in columns if c.lower() == name]
    column = label_column if label_column in columns else (named[0] if named and label_column is None else None)
    if column is None:
        return False
    try:
        return grouped_by_class(column_values(ds, column))
    except TypeError:  # lists (several labels an image): no classes to group by
        return False
