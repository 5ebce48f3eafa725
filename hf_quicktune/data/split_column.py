"""A table whose rows say their split: a ``split`` / ``Usage`` column, or fastai's ``is_valid``.

FER2013's CSV marks each row ``Training``, ``PublicTest`` or ``PrivateTest`` in its ``Usage`` column, many
exported tables have a ``split`` column (``train`` / ``val`` / ``test``), and fastai's datasets (Imagenette's
CSVs) a boolean ``is_valid``. Read as one table, such a column was either taken for the label or made the
label ambiguous, and the dataset's own held-out rows were mixed into training. :func:`split_by_column` cuts the
table into those splits (the column dropped) and guesses each value's role: the split names of
:data:`~hf_quicktune.data.splits.SPLIT_ALIASES` in any case, else a value containing ``train``, ``val`` /
``dev`` or ``test``; of two test values, a ``public`` one validates and a ``private`` one tests (a competition's
public leaderboard set is the one models are chosen on). ``--split ROLE=VALUE`` overrides any guess.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from hf_quicktune.data.columns import column_values
from hf_quicktune.data.splits import SPLIT_ALIASES
from hf_quicktune.errors import DatasetError

if TYPE_CHECKING:  # pragma: no cover
    import datasets

logger = logging.getLogger(__name__)

#: column names that hold each row's split (any letter case)
SPLIT_COLUMNS = ("split", "splits", "usage", "subset", "partition", "data_split")
#: boolean columns that mark validation rows (fastai's convention)
VALID_FLAGS = ("is_valid", "is_validation", "is_val")
#: more distinct values than this and the column is not a split column
MAX_SPLITS = 5


def _role(value: str) -> str | None:
    low = value.strip().lower()
    for role, aliases in SPLIT_ALIASES.items():
        if low in aliases:
            return role
    for role, parts in (("validation", ("valid", "val", "dev")), ("train", ("train",)), ("test", ("test",))):
        if any(p in low for p in parts):
            return role
    return None


def guess_roles(values: list[str]) -> dict[str, str] | None:
    """Role -> value for a split column's distinct ``values``; None when a value is no split name, or no
    value is a training one."""
    roles = {v: _role(v) for v in values}
    if None in roles.values():
        return None
    tests = [v for v, r in roles.items() if r == "test"]
    if len(tests) == 2 and "validation" not in roles.values():
        public = [v for v in tests if "public" in v.lower()]
        private = [v for v in tests if "private" in v.lower()]
        if len(public) == 1 and len(private) == 1:
            roles[public[0]] = "validation"
    out: dict[str, str] = {}
    for value, role in roles.items():
        if role in out:
            raise DatasetError(
                f"The split column's values '{out[role]}' and '{value}' both read as the {role} split.",
                input=value, code="split_column",
                fix=f"Say which is which with --split {role}=VALUE (and the other's role with --split ROLE=VALUE).")
        out[role] = value  # type: ignore[index]
    return out if "train" in out else None


def _find(ds: datasets.Dataset) -> tuple[str, list[object]] | None:
    import datasets

    features = ds.features
    for name, feature in features.items():
        low = name.lower()
        if not isinstance(feature, datasets.Value):
            continue
        if low in VALID_FLAGS and feature.dtype == "bool":
            return name, column_values(ds, name)
        if low in SPLIT_COLUMNS and feature.dtype in ("string", "large_string"):
            values = column_values(ds, name)
            if len(set(values)) <= MAX_SPLITS:
                return name, values
    return None


def split_by_column(ds: datasets.Dataset, split_map: dict[str, str] | None = None
                    ) -> tuple[str, dict[str, datasets.Dataset], dict[str, str]] | None:
    """``(column, splits by value, role -> value)`` of a table with a split column, or None (it has none)."""
    found = _find(ds)
    if found is None:
        return None
    name, values = found
    if any(v is None for v in values):
        missing = sum(v is None for v in values)
        raise DatasetError(f"The split column '{name}' is empty in {missing} row(s).", input=name,
                           code="split_column", fix="Give every row its split (train, validation or test).")
    if isinstance(values[0], bool):
        keys = ["validation" if v else "train" for v in values]
        roles = {"train": "train", "validation": "validation"}
    else:
        keys = [str(v) for v in values]
        distinct = sorted(set(keys))
        user = split_map or {}
        try:
            guessed = guess_roles(distinct)
        except DatasetError:
            if not user:
                raise
            guessed = {}
        if guessed is None and not user:
            logger.info("column '%s' has values %s, not split names: not read as splits", name, distinct)
            return None
        roles = dict(guessed or {})
        for role, value in user.items():
            roles = {r: v for r, v in roles.items() if v != value}
            roles[role] = value
    rows = np.asarray(keys)
    splits = {key: ds.select(np.flatnonzero(rows == key)).remove_columns(name) for key in sorted(set(keys))}
    return name, splits, roles
