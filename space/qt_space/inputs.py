"""What the visitor picks: the dataset (built-in, Hub id, uploaded zip or CSV), the zoo, the budget.

Defaults are sized for the Space's free CPU hardware (2 vCPUs) and are ``hf-quicktune demo``'s own
(:data:`~hf_quicktune.run.settings.DEMO_SETTINGS`): the offline zoo at 32 px on every training image and a
3-minute budget. Until 2026-12-03 the form capped an epoch at 256 training images, which the demo had dropped
(the best trial stayed data-starved): a visitor's default search ended at 56.8 % where the demo reaches 96.9 %
(benchmarks/space_search.py prints both).
"""

from __future__ import annotations

import re
import shutil
import tarfile
import zipfile
from pathlib import Path
from typing import Any

from hf_quicktune.data import archives
from hf_quicktune.errors import ConfigError, DatasetError
from hf_quicktune.run.settings import DEMO_SETTINGS

BUILTINS = ("builtin:digits", "builtin:mnist5k")
ZOOS = ("offline", "tiny", "default")
#: the form's values (``train_limit`` None: every training image, as the demo trains)
DEFAULTS: dict[str, Any] = {
    **{k: v for k, v in DEMO_SETTINGS.items() if k != "output_dir"}, "train_limit": None,
}
#: below this the ranking and a first epoch do not fit on CPU hardware
MIN_BUDGET_S = 30.0
INTEGERS = ("image_size", "train_limit", "max_epochs", "seed", "max_epochs_total")
TABLE_FILES = (".csv", ".tsv", ".parquet", ".json", ".jsonl", ".arrow", ".npz", ".h5", ".hdf5")
#: what the upload takes: tables (image paths, bytes or pixels), NumPy and HDF5 arrays, zip / tar archives (a tar
#: that is a WebDataset shard is read as one)
UPLOAD_TYPES = [*TABLE_FILES, *archives.SUFFIXES]


def dataset_spec(choice: str | None, upload: str | None, unpack_to: Path) -> str:
    """The dataset spec ``hf_quicktune.data.load`` takes: the uploaded file when there is one (a zip is
    unpacked; its ImageFolder root or its one table file is used), else the built-in or Hub id chosen."""
    if upload:
        return _from_upload(Path(upload), unpack_to)
    spec = (choice or "").strip()
    if not spec:
        raise DatasetError("no dataset chosen: pick builtin:digits, type a Hub dataset id (org/name) or upload "
                           "a zip of an ImageFolder or a CSV.")
    if spec.startswith("builtin:") or re.fullmatch(r"[\w.-]+(/[\w.-]+)?", spec):
        return spec
    raise DatasetError(f"{spec!r} is neither a built-in ({', '.join(BUILTINS)}) nor a Hub dataset id (org/name). "
                       "Type one of those, or upload your data as a zip or CSV.")


def _from_upload(path: Path, unpack_to: Path) -> str:
    from hf_quicktune.data.webdataset import is_shard

    if path.suffix.lower() in TABLE_FILES or is_shard(path):  # read as it is, a shard's samples too
        unpack_to.mkdir(parents=True, exist_ok=True)
        return str(shutil.copy(path, unpack_to / path.name))
    if not zipfile.is_zipfile(path) and not tarfile.is_tarfile(path):
        raise DatasetError(f"the uploaded file {path.name} is neither a zip / tar archive nor a table "
                           f"({', '.join(TABLE_FILES)}). Upload a zip of an ImageFolder (one folder per class) or a "
                           "CSV with image and label columns.")
    root = archives.unpack(path, unpack_to / "upload")  # no absolute paths or ../ escapes out of the folder
    return str(archives.data_root(root, path.name))


def settings_values(dataset: str, zoo: str, budget: str, advanced: dict[str, Any] | None = None) -> dict[str, Any]:
    """RunSettings values for a Space search; raises :class:`ConfigError` for a budget that is too small."""
    from hf_quicktune.run.settings import format_seconds, parse_budget

    seconds = parse_budget(str(budget).strip() or DEFAULTS["budget"])
    if seconds < MIN_BUDGET_S:
        raise ConfigError(
            f"a budget of {format_seconds(seconds)} is too small: on this hardware ranking the zoo and one epoch of "
            f"the first trial need about {MIN_BUDGET_S:.0f}s. Give at least {MIN_BUDGET_S:.0f}s (e.g. 2m).")
    values = {**DEFAULTS, "dataset": dataset, "zoo": (zoo or DEFAULTS["zoo"]).strip(), "budget": f"{seconds:g}s"}
    for key, value in (advanced or {}).items():
        if value is None or value == "" or value != value:  # empty fields (a browser may send NaN)
            continue
        if key in ("max_epochs_total", "train_limit") and value <= 0:  # an emptied number field may arrive as 0
            continue  # no limit
        values[key] = int(value) if key in INTEGERS else value
    return values
