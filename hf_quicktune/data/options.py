"""The dataset options, defined once: every command that loads a dataset (``data inspect``, ``run``,
``rank``, ``estimate``, ``finetune``) and every run recipe takes exactly these, so they cannot drift.

Each :class:`DatasetOption` names its command-line flag, its key in :class:`~hf_quicktune.run.settings.RunSettings`
(and recipes, and ``settings.json``) and the keyword of :func:`hf_quicktune.data.load` it becomes.
The click decorator that adds them to a command is :func:`hf_quicktune.commands.options.dataset_options`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hf_quicktune.errors import ConfigError


@dataclass(frozen=True)
class DatasetOption:
    key: str  # click parameter name = RunSettings / recipe key
    flag: str  # command-line flag
    load_kwarg: str  # keyword of hf_quicktune.data.load
    help: str
    type: type = str
    multiple: bool = False
    metavar: str | None = None


DATASET_OPTIONS: tuple[DatasetOption, ...] = (
    DatasetOption("dataset_config", "--dataset-config", "config", "Configuration (subset) of a Hub dataset."),
    DatasetOption("revision", "--revision", "revision", "Branch, tag or commit of a Hub dataset."),
    DatasetOption("split", "--split", "split_map",
                  "Map train/validation/test to the dataset's split names, e.g. validation=dev, or to folds of a "
                  "training table's kfold / fold column, e.g. validation=3 (default: its lowest fold validates) "
                  "(repeatable).",
                  multiple=True, metavar="ROLE=NAME"),
    DatasetOption("image_column", "--image-column", "image_column",
                  "Column holding the images (Image feature, file paths or bytes). [default: detected]"),
    DatasetOption("label_column", "--label-column", "label_column",
                  "Column holding the classes (ClassLabel, int or string). [default: detected]"),
    DatasetOption("class_names", "--class-names", "class_names",
                  "Names of the classes of an integer label column, in the order of their ids: a comma-separated "
                  "list or a text file with one per line (label 0 is the first). [default: the ids]",
                  metavar="NAMES|FILE"),
    DatasetOption("group_column", "--group-column", "group_column",
                  "Column naming whom or what each image shows (a patient, a lesion): the validation and test shares "
                  "carved from train take whole groups, so none has images on both sides ('none': split images). "
                  "[default: a column named like patient_id, subject_id or lesion_id whose groups hold several "
                  "images, in the labels' table or in a table beside it that shares its id column (ISIC 2019's "
                  "metadata); an image without a group is one of its own]"),
    DatasetOption("val_fraction", "--val-fraction", "val_fraction",
                  "Validation share carved (stratified) from train when there is no validation split. [default: 0.2]",
                  type=float),
    DatasetOption("test_fraction", "--test-fraction", "test_fraction",
                  "Test share carved from train when there is no test split (0: none). [default: 0]", type=float),
)

#: RunSettings / recipe keys of the dataset options
DATASET_KEYS: tuple[str, ...] = tuple(o.key for o in DATASET_OPTIONS)
_ROLES = ("train", "validation", "test")


def parse_split_map(values: Iterable[str] | Mapping[str, str] | None) -> dict[str, str] | None:
    """``("train=training", "validation=dev")`` (or that mapping) -> ``{"train": "training", "validation": "dev"}``."""
    if values is None:
        return None
    if isinstance(values, Mapping):
        items = [(str(k), str(v)) for k, v in values.items()]
    elif isinstance(values, str):
        items = [_pair(values)]
    else:
        items = [_pair(str(v)) for v in values]
    out = {}
    for role, name in items:
        role, name = role.strip(), name.strip()
        if role not in _ROLES or not name:
            raise ConfigError(f"--split expects ROLE=NAME with ROLE one of {', '.join(_ROLES)} (e.g. validation=dev), "
                              f"got '{role}={name}'.", input=f"{role}={name}", code="bad_split_map")
        out[role] = name
    return out or None


def parse_class_names(value: str | Iterable[str]) -> list[str]:
    """``"cat,dog,owl"``, a text file of one name per line, or a list (a recipe's) -> the names, in id order."""
    from pathlib import Path

    if isinstance(value, str):
        path = Path(value).expanduser()
        if path.is_file():
            names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        else:
            names = [part.strip() for part in value.split(",")]
    else:
        names = [str(v).strip() for v in value]
    if len(names) < 2 or not all(names) or len(set(names)) != len(names):
        raise ConfigError(f"--class-names needs two or more distinct, non-empty names, got {names!r}.", input=value,
                          fix="Pass them in the order of the label ids, e.g. --class-names cat,dog,owl, or a text "
                              "file with one name per line.", code="bad_option")
    return names


def _pair(text: str) -> tuple[str, str]:
    role, sep, name = text.partition("=")
    if not sep or not role.strip() or not name.strip():
        raise ConfigError(f"--split expects ROLE=NAME (e.g. validation=dev), got {text!r}.", input=text,
                          fix="Write it as --split validation=dev (repeat it for each split).", code="bad_split_map")
    return role, name


def normalize(values: Mapping[str, Any]) -> dict[str, Any]:
    """The dataset options of ``values`` checked and in stored form (split map as a dict; None = not given)."""
    out: dict[str, Any] = {}
    for opt in DATASET_OPTIONS:
        value = values.get(opt.key)
        if value is None or (opt.multiple and not isinstance(value, Mapping) and not value):
            out[opt.key] = None
            continue
        if opt.key == "split":
            out[opt.key] = parse_split_map(value)
        elif opt.key == "class_names":
            out[opt.key] = parse_class_names(value)
        elif opt.type is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{opt.flag} must be a number, got {value!r}.", input=value, code="bad_option")
            out[opt.key] = float(value)
        else:
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{opt.flag} must be a non-empty name, got {value!r}.", input=value,
                                  code="bad_option")
            out[opt.key] = value.strip()
    if out["image_column"] is not None and out["image_column"] == out["label_column"]:
        raise ConfigError(f"--image-column and --label-column both name {out['image_column']!r}.",
                          input=out["image_column"], fix="Pass the column of the images and the column of the "
                          "classes (or leave either out to detect it).", code="bad_option")
    val, test = out["val_fraction"], out["test_fraction"]
    if val is not None and not 0 < val < 1:
        raise ConfigError(f"--val-fraction must be between 0 and 1 (exclusive), got {val}.", input=val,
                          fix="Use e.g. --val-fraction 0.2.", code="bad_option")
    if test is not None and not 0 <= test < 1:
        raise ConfigError(f"--test-fraction must be in [0, 1), got {test}.", input=test,
                          fix="Use e.g. --test-fraction 0.1, or 0 for no test split.", code="bad_option")
    if (val or 0.2) + (test or 0.0) >= 1:
        raise ConfigError(f"--val-fraction {val or 0.2} plus --test-fraction {test or 0} leave nothing to train on.",
                          input=f"{val or 0.2}+{test or 0}", fix="Lower them (e.g. 0.2 and 0.1).", code="bad_option")
    return out


def load_kwargs(values: Mapping[str, Any]) -> dict[str, Any]:
    """Keywords for :func:`hf_quicktune.data.load` from the dataset options in ``values`` (given ones only)."""
    normal = normalize(values)
    return {o.load_kwarg: normal[o.key] for o in DATASET_OPTIONS if normal[o.key] is not None}
