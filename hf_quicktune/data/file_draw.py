"""``--train-limit`` / ``--eval-limit`` on a dataset stored in many files (a Hub repo of shards, a local folder of
timm's WebDataset shards or of parquet files): a load reads enough of the files for its limits instead of the whole
dataset (a few of ImageNet's hundreds of shards, not 150 GB downloaded and converted to Arrow).

Shards (parquet, Arrow, WebDataset tars, tables) are drawn at random, seeded, until the rows they hold reach
:data:`MARGIN` times what the limits need; the rows of a shard are the split's size on the dataset card shared
evenly among its files, else a parquet file's own count (its footer: one small ranged read on the Hub), else those
of the first shard drawn, counted (downloaded once: timm's WebDataset repos give their sizes in prose only). Images
stored one file each (an imagefolder repo) are drawn from every folder in proportion to its size, so every class
folder is read. Shards written class after class (each holds a few classes) are read whole: their rows, in the
order of the files read, come grouped by class (:mod:`hf_quicktune.data.class_grouping`), and a part of the files
would leave out the other classes, whatever the label's type. A draw that leaves out classes of the dataset's
``ClassLabel`` (a rare class) is grown until every class is in it (:func:`load_drawn`). A split the limits do not
cap, or a split that cannot be sized, is read whole, as without limits. (``data.load`` then keeps a stratified part
of the rows read where they are more than the limits need: :attr:`Limits.cut_rows_over`.)"""

from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from hf_quicktune.data.class_grouping import split_grouped
from hf_quicktune.data.splits import match_splits

logger = logging.getLogger(__name__)

#: rows drawn per row the limits need: room for shards smaller than the average and for a stratified sample
MARGIN = 1.5


@dataclass(frozen=True)
class Limits:
    """The caps a run trains and evaluates under, and what decides which rows they are drawn from."""

    train: int | None = None  # --train-limit: images of the training split a trial trains on
    eval: int | None = None  # --eval-limit: images of the validation and test splits
    val_fraction: float = 0.2  # the share of train held out for validation when the dataset has no validation split
    test_fraction: float = 0.0  # ... and for test (0: none)
    seed: int = 0
    split_map: dict[str, str] | None = None  # --split: our role -> the dataset's split
    label_column: str | None = None  # --label-column (None: the first ClassLabel, else a column named like a label)
    cut_rows_over: float = 1.0  # a split holding more than this times the rows the limits need keeps a part of them

    @property
    def caps(self) -> bool:
        """Whether any split is capped (else a load reads every file, as without limits)."""
        return self.train is not None or self.eval is not None

    def roles_only(self, files: dict[str, list[str]]) -> dict[str, list[str]]:
        """The splits of ``files`` that a load gives a role (train, validation, test: ``match_splits``, with
        ``--split``): SVHN's ``extra`` and STL-10's ``unlabeled`` are not read; all of them where the names leave
        the roles unclear (the load says why)."""
        try:
            used = set(match_splits(list(files), self.split_map).values())
        except Exception:
            return files
        return {name: found for name, found in files.items() if name in used}

    def rows_needed(self, splits: list[str]) -> dict[str, int]:
        """The rows each of the dataset's ``splits`` must hold for the limits (a split absent: read whole), by
        their roles (:meth:`role_rows`)."""
        try:
            roles = match_splits(splits, self.split_map)
        except Exception:  # the load itself says what is wrong with the splits
            return {}
        return {roles[role]: rows for role, rows in self.role_rows(list(roles)).items()}

    def role_rows(self, roles: list[str]) -> dict[str, int]:
        """The rows each of the ``roles`` a dataset has (train, validation, test) must hold for the limits (a role
        absent: all of its rows).

        A training split that validation (or test) is carved from must also hold enough for the carved split's
        ``--eval-limit``; without ``--eval-limit`` a carved split takes its share of all of train, so train is read
        whole."""
        out: dict[str, int] = {}
        carved = [share for role, share in (("validation", self.val_fraction), ("test", self.test_fraction))
                  if role not in roles and share > 0]
        if self.train is not None and "train" in roles and (not carved or self.eval is not None):
            need = self.train / max(1e-9, 1.0 - sum(carved))
            if carved and self.eval is not None:
                need = max(need, *(self.eval / share for share in carved))
            out["train"] = math.ceil(need)
        if self.eval is not None:
            out.update({role: self.eval for role in ("validation", "test") if role in roles})
        return out


def relative_path(url: str) -> str:
    """A data file's path in its repo (``hf://datasets/org/name@rev/data/x.parquet`` -> ``data/x.parquet``); a local
    path as it is (``cat/img@2x.png``)."""
    if not url.startswith("hf://") or "@" not in url:
        return url
    return url.split("@", 1)[1].split("/", 1)[1]


