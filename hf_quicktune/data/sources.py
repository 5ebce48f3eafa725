"""Resolve a dataset spec to raw splits: Hub id, ImageFolder directory, data file, or built-in."""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hf_quicktune.constants import hub_offline, hub_reachable
from hf_quicktune.data import archives
from hf_quicktune.data.columns import image_extensions
from hf_quicktune.data.file_draw import (
    Limits,
    draw_builder_files,
    draw_files,
    drawn_info,
    listed_files,
    load_drawn,
    local_file,
    relative_path,
    splits_read,
)
from hf_quicktune.data.folder_files import ScansWithoutExtension
from hf_quicktune.data.folder_tables import (
    FILE_BUILDERS,
    is_saved_to_disk,
    join_groups,
    test_image_folders,
    top_tables,
    wrapped_dataset,
)
from hf_quicktune.data.hdf5 import SUFFIXES as HDF5_SUFFIXES
from hf_quicktune.data.hdf5 import hdf5_files, load_hdf5
from hf_quicktune.data.headerless import headerless, headerless_names
from hf_quicktune.data.hub_progress import arrow_progress, download_progress
from hf_quicktune.data.hub_source import (
    PARQUET_CONVERSION,
    forced_offline,
    hub_error,
    hub_reference,
    raw_repo_snapshot,
    say_imagefolder_reading,
)
from hf_quicktune.data.imagefolder import load_image_folder
from hf_quicktune.data.quiet import quiet_datasets
from hf_quicktune.data.scan_links import named_scans
from hf_quicktune.data.webdataset import folder_shards, is_shard, load_shards, sample_columns, shards_by_split
from hf_quicktune.errors import DatasetError

if TYPE_CHECKING:  # pragma: no cover
    import datasets

    from hf_quicktune.data.images import Progress

logger = logging.getLogger(__name__)

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")


@dataclass
class RawSource:
    """What a spec resolved to, before column detection and splitting."""

    kind: str  # hub | imagefolder | file | builtin
    splits: dict[str, datasets.Dataset]
    base_dir: str | None = None  # relative image paths are resolved against it
    info: dict = field(default_factory=dict)


def _as_dict(obj: datasets.Dataset | datasets.DatasetDict) -> dict[str, datasets.Dataset]:
    import datasets

    if isinstance(obj, datasets.DatasetDict):
        return dict(obj)
    return {"train": obj}


def _load_file(path: Path, splits: dict[str, Path] | None = None, progress: Progress | None = None) -> RawSource:
    """A data file, or data files by split (``splits``: split -> file, all of ``path``'s type, ``path`` one of them);
    relative image paths in them are read from their folder; ``progress`` hears their conversion to Arrow."""
    import datasets

    builder = FILE_BUILDERS[path.suffix.lower()]
    kwargs = {"delimiter": "\t"} if path.suffix.lower() == ".tsv" else {}
    files = splits or {"train": path}
    try:  # a file per split, each with its own columns (a test.csv has no label column)
        with quiet_datasets(), arrow_progress(path.name, [str(f) for f in files.values()], progress):
            ds = {s: datasets.load_dataset(builder, data_files={s: glob.escape(str(f))}, **kwargs)[s]
                  for s, f in files.items()}
            for s, f in files.items():  # pjreddie's MNIST CSVs: a label and pixels, and no header row
                names = headerless_names(len(ds[s].column_names)) if builder == "csv" and headerless(
                    list(ds[s].column_names)) else None
                if names is not None:
                    logger.warning("%s has no header row (its first row is numbers): read as %s", f.name,
                                   "a label (the first column) and pixels" if names[0] == "label" else "pixels")
                    ds[s] = datasets.load_dataset(builder, data_files={s: glob.escape(str(f))}, header=None,
                                                  column_names=names, **kwargs)[s]
    except Exception as err:  # pyarrow / pandas parse errors of many types
        if _caused_by(err, UnicodeDecodeError):
            raise DatasetError(f"{path} is not UTF-8 text ({_caused_by(err, UnicodeDecodeError)}).", input=str(path),
                               fix="Re-save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`, or 'CSV UTF-8' in a "
                                   "spreadsheet), or convert it to parquet.", code="not_utf8") from None
        if builder in ("csv", "json") and any(_rows(f) == 0 for f in files.values()):
            empty = next(f for f in files.values() if _rows(f) == 0)
            raise DatasetError(f"{empty} has no rows.", input=str(empty), code="empty_dataset",
                               fix="Add one row per image (its path or bytes, and its class).") from None
        raise DatasetError(
            f"Could not read the data file {path} as {builder}: {type(err).__name__}: {err}. "
            "Check the file is valid, or convert it to parquet/CSV/JSON lines with an image and a label column."
        ) from err
    info = {"path": str(path), "format": builder} if splits is None else {
        "path": str(path.parent), "format": builder, "files": {s: f.name for s, f in splits.items()}}
    return RawSource("file", ds, base_dir=str(path.parent), info=info)


