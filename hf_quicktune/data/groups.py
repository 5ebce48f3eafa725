"""Groups of images that must not be split: a patient's scans, a lesion's photos, a subject's frames.

A random hold-out puts some of a patient's images in training and others in validation: the model is scored on
people it has seen, and the search picks what memorises them (HAM10000's lesions have up to six photos each; a
chest X-ray set holds several studies per patient). Such tables name the group (``patient_id``, ``lesion_id``,
``subject_id``): the validation and test shares carved from train then take whole groups
(:func:`hf_quicktune.data.splits.group_holdout`).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from hf_quicktune.errors import DatasetError

if TYPE_CHECKING:  # pragma: no cover
    import datasets

logger = logging.getLogger(__name__)

#: column names (lower case, without separators) read as groups
GROUP_NAMES = ("patientid", "patient", "subjectid", "subject", "lesionid", "caseid", "participantid", "individualid",
               "studyid")


def name_key(name: str) -> str:
    """A column's name as compared with a list of names: lower case, without separators (``Patient ID``:
    ``patientid``)."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def is_group_name(name: str) -> bool:
    """Whether a column is named like a group of images (:data:`GROUP_NAMES`: ``patient_id``, ``Lesion ID``)."""
    return name_key(name) in GROUP_NAMES


def group_column(ds: datasets.Dataset, taken: tuple[str, ...], override: str | None = None) -> str | None:
    """The column of ``ds`` whose values name the groups: ``override`` (``"none"``: no groups), else the first named
    like one (:data:`GROUP_NAMES`, not the image or label column ``taken``) where some group holds several images
    and most rows have a group (a row without one is a group of its own: :func:`group_values`); None when there is
    none."""
    if override is not None:
        if override.lower() == "none":
            return None
        if override not in ds.column_names:
            raise DatasetError(f"--group-column '{override}' is not a column of this dataset; its columns are "
                               f"{', '.join(ds.column_names)}.", input=override, code="unknown_column",
                               fix="Pass one of them, or --group-column none to split images.")
        return override
    keys = {name_key(c): c for c in ds.column_names if c not in taken}
    for name in GROUP_NAMES:
        column = keys.get(name)
        if column is None:
            continue
        values = ds.select_columns([column]).to_pandas()[column]
        if 2 * values.notna().sum() > len(values) and values.dropna().duplicated().any():
            return column
    return None


def group_values(values: list[object]) -> list[str]:
    """Each row's group as a string; a row without one (ISIC 2019's images of no recorded lesion) its own group."""
    return [f"<row {i}>" if v is None or v != v else str(v) for i, v in enumerate(values)]  # v != v: NaN


def group_leak_warnings(train: set[str], given: dict[str, set[str]], column: str) -> list[str]:
    """What to know when the splits a dataset gives share groups with its training split (``given``: split -> its
    groups): the score counts patients the model trained on, as a random split would."""
    out = []
    for split, groups in given.items():
        shared = sorted(train & groups)
        if shared:
            out.append(f"{len(shared)} of the {len(groups)} groups of the {split} split (column '{column}': "
                       f"{', '.join(shared[:3])}{', ...' if len(shared) > 3 else ''}) also have training images: its "
                       "score counts them as if unseen. Re-split the dataset so that each group's images are in one "
                       "split.")
    return out