@dataclass
class _Split:
    """One split's files and how many of them are drawn."""

    files: list[str]  # every data file of the split, as datasets resolved them
    order: list[int]  # the files' draw order (seeded)
    taken: int  # how many of ``order`` are read
    by_folder: bool = False  # images one file each, drawn per folder: never grown

    def chosen(self) -> list[str]:
        keep = sorted(self.order[: self.taken])
        return [self.files[i] for i in keep]


@dataclass
class Draw:
    """The data files a limited load reads: ``data_files`` for ``datasets.load_dataset``, every split's."""

    splits: dict[str, _Split]
    needed: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)  # images per split in the dataset, where its card says

    @property
    def data_files(self) -> dict[str, list[str]]:
        return {name: s.chosen() for name, s in self.splits.items()}

    def drawn(self) -> dict[str, list[int]]:
        """``{split: [files read, files]}`` of the splits read in part (for the card and ``summary.json``)."""
        return {name: [s.taken, len(s.files)] for name, s in self.splits.items() if s.taken < len(s.files)}

    def read_whole(self, splits: list[str]) -> None:
        """Read every file of ``splits`` (their files are grouped by class)."""
        for name in splits:
            self.splits[name].taken = len(self.splits[name].files)

    def grown(self, splits: list[str]) -> bool:
        """Read twice as many files of the shard-drawn ``splits`` (ones that miss classes); False when none can."""
        grew = False
        for name in splits:
            s = self.splits[name]
            if not s.by_folder and s.taken < len(s.files):
                s.taken = min(len(s.files), 2 * s.taken)
                grew = True
        return grew


@functools.lru_cache(maxsize=1)
def _image_suffixes() -> frozenset[str]:
    from hf_quicktune.data.columns import image_extensions

    return frozenset(image_extensions())