def _rows(path: Path) -> int:
    """Data rows of a text table (CSV/TSV: lines after the header; JSON lines: non-empty lines)."""
    try:
        lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        return -1
    return len(lines) - (1 if path.suffix.lower() in (".csv", ".tsv") else 0)


def _caused_by(err: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first exception of type ``kind`` along ``err``'s cause/context chain."""
    seen: set[int] = set()
    cur: BaseException | None = err
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, kind):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


def _is_data_file_dir(path: Path) -> bool:
    """A directory of parquet/CSV/JSON files (split names from file names), not of images: the walk ends at the
    first image (a folder of a million images is not listed here)."""
    images = frozenset(image_extensions())
    has_data = False
    for _, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            suffix = os.path.splitext(name)[1].lower()
            if name.startswith(".") or not suffix:
                continue
            if suffix in images:
                return False
            has_data = has_data or suffix in FILE_BUILDERS
    return has_data


def _load_saved(path: Path) -> RawSource:
    """``datasets.load_from_disk``: the Arrow files memory-mapped, the features as saved (datasets' own builders
    refuse such a folder: "use load_from_disk instead")."""
    import datasets

    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as err:
        raise DatasetError(f"Could not read {path}, a dataset saved with save_to_disk: {type(err).__name__}: {err}.",
                           input=str(path), code="bad_saved_dataset",
                           fix="Check it loads with `datasets.load_from_disk`, or save it again.") from err
    return RawSource("file", _as_dict(ds), base_dir=str(path), info={"path": str(path), "format": "save_to_disk"})


def _load_data_dir(path: Path, limits: Limits | None = None, progress: Progress | None = None) -> RawSource:
    """A folder of data files named by split (parquet shards: ``train-00000-of-00040.parquet``); under ``limits``
    enough of them (:mod:`hf_quicktune.data.file_draw`); ``progress`` hears their conversion to Arrow."""
    import datasets

    def read(data_files: dict[str, list[str]] | None) -> Any:
        files: list[str] = []  # what the conversion's progress is measured against (walked only when heard)
        if progress is not None:
            files = ([f for found in data_files.values() for f in found] if data_files else
                     [str(f) for f in path.rglob("*") if f.is_file() and f.suffix.lower() in FILE_BUILDERS])
        with arrow_progress(path.name, files, progress):
            return datasets.load_dataset(str(path), data_files=data_files)

    draw = None
    try:
        with quiet_datasets():
            draw = draw_builder_files(str(path), None, None, limits) if limits is not None and limits.caps else None
            ds = load_drawn(read, draw, limits.label_column if limits is not None else None)
    except Exception as err:
        raise DatasetError(
            f"Could not read the data files in {path}: {type(err).__name__}: {err}. Name them by split "
            "(train.parquet, validation.parquet, test.parquet) with the same columns, all in one format."
        ) from err
    return RawSource("file", _as_dict(ds), base_dir=str(path), info={"path": str(path), "format": "directory",
                                                                     **drawn_info(draw)})


