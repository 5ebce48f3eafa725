"""Classes stored one-hot, a column per class: Kaggle's Plant Pathology 2020 (``image_id, healthy,
multiple_diseases, rust, scab`` with a 1 in the image's class column and 0 elsewhere).

Such a table has no label column, and hf-quicktune said so. When no label column is found, :func:`one_hot_label`
looks for two or more columns of 0 / 1 (integers, booleans or whole floats) with exactly one 1 per row, and names
each row's class by its column. Rows with several 1s are several labels per image (a multi-label set, which
hf-quicktune does not train) and rows without a 1 have no class: both are refused with what to do.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from hf_quicktune.errors import DatasetError

if TYPE_CHECKING:  # pragma: no cover
    import datasets

logger = logging.getLogger(__name__)

#: the name of the label column made from one-hot columns (another name if the table has a column so named)
LABEL = "label"


def _binary(values: list[Any]) -> bool:
    return bool(values) and all(isinstance(v, bool | int | float) and not (isinstance(v, float) and math.isnan(v))
                                and v in (0, 1) for v in values)


def one_hot_columns(ds: datasets.Dataset, exclude: list[str]) -> list[str]:
    """The columns of ``ds`` (``exclude`` left out) whose values are all 0 or 1."""
    import datasets

    from hf_quicktune.data.columns import column_values

    features = ds.features
    numeric = [c for c in ds.column_names if c not in exclude and isinstance(features[c], datasets.Value)
               and (features[c].dtype == "bool" or features[c].dtype.startswith(("int", "uint", "float")))]
    return [c for c in numeric if _binary(column_values(ds, c))]


def one_hot_label(ds: datasets.Dataset, exclude: list[str]) -> tuple[str, list[str]] | None:
    """``(label column, one-hot columns)`` when ``ds`` stores its classes one-hot (see the module's docstring):
    the name of a new column to add with :func:`with_label`; None when it has fewer than two 0 / 1 columns."""
    import numpy as np

    from hf_quicktune.data.columns import column_values

    columns = one_hot_columns(ds, exclude)
    if len(columns) < 2:
        return None
    hot = np.stack([np.asarray(column_values(ds, c), dtype=np.float64) for c in columns], axis=1)
    per_row = hot.sum(axis=1)
    shown = ", ".join(columns[:8]) + (", ..." if len(columns) > 8 else "")
    if (per_row > 1).any():
        rows = np.flatnonzero(per_row > 1)
        raise DatasetError(
            f"The columns {shown} hold one-hot classes, and {len(rows)} row(s) have several of them (row {rows[0]}): "
            "several labels per image. hf-quicktune trains single-label classifiers.", code="multi_label",
            input=columns, fix="Keep one class per image (a label column, or a single 1 per row), or pass the "
                               "class column with --label-column.")
    if (per_row == 0).any():
        rows = np.flatnonzero(per_row == 0)
        raise DatasetError(
            f"The columns {shown} hold one-hot classes, and {len(rows)} row(s) have none of them (row {rows[0]}).",
            code="one_hot_gap", input=columns,
            fix="Give every image its class (add a column for the images of no listed class, e.g. 'other'), or "
                "drop those rows.")
    name = LABEL if LABEL not in ds.column_names else next(
        f"{LABEL}_{i}" for i in range(1, 1000) if f"{LABEL}_{i}" not in ds.column_names)
    logger.warning("no label column: the classes are the one-hot columns %s (the column holding each row's 1)", shown)
    return name, columns


def with_label(ds: datasets.Dataset, name: str, columns: list[str]) -> datasets.Dataset:
    """``ds`` with a string column ``name`` holding each row's one-hot column's name (a split without those columns:
    unchanged, an unlabelled split)."""
    if not all(c in ds.column_names for c in columns):
        return ds

    def label(batch: dict[str, list]) -> dict[str, list]:
        rows = zip(*(batch[c] for c in columns), strict=True)
        return {name: [next((c for c, v in zip(columns, row, strict=True) if v == 1), None) for row in rows]}

    return ds.map(label, batched=True, desc=None)
