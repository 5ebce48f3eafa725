"""WebDataset shards: tar files of samples, each a group of members sharing a key (``000123.jpg``, ``000123.cls``).

timm trains from them (``timm/imagenet-1k-wds`` on the Hub; its ``--dataset wds/...``), and large image sets ship
so (``train-0000.tar`` ... ``validation-0000.tar``). Unpacked as an archive, a shard is a folder of images and
``.cls`` files without class folders, and was refused as "no labels". datasets reads them with its ``webdataset``
builder (a column per member extension: ``jpg``, ``cls``, ``json``); :func:`load_shards` does so by split (a word of
the shard's name: :func:`hf_quicktune.data.splits.split_role`), leaves out the builder's ``__key__`` / ``__url__``
columns, and lifts the fields of a ``json`` member (``{"label": 3}``) to columns where no column has their name.
"""

from __future__ import annotations

import glob
import logging
import tarfile
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from hf_quicktune.errors import DatasetError

if TYPE_CHECKING:  # pragma: no cover
    import datasets

logger = logging.getLogger(__name__)

#: shard suffixes datasets' webdataset builder reads
SUFFIXES = (".tar",)
#: members looked at to tell a shard from another tar
PEEK = 24


def is_shard(path: Path) -> bool:
    """Whether ``path`` is a WebDataset shard: a tar whose first members are samples of one image and its class,
    caption or record (``KEY.jpg``, ``KEY.cls``: members sharing the key before the first dot of their names), the
    same member types in most samples."""
    from hf_quicktune.data.columns import image_extensions

    if not (path.is_file() and path.name.lower().endswith(SUFFIXES)):
        return False
    names: list[str] = []
    try:
        with tarfile.open(path, mode="r|*") as tf:  # streamed: a shard is read from its start only
            for member in tf:
                if member.isfile():
                    names.append(member.name)
                if len(names) >= PEEK:
                    break
    except (tarfile.TarError, OSError, EOFError):
        return False
    samples: dict[str, list[str]] = {}
    for name in names:
        folder, _, base = name.rpartition("/")
        key, dot, ext = base.partition(".")  # WebDataset's key: the name up to its first dot
        if not dot or not key:
            return False
        samples.setdefault(f"{folder}/{key}", []).append(f".{ext.lower()}")
    images = image_extensions()
    kinds = Counter(tuple(sorted(exts)) for exts in samples.values())
    kind, count = kinds.most_common(1)[0]
    pictures = [e for e in kind if "." + e.rsplit(".", 1)[-1] in images]  # jpg, or input.jpg
    # a classification shard's samples: one image and its class or record, the same member types in each
    # (not one file per key: an ImageFolder's tar; not a key of many images: cat.0.jpg, cat.1.jpg)
    return len(pictures) == 1 and len(kind) >= 2 and 2 * count >= len(samples)


def folder_shards(path: Path) -> list[Path] | None:
    """The shards a folder holds at its top when they are its data (every tar there a shard, nothing but shards
    and notes beside them), else None."""
    tars = sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(SUFFIXES)
                  and not p.name.startswith("."))
    if not tars or any(p.is_dir() and not p.name.startswith((".", "__")) for p in path.iterdir()):
        return None
    return tars if all(is_shard(p) for p in tars) else None


def shards_by_split(shards: list[Path]) -> dict[str, list[str]]:
    """The shards of each split, by a word of their names (``train-0000.tar``, ``imagenet-val-0003.tar``); all of
    them the training split where no name says a split. Raises where some name one and others none."""
    from hf_quicktune.data.splits import split_role

    roles = {p: split_role(p.stem.replace("-", "_")) for p in shards}
    if not any(roles.values()):
        return {"train": [str(p) for p in shards]}
    unnamed = [p.name for p, role in roles.items() if role is None]
    if unnamed:
        raise DatasetError(f"Some shards name their split and others do not ({', '.join(unnamed[:3])}): which split "
                           "do these belong to?", input=unnamed[:3], code="unknown_split",
                           fix="Name each shard after its split (train-0000.tar, validation-0000.tar), or pass the "
                               "training shards' folder alone.")
    out: dict[str, list[str]] = {}
    for p, role in roles.items():
        out.setdefault(str(role), []).append(str(p))
    return out


def load_shards(shards: list[Path], keep_key: bool = False) -> dict[str, datasets.Dataset]:
    """Each split's samples (:func:`shards_by_split`) read by datasets' ``webdataset`` builder: a column per member
    type, a ``json`` member's fields lifted to columns, the builder's key and URL columns left out (``keep_key``:
    the key kept as ``key``, for ``predict``'s rows)."""
    import datasets

    from hf_quicktune.data.quiet import quiet_datasets

    files = shards_by_split(shards)
    try:
        with quiet_datasets():
            loaded = datasets.load_dataset("webdataset", data_files={  # paths, not patterns: a [ in a name
                split: [glob.escape(f) for f in paths] for split, paths in files.items()})
    except Exception as err:  # the builder raises many types for a damaged or mixed shard
        raise DatasetError(f"The WebDataset shards {', '.join(p.name for p in shards[:3])} could not be read "
                           f"({type(err).__name__}: {err}).", input=str(shards[0]), code="bad_archive",
                           fix="Check each shard is a complete tar (`tar -tf SHARD`), with the same member types in "
                               "every sample.") from err
    return {split: sample_columns(ds, keep_key) for split, ds in loaded.items()}


def sample_columns(ds: datasets.Dataset, keep_key: bool = False) -> datasets.Dataset:
    """``ds`` (the webdataset builder's: local shards, or a Hub repo of them) without its ``__key__`` (``keep_key``:
    renamed ``key``) and ``__url__`` columns, a ``json`` member's fields (``{"label": 3, "filename": ...}``) lifted
    to columns of their own where no column has their name."""
    if keep_key and "__key__" in ds.column_names and "key" not in ds.column_names:
        ds = ds.rename_column("__key__", "key")
    ds = ds.remove_columns([c for c in ("__key__", "__url__") if c in ds.column_names])
    records = [c for c, f in ds.features.items() if isinstance(f, dict)]
    if not records:
        return ds
    renames: dict[str, str] = {}
    for column in records:  # {"label": 3, "filename": ...}: the label a column of its own
        for key, feature in ds.features[column].items():
            if not isinstance(feature, dict) and key not in ds.column_names and key not in renames.values():
                renames[f"{column}.{key}"] = key
    keep = [c for c in ds.column_names if c not in records] + list(renames)
    return ds.flatten().select_columns(keep).rename_columns(renames)