def _load_hub(spec: str, config: str | None, revision: str | None, limits: Limits | None = None,
              progress: Progress | None = None, pick_split: Callable[[list[str]], str] | None = None) -> RawSource:
    import datasets
    from huggingface_hub import constants

    unreachable = not hub_offline() and not hub_reachable()
    if unreachable:
        logger.warning("the Hub (%s) does not answer: looking for '%s' in the local cache only", constants.ENDPOINT, spec)
    snapshot = raw_repo_snapshot(spec, revision, offline=unreachable or hub_offline())
    if snapshot is not None:  # a download pushed as it is (a table naming its images, an .npz): read as a folder
        entries = [p for p in snapshot.iterdir() if not p.name.startswith(".") and p.name != "README.md"]
        packed = entries[0] if len(entries) == 1 and archives.is_archive(entries[0]) else None
        raw = _load_local(archives.unpacked(packed) if packed is not None else snapshot)  # one zip: its data
        raw.kind = "hub"
        raw.info.update({"id": spec, "config": config, "revision": revision, "snapshot": True,
                         **({"commit": snapshot.name} if re.fullmatch(r"[0-9a-f]{40}", snapshot.name) else {})})
        return raw
    from hf_quicktune.data.dicom import teach_datasets

    teach_datasets()  # a repo of class folders of .dcm scans is an imagefolder
    draw = None
    only: dict[str, list[str]] | None = None

    def read(data_files: dict[str, list[str]] | None) -> Any:
        paths = None if data_files is None else [relative_path(f) for found in data_files.values() for f in found]
        with download_progress(spec, revision, None if unreachable else progress, paths):
            return datasets.load_dataset(spec, name=config, revision=revision, data_files=data_files)

    def fetched(url: str) -> str:  # a shard downloaded to count its samples (the draw's sizes): told too
        with download_progress(spec, revision, None if unreachable else progress, [relative_path(url)]):
            return local_file(url)

    with forced_offline(unreachable):
        listing = listed_files(spec, config, revision) if limits is not None or pick_split is not None else None
    if listing is not None:
        only = splits_read(spec, listing.files, limits, pick_split)
        listing.files = only or listing.files
    try:
        with forced_offline(unreachable):
            draw = (draw_builder_files(spec, config, revision, limits, listing, fetched)
                    if limits is not None and limits.caps else None)
            ds = load_drawn(read, draw, limits.label_column) if draw is not None and limits else read(only)
    except Exception as err:
        error = hub_error(spec, config, revision, err, unreachable)
        if error.code == "dataset_script" and revision != PARQUET_CONVERSION:  # the Hub's conversion, if any
            try:
                converted = _load_hub(spec, config, PARQUET_CONVERSION, limits, progress, pick_split)
            except DatasetError:
                raise error from err
            logger.warning("%s is built by a loading script, which datasets no longer runs: reading the Hub's parquet "
                           "conversion of it (--revision %s)", spec, PARQUET_CONVERSION)
            return converted
        raise error from err
    splits = _as_dict(ds)
    if all("__key__" in s.column_names and "__url__" in s.column_names for s in splits.values()):
        splits = {name: sample_columns(s) for name, s in splits.items()}  # a repo of WebDataset shards (timm's wds)
    with forced_offline(unreachable):  # datasets' imagefolder: images left out by a metadata file, nested classes
        say_imagefolder_reading(spec, splits, listing, config, revision, drawn=draw is not None)
    commit = next((m.group(1) for found in (listing.files.values() if listing else []) for f in found[:1]
                   if (m := re.search(r"@([0-9a-f]{40})/", f))), None)  # the files' commit: the data exactly
    return RawSource("hub", splits, info={"id": spec, "config": config, "revision": revision, **drawn_info(draw),
                                          **({"commit": commit} if commit else {})})


