"""A training table's cross-validation folds: a ``kfold`` / ``fold`` column of small integers (or ``fold_3``).

Kaggle notebooks write ``train_folds.csv`` with a ``kfold`` column (0-4) made by ``StratifiedKFold`` or
``StratifiedGroupKFold`` — often with care: whole patients per fold, duplicates in one fold — and ESC-50 or
UrbanSound8K-style tables ship a ``fold`` column (1-5, 1-10). A random hold-out would ignore that work and, where
the folds keep groups together, leak them. :func:`split_by_folds` holds out one fold as the validation split (the
lowest, or the one ``--split validation=N`` names; ``--split test=M`` holds out another as test) and trains on
the rest. Rows of a negative fold (``-1``: a notebook's "not assigned") always train.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import numpy as np

from hf_quicktune.data.columns import column_values
from hf_quicktune.data.groups import name_key
from hf_quicktune.data.splits import match_splits
from hf_quicktune.errors import DatasetError

if TYPE_CHECKING:  # pragma: no cover
    import datasets

logger = logging.getLogger(__name__)

#: column names (lower case, without separators) read as folds
FOLD_NAMES = ("kfold", "fold", "folds", "foldid", "foldidx", "foldnumber", "cvfold", "foldno")
#: a fold column has between these many folds
MIN_FOLDS, MAX_FOLDS = 2, 20


#: a fold written as text: ``3``, ``fold3``, ``fold_3``, ``f3``, ``cv-3``
_FOLD_TEXT = re.compile(r"^\s*(?:fold|cv|f|k)?[_\-\s]?(-?\d+)\s*$", re.IGNORECASE)


def fold_column(ds: datasets.Dataset) -> tuple[str, list[int]] | None:
    """``(name, values)`` of ``ds``'s fold column: named like one (:data:`FOLD_NAMES`), a fold number in every row
    (integers, whole floats as pandas writes a column that once held a gap, or text such as ``fold_3``),
    :data:`MIN_FOLDS` to :data:`MAX_FOLDS` non-negative folds; None when it has none."""
    import datasets

    for name, feature in ds.features.items():
        if name_key(name) not in FOLD_NAMES or not isinstance(feature, datasets.Value):
            continue
        values = _fold_numbers(column_values(ds, name), feature.dtype)
        if values is None:
            continue
        folds = {v for v in values if v >= 0}
        if MIN_FOLDS <= len(folds) <= MAX_FOLDS:
            return name, values
    return None


def _fold_numbers(values: list, dtype: str) -> list[int] | None:
    """The fold numbers of a column of ``dtype`` (see :func:`fold_column`), or None where a row holds none."""
    if None in values:
        return None
    if dtype.startswith(("int", "uint")):
        return [int(v) for v in values]
    if dtype.startswith("float"):
        return [int(v) for v in values] if all(float(v).is_integer() for v in values) else None
    if dtype not in ("string", "large_string"):
        return None
    numbers = []
    for value in values:
        match = _FOLD_TEXT.match(str(value))
        if match is None:
            return None
        numbers.append(int(match.group(1)))
    return numbers


def split_by_folds(available: dict[str, datasets.Dataset], split_map: dict[str, str] | None = None
                   ) -> tuple[str, dict[str, datasets.Dataset], dict[str, str]] | None:
    """``(column, splits, split map)`` where the dataset gives no validation split and its training split has a
    fold column: one fold held out as validation (the lowest, or ``split_map``'s ``validation=N``; ``test=M``
    holds out another), the other folds as train; the split map points the roles at them. None otherwise."""
    user = dict(split_map or {})
    real = {role: name for role, name in user.items() if name in available}
    try:
        roles = match_splits(list(available), real)
    except DatasetError:
        return None  # which split trains is for match_splits to say
    if "validation" in roles:
        return None
    train_name = roles["train"]
    found = fold_column(available[train_name])
    if found is None:
        return None
    name, values = found
    folds = sorted({v for v in values if v >= 0})
    names = {str(f): f for f in folds}
    held: dict[str, int] = {}
    for role in ("validation", "test"):
        if role in user and role not in real:
            if user[role] not in names:
                raise DatasetError(
                    f"--split {role}={user[role]}: the fold column '{name}' has folds {', '.join(names)}.",
                    input=f"{role}={user[role]}", code="unknown_split",
                    fix=f"Name one of those folds (--split {role}=N), or --split {role}=SPLIT for a split of the "
                        "dataset.")
            held[role] = names[user[role]]
    if "validation" not in held:
        held["validation"] = next(f for f in folds if f not in held.values())
    if len(set(held.values())) < len(held):
        raise DatasetError(f"--split validation and test name the same fold ({held['validation']}) of '{name}'.",
                           input=str(held["validation"]), code="shared_split",
                           fix="Hold out two different folds, or leave --split test out.")
    if len(held) >= len(folds):
        raise DatasetError(f"The fold column '{name}' has {len(folds)} folds: holding out {len(held)} leaves none "
                           "to train on.", input=name, code="few_folds", fix="Leave --split test out.")
    rows = np.asarray(values)
    train = available[train_name]
    out = {k: v for k, v in available.items() if k != train_name}
    keys = {role: f"{name} == {fold}" for role, fold in held.items()}
    for role, fold in held.items():
        out[keys[role]] = train.select(np.flatnonzero(rows == fold)).remove_columns(name)
    rest = (f"{name} != {held['validation']}" if len(held) == 1 else
            f"{name} not in ({', '.join(str(f) for f in held.values())})")
    out[rest] = train.select(np.flatnonzero(~np.isin(rows, list(held.values())))).remove_columns(name)
    logger.warning("fold %s of column '%s' (%d folds) is the validation split%s and the other folds train, as the "
                   "table's folds were made; --split validation=N holds out another fold", held["validation"], name,
                   len(folds), f", fold {held['test']} the test split" if "test" in held else "")
    return name, out, {**real, "train": rest, **keys}