def _is_image(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in _image_suffixes()


def _by_folder(files: list[str], need: int, rng: np.random.Generator, groups: list[str] | None = None) -> _Split:
    """Images one file each: ``need`` of them drawn from every folder in proportion (at least one a folder), or
    from every one of ``groups`` (each file's class, where the caller knows it); the other files (imagefolder's
    ``metadata.csv``) are always read."""
    flags = [_is_image(f) for f in files]
    images = [i for i, image in enumerate(flags) if image]
    others = [i for i, image in enumerate(flags) if not image]
    folders: dict[str, list[int]] = {}
    for i in images:
        key = groups[i] if groups is not None else relative_path(files[i]).rpartition("/")[0]
        folders.setdefault(key, []).append(i)
    share = min(1.0, MARGIN * need / max(1, len(images)))
    picked: list[int] = []
    for _, members in sorted(folders.items()):
        k = min(len(members), max(1, math.ceil(share * len(members))))
        picked.extend(rng.permutation(members)[:k].tolist())
    chosen = set(picked)
    order = others + picked + [i for i in images if i not in chosen]
    return _Split(files, order, len(others) + len(picked), by_folder=True)


def _parquet_rows(url: str) -> int | None:
    """A parquet file's rows from its footer (on the Hub: a ranged read), or None when it cannot be read."""
    try:
        import pyarrow.parquet as pq

        if not url.startswith("hf://"):
            return int(pq.ParquetFile(url).metadata.num_rows)
        from huggingface_hub import HfFileSystem

        with HfFileSystem().open(url, "rb") as handle:
            return int(pq.ParquetFile(handle).metadata.num_rows)
    except Exception:
        logger.debug("could not read the rows of %s", url, exc_info=True)
        return None


def local_file(url: str) -> str:
    """A data file's local path: itself, or a Hub file downloaded whole into the Hugging Face cache (where the load
    reads it again without a second download)."""
    if not url.startswith("hf://"):
        return url
    from huggingface_hub import HfFileSystem, hf_hub_download

    resolved = HfFileSystem().resolve_path(url)
    return hf_hub_download(resolved.repo_id, resolved.path_in_repo, repo_type=resolved.repo_type,
                           revision=resolved.revision)


def _counted_rows(url: str, fetch: Callable[[str], str] = local_file) -> int | None:
    """The rows of one shard: a WebDataset tar's samples (its members' keys), an Arrow file's rows, a table's lines;
    None for other files or when it cannot be read."""
    suffix = PurePosixPath(url).suffix.lower()
    if suffix not in (".tar", ".arrow", ".csv", ".tsv", ".jsonl"):
        return None
    try:
        local = fetch(url)
        if suffix == ".tar":
            import tarfile

            with tarfile.open(local) as tar:
                return len({m.name.rsplit("/", 1)[-1].split(".", 1)[0] for m in tar if m.isfile()})
        if suffix == ".arrow":
            import pyarrow as pa

            with pa.memory_map(local) as source:
                try:
                    return int(pa.ipc.open_stream(source).read_all().num_rows)
                except pa.ArrowInvalid:
                    return int(pa.ipc.open_file(source).read_all().num_rows)
        with open(local, "rb") as handle:
            lines = sum(1 for line in handle if line.strip())
        return lines - (suffix in (".csv", ".tsv"))  # a header row
    except Exception:
        logger.debug("could not count the rows of %s", url, exc_info=True)
        return None


def _by_shard(files: list[str], need: int, rows_each: float | None, rng: np.random.Generator,
              fetch: Callable[[str], str] = local_file) -> _Split | None:
    """Shards drawn at random until they hold ``MARGIN * need`` rows; None when their rows are unknown. Without
    the card's split sizes, each drawn parquet file is sized by its footer; other shards all as the first drawn."""
    order = rng.permutation(len(files)).tolist()
    parquet = all(f.lower().endswith(".parquet") for f in files)
    if rows_each is None and not parquet:
        rows_each = _counted_rows(files[order[0]], fetch)
        if not rows_each:
            return None
    held, taken = 0.0, 0
    while taken < len(files) and held < MARGIN * need:
        rows = rows_each if rows_each is not None else _parquet_rows(files[order[taken]])
        if rows is None:
            return None
        held += rows
        taken += 1
    return _Split(files, order, taken)


def draw_files(files: dict[str, list[str]], limits: Limits, *, sizes: dict[str, int] | None = None,
               folder_based: bool = False, fetch: Callable[[str], str] = local_file,
               classes: dict[str, list[str]] | None = None) -> Draw | None:
    """The ``files`` of each split (local paths or ``hf://`` URLs) that a load under ``limits`` reads, or None
    when it reads them all (no split capped, each capped split in one file, or nothing to size them by).
    ``sizes``: rows per split where known (a dataset card's); ``folder_based``: datasets' imagefolder, images one
    file each; ``fetch``: a file's local path (:func:`local_file`: a Hub file downloaded), for a shard counted;
    ``classes``: each file's class by split, where the caller knows it (a local folder's top folders: images are
    then drawn from every class, not from every folder below it, of which a class may hold thousands)."""
    needed = limits.rows_needed(list(files))
    sizes = sizes or {}
    splits: dict[str, _Split] = {}
    for name, found in files.items():
        need = needed.get(name)
        drawn: _Split | None = None
        if need is not None and len(found) > 1:
            rng = np.random.default_rng([limits.seed, len(found)])
            if all(_is_image(f) for f in found[:64]) or (folder_based and any(map(_is_image, found))):
                drawn = _by_folder(found, need, rng, (classes or {}).get(name))
            else:
                drawn = _by_shard(found, need, sizes[name] / len(found) if name in sizes else None, rng, fetch)
        splits[name] = drawn or _Split(found, list(range(len(found))), len(found))
    draw = Draw(splits, needed, sizes)
    if not draw.drawn():
        return None
    for name, (taken, total) in draw.drawn().items():
        logger.warning("reading %d of the %d files of the '%s' split: they hold the %d images the limits "
                       "(--train-limit / --eval-limit) need from it, with room to spare (the other files are not "
                       "read)", taken, total, name, needed[name])
    return draw


@dataclass
class Listing:
    """The data files ``datasets`` finds for a dataset, by split, with what sizes them."""

    files: dict[str, list[str]]
    sizes: dict[str, int]  # rows per split, from the dataset card
    folder_based: bool  # datasets' imagefolder: images one file each


def listed_files(path: str, config: str | None, revision: str | None) -> Listing | None:
    """The data files ``datasets`` finds for ``path`` (a Hub id or a local folder of data files), or None where
    they cannot be listed (the load then says why)."""
    import datasets

    try:
        builder = datasets.load_dataset_builder(path, name=config, revision=revision)
    except Exception:
        logger.debug("could not list the files of %s", path, exc_info=True)
        return None
    data_files = getattr(builder.config, "data_files", None)
    if not data_files:
        return None
    sizes = {str(name): info.num_examples for name, info in (builder.info.splits or {}).items()
             if getattr(info, "num_examples", None)}
    return Listing({str(name): [str(f) for f in found] for name, found in data_files.items()}, sizes,
                   builder.name == "imagefolder")


def draw_builder_files(path: str, config: str | None, revision: str | None, limits: Limits,
                       listing: Listing | None = None, fetch: Callable[[str], str] = local_file) -> Draw | None:
    """:func:`draw_files` of :func:`listed_files` (``listing``, when already listed)."""
    listing = listing or listed_files(path, config, revision)
    if listing is None:
        return None
    return draw_files(listing.files, limits, sizes=listing.sizes, folder_based=listing.folder_based, fetch=fetch)


def load_drawn(load: Callable[[dict[str, list[str]] | None], Any], draw: Draw | None,
               label_column: str | None = None) -> Any:
    """``load(data_files)`` of the drawn files (``None``: all of them); again with every file of a split whose rows
    come grouped by class (:func:`~hf_quicktune.data.class_grouping.split_grouped`; one file found so is read with a
    second first: a file sorted inside but holding every class is then told from shards of a few classes each), then
    with twice the files of a split whose draw lacks classes of its ``ClassLabel`` until none does or all are read."""
    loaded = load(draw.data_files if draw else None)
    if draw is None:
        return loaded
    grouped = _grouped_splits(loaded, draw, label_column)
    lone = [name for name in grouped if draw.splits[name].taken == 1]
    if lone:  # one file's rows grouped: a shard of a few classes, or one sorted inside; a second file tells which
        for name in lone:
            draw.splits[name].taken = 2
        loaded = load(draw.data_files)
        grouped = [name for name in _grouped_splits(loaded, draw, label_column) if name in grouped]
    if grouped:
        logger.warning("the rows of the files read of split(s) %s come grouped by class (files written class after "
                       "class): reading all %s so that no class is left out", ", ".join(grouped),
                       " and ".join(f"{len(draw.splits[name].files)} files of '{name}'" for name in grouped))
        draw.read_whole(grouped)
        loaded = load(draw.data_files)
    while True:
        short = missing_classes(_as_splits(loaded), draw)
        if not short or not draw.grown(short):
            break
        logger.warning("the files read of split(s) %s lack classes (a rare class?): reading %s",
                       ", ".join(short), ", ".join(f"{taken} of {total} files of '{name}'"
                                                   for name, (taken, total) in draw.drawn().items()) or "all files")
        loaded = load(draw.data_files)
    return loaded


def _grouped_splits(loaded: Any, draw: Draw, label_column: str | None) -> list[str]:
    """The splits read in part, shard by shard, whose rows come grouped by class."""
    return [name for name, ds in _as_splits(loaded).items()
            if name in draw.drawn() and not draw.splits[name].by_folder and split_grouped(ds, label_column)]


def _as_splits(loaded: Any) -> dict[str, Any]:
    return dict(loaded) if isinstance(loaded, dict) else {"train": loaded}


def missing_classes(splits: dict[str, Any], draw: Draw) -> list[str]:
    """The drawn splits whose ``ClassLabel`` columns lack classes that the dataset names (shards sorted by class)."""
    import datasets

    short = []
    for name in draw.drawn():
        ds = splits.get(name)
        if ds is None:
            continue
        for column, feature in ds.features.items():
            if isinstance(feature, datasets.ClassLabel) and len(set(ds.unique(column)) - {-1}) < feature.num_classes:
                short.append(name)
                break
    return short


def drawn_info(draw: Draw | None) -> dict[str, Any]:
    """``{"drawn_files": {split: [read, files]}}`` of a load that read some files only (for the card), with
    ``"drawn_sizes": {split: images in the dataset}`` where the dataset card gives them, else ``{}``."""
    if draw is None or not draw.drawn():
        return {}
    sizes = {name: draw.sizes[name] for name in draw.drawn() if name in draw.sizes}
    return {"drawn_files": draw.drawn(), **({"drawn_sizes": sizes} if sizes else {})}


def splits_read(spec: str, files: dict[str, list[str]], limits: Limits | None,
                pick_split: Callable[[list[str]], str] | None) -> dict[str, list[str]] | None:
    """The data files of the splits a load reads of a Hub dataset's ``files``: ``predict``'s one (``pick_split``),
    or those a run gives a role (not SVHN's ``extra``: said); None where that is all of them."""
    if pick_split is not None:
        chosen = pick_split(list(files))
        return {chosen: files[chosen]} if len(files) > 1 else None
    kept = limits.roles_only(files) if limits is not None else files
    if len(kept) == len(files):
        return None
    logger.warning("%s: not downloading its split(s) %s: no train, validation or test role (--split train=NAME, "
                   "validation=NAME or test=NAME gives one)", spec,
                   ", ".join(f"'{n}'" for n in sorted(set(files) - set(kept))))
    return kept