def check_dataset_spec(spec: str | None) -> str:
    """What kind of source ``spec`` names (``builtin``, ``local`` or ``hub``), or :class:`DatasetError` for a spec
    that names none: an unknown built-in, a path that does not exist, a string that is no Hub id. Reads no data
    (one ``stat``): commands call it before anything slow, so a typo fails in milliseconds, not after the zoo."""
    if not spec or not str(spec).strip():
        raise DatasetError("No dataset given. Pass a Hub dataset id, a local path, or builtin:digits.")
    spec = str(spec)
    if spec.startswith("builtin:"):
        from hf_quicktune.data.builtins import BUILTINS

        name = spec.split(":", 1)[1]
        if name not in BUILTINS:
            raise DatasetError(f"Unknown built-in dataset '{spec}'. Available built-ins: "
                               + ", ".join(f"builtin:{n}" for n in BUILTINS) + ".")
        return "builtin"
    path = Path(os.path.expanduser(spec))
    if path.exists():
        return "local"
    reference = hub_reference(spec)  # a dataset page's URL, hf://datasets/..., timm's hfds/...
    if reference is not None:
        spec = reference[0]
    looks_local = spec.startswith((".", "/", "~")) or path.suffix.lower() in (*FILE_BUILDERS, ".npz", *HDF5_SUFFIXES)
    if looks_local or spec.count("/") > 1 or not _HUB_ID.match(spec):
        raise DatasetError(
            f"Unknown dataset '{spec}': no such file or directory, and it is not a valid Hub dataset id "
            "(org/name). Check the path, or pass a Hub id, or a built-in (builtin:digits, builtin:mnist5k)."
        )
    return "hub"


def resolve_source(spec: str, *, config: str | None = None, revision: str | None = None,
                   limits: Limits | None = None, progress: Progress | None = None,
                   pick_split: Callable[[list[str]], str] | None = None) -> RawSource:
    """Turn what the user typed into raw splits; the only place that decides the source kind. ``limits``: the
    run's ``--train-limit`` / ``--eval-limit`` (a dataset in many files is read in part) and ``--split`` (the Hub
    dataset's splits without a role are not downloaded); ``progress``: hears a Hub dataset's download and a
    conversion to Arrow (:mod:`hf_quicktune.data.hub_progress`); ``pick_split``: of a Hub dataset's split names,
    the one split to read (``predict``'s: the others are not downloaded)."""
    kind = check_dataset_spec(spec)
    spec = str(spec)
    if kind == "builtin":
        from hf_quicktune.data.builtins import load_builtin

        return RawSource("builtin", {"train": load_builtin(spec.split(":", 1)[1])}, info={"builtin": spec})
    path = Path(os.path.expanduser(spec))
    reference = hub_reference(spec) if kind == "hub" else None
    if reference is not None:
        spec, revision = reference[0], revision or reference[1]
    if kind == "local":
        if is_shard(path):  # one WebDataset shard: its samples, not a folder to unpack
            return _load_shards([path], path, progress=progress)
        if archives.is_archive(path):
            source = _load_local(archives.unpacked(path), limits, progress)
            source.info["archive"] = str(path)
            return source
        return _load_local(path, limits, progress)
    return _load_hub(spec, config, revision, limits, progress, pick_split)


def _load_shards(shards: list[Path], path: Path, limits: Limits | None = None,
                 progress: Progress | None = None) -> RawSource:
    """WebDataset shards (:mod:`hf_quicktune.data.webdataset`), by split; under ``limits`` enough of them;
    ``progress`` hears their conversion to Arrow."""
    draw = draw_files(shards_by_split(shards), limits) if limits is not None and limits.caps else None
    if draw is not None:
        shards = [Path(f) for files in draw.data_files.values() for f in files]
    with arrow_progress(path.name, [str(p) for p in shards], progress):
        splits = load_shards(shards)
    logger.info("%s: %d WebDataset shard(s), read by datasets' webdataset builder (%s)", path, len(shards),
                ", ".join(f"{name}: {len(ds)} samples" for name, ds in splits.items()))
    return RawSource("file", splits, base_dir=str(path if path.is_dir() else path.parent),
                     info={"path": str(path), "format": "webdataset", "shards": len(shards), **drawn_info(draw)})


def _load_hdf5(files: list[Path], path: Path) -> RawSource:
    """HDF5 files of image and label arrays (:mod:`hf_quicktune.data.hdf5`)."""
    splits, arrays, names, layout = load_hdf5(files)
    return RawSource("file", splits, base_dir=str(path if path.is_dir() else path.parent),
                     info={"path": str(path), "format": "hdf5", "arrays": arrays,
                           **({"class_names": names} if names else {}),
                           **({"pixels": layout.describe()} if layout is not None else {})})


def _through_copy(path: Path, copy: Path, key: str) -> RawSource:
    """The folder ``path`` read from ``copy``, its copy in the cache (archives unpacked, scans named), with the
    source and what to classify named as the user has them (``test.csv``, ``test1.zip``), not the copy's; a data
    root that exists only in the copy (a folder unpacked from a zip) keeps the copy's path. ``info[key]``: the copy."""
    raw = _load_local(copy)
    if raw.info.get("path") in (None, str(copy)):
        raw.info["path"] = str(path)
    raw.info[key] = str(copy)
    if raw.info.get("unlabelled"):
        raw.info["unlabelled"] = [archives.original_path(p, copy, path) for p in raw.info["unlabelled"]]
    return raw


def _load_local(path: Path, limits: Limits | None = None, progress: Progress | None = None) -> RawSource:
    """A folder (``save_to_disk``'s, an ImageFolder, or data files named by split) or a data file; ``limits``: a
    folder of many shards is read in part (:mod:`hf_quicktune.data.file_draw`)."""
    if path.is_dir():
        if is_saved_to_disk(path):
            return _load_saved(path)
        inner = wrapped_dataset(path)
        if inner is not None:
            logger.info("%s holds one folder and nothing else: reading %s", path, inner)
            return _load_local(inner, limits, progress)
        shards = folder_shards(path)  # train-0000.tar ... validation-0000.tar (timm's wds)
        if shards is not None:
            return _load_shards(shards, path, limits, progress)
        files = hdf5_files(path)  # PCam's camelyonpatch_level_2_split_{train,valid,test}_{x,y}.h5
        if files is not None:
            return _load_hdf5(files, path)
        npz = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".npz"]
        if len(npz) == 1 and not any(p.is_dir() and not p.name.startswith((".", "__")) for p in path.iterdir()):
            return _load_local(npz[0])  # a folder holding Keras' mnist.npz (a Hub repo of it)
        if archives.holds_archived_images(path):  # a download unzipped once: its train.zip, test1.zip, ...
            return _through_copy(path, archives.unpacked_copy(path), "unpacked")
        tables = top_tables(path)
        if tables is not None:
            raw = _load_file(*tables, progress=progress)
            if tables[1] is None:  # Histopathologic's test/ of images beside train_labels.csv: what to classify after
                name, table = next(iter(raw.splits.items()))
                raw.info["unlabelled"] = test_image_folders(path, table)
                # ISIC 2019's lesion_id in the metadata table beside the labels: the groups of its images
                others = [f for f in sorted(path.iterdir()) if f.is_file() and f != tables[0]
                          and f.suffix.lower() in FILE_BUILDERS and not f.name.startswith(".")]
                raw.splits[name] = join_groups(table, others, tables[0].name)
            return raw
        if _is_data_file_dir(path):
            return _load_data_dir(path, limits, progress)
        try:
            splits, layout = load_image_folder(path, limits)
        except ScansWithoutExtension:  # a PACS export's IM000001: read through links named .dcm
            return _through_copy(path, named_scans(path), "named_scans")
        return RawSource("imagefolder", splits, base_dir=str(path), info={"path": str(path), **layout})
    if path.suffix.lower() in FILE_BUILDERS:
        return _load_file(path, progress=progress)
    if path.suffix.lower() in HDF5_SUFFIXES:  # Galaxy10_DECals.h5: images, ans
        return _load_hdf5([path], path)
    if path.suffix.lower() == ".npz":  # Keras' mnist.npz: x_train, y_train, x_test, y_test
        from hf_quicktune.data.npz import load_npz

        splits, arrays, names = load_npz(path)
        return RawSource("file", splits, base_dir=str(path.parent),
                         info={"path": str(path), "format": "npz", "arrays": arrays,
                               **({"class_names": names} if names else {})})
    raise DatasetError(
        f"{path} is a file of an unsupported type ('{path.suffix}'). Pass a parquet, CSV, TSV, "
        "JSON, JSON-lines or Arrow file with an image and a label column, a NumPy .npz or HDF5 file of image and "
        "label arrays, an ImageFolder directory, WebDataset .tar shards, or a zip or tar archive of these."
    )
