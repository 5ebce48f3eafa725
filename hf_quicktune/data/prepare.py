"""``load(spec) -> PreparedDataset``: every source through one path.

source -> detect columns -> missing labels -> ClassLabel -> (image, label) -> decoding check
-> existing or stratified splits -> meta-features + fingerprint.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import numpy as np

from hf_quicktune.data import columns as col
from hf_quicktune.data import emnist, image_ids, one_hot, pixels
from hf_quicktune.data.file_draw import MARGIN, Limits
from hf_quicktune.data.folds import split_by_folds
from hf_quicktune.data.groups import group_column as group_column_of
from hf_quicktune.data.groups import group_leak_warnings, group_values
from hf_quicktune.data.images import Progress, drop_undecodable
from hf_quicktune.data.meta import compute_meta, fingerprint
from hf_quicktune.data.quiet import no_progress_bars
from hf_quicktune.data.repeats import drop_repeated_rows
from hf_quicktune.data.sampling import drawn_rows
from hf_quicktune.data.sources import RawSource, resolve_source
from hf_quicktune.data.split_column import split_by_column
from hf_quicktune.data.splits import (
    coverage_warnings,
    group_holdout,
    leak_warnings,
    match_splits,
    stratified_holdout,
)
from hf_quicktune.data.types import PreparedDataset
from hf_quicktune.errors import DatasetError

logger = logging.getLogger(__name__)


def load(
    spec: str,
    *,
    config: str | None = None,
    revision: str | None = None,
    split_map: dict[str, str] | None = None,
    image_column: str | None = None,
    label_column: str | None = None,
    class_names: list[str] | None = None,
    group_column: str | None = None,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    seed: int = 0,
    verify_images: bool = True,
    progress: Progress | None = None,
    train_limit: int | None = None,
    eval_limit: int | None = None,
    cut_rows_over: float = 1.0,
) -> PreparedDataset:
    """Resolve ``spec`` (Hub id, ImageFolder dir, parquet/CSV/JSON file, ``builtin:NAME``).

    Existing train/validation/test splits are kept (``split_map`` maps ours to theirs, e.g.
    ``{"validation": "valid"}``); a missing validation split (and a test split when
    ``test_fraction > 0``) is carved out of train, stratified by class and seeded. ``class_names`` names the
    ids of an integer label column (``--class-names``). ``group_column`` names the groups whose images stay on one
    side of a carved split (a patient's; ``"none"``: images; None: detected, :mod:`hf_quicktune.data.groups`).
    Every image is decoded once (``verify_images``):
    undecodable ones are dropped, with a warning; ``progress(task, done, total, images)`` hears how far that
    check is (it reads every image). ``train_limit`` / ``eval_limit``: the images a run will use of each split
    (``--train-limit`` / ``--eval-limit``): a dataset stored in many files (a Hub repo of shards or of images, a
    local folder of WebDataset or parquet shards) is read from enough of them (:mod:`hf_quicktune.data.file_draw`),
    other sources whole; then a split holding more rows than the limits need keeps a stratified part of
    :data:`~hf_quicktune.data.file_draw.MARGIN` times that, before its images are checked or downloaded (a table of
    URLs); ``cut_rows_over``: only a split holding more than that many times as many (``math.inf``: none; ``rank``
    keeps the rows of a dataset not much larger than its sample, so that a later run loads them and reads its
    features).
    Raises :class:`~hf_quicktune.errors.DatasetError` with what to do for every bad input.
    """
    with no_progress_bars():
        limits = Limits(train_limit, eval_limit, val_fraction, test_fraction, seed, split_map, label_column,
                        cut_rows_over)
        return _load(spec, config=config, revision=revision, split_map=split_map, image_column=image_column,
                     label_column=label_column, class_names=class_names, group_column=group_column,
                     val_fraction=val_fraction, test_fraction=test_fraction, seed=seed,
                     verify_images=verify_images, progress=progress, limits=limits)


def _split_files(raw: RawSource, names: list[str]) -> list[str]:
    """The data files of the source splits ``names`` (unlabelled ones: what to classify after the run), where the
    source is local files named by split."""
    files = raw.info.get("files")
    folder = Path(raw.info.get("path") or "")
    if files:
        return [str(folder / files[n]) for n in names if n in files]
    if raw.info.get("format") == "directory" and folder.is_dir():
        return [str(f) for n in names for f in sorted(folder.iterdir())
                if f.is_file() and (f.stem.lower() == n.lower() or f.stem.lower().startswith(f"{n.lower()}-"))]
    return []


def _warn_similar_names(names: list[str], column: str) -> None:
    """Warn about class names that differ only in letter case or surrounding spaces (``cat`` / ``Cat`` / `` cat``:
    a table typed by hand); they stay apart as written."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(" ".join(name.split()).casefold(), []).append(name)
    similar = [group for group in groups.values() if len(group) > 1]
    if similar:
        shown = "; ".join(" / ".join(repr(n) for n in group) for group in similar[:5])
        logger.warning("%d group(s) of classes in column '%s' differ only in letter case or spaces (%s%s): they are "
                       "trained as different classes; write each class one way if they are one", len(similar), column,
                       shown, "; ..." if len(similar) > 5 else "")


def _warn_combined_labels(names: list[str], column: str) -> None:
    """Warn when the classes look like combinations of a few labels (Planet's ``tags``: ``haze primary``,
    ``clear primary road``, ...: far more classes than words, several words each), a multi-label set that a
    single-label classifier learns as one class per combination."""
    words = [re.split(r"[\s,;|]+", n.strip()) for n in names]
    tokens = {t for w in words for t in w if t}
    if len(names) >= 8 and 2 * len(tokens) < len(names) and sum(map(len, words)) > 1.5 * len(names):
        logger.warning("the %d classes of column '%s' are combinations of %d words (e.g. %r): several labels per "
                       "image? hf-quicktune trains one class per image, so each combination is a class; keep one "
                       "label per image if that is not what you want", len(names), column, len(tokens),
                       max(names, key=len))


def _label_column(splits: dict, img_col: str, label_column: str | None) -> tuple[dict, str]:
    """The splits and their label column: detected or named (``--label-column``), else one made from one-hot class
    columns (Plant Pathology's healthy / rust / scab of 0 and 1: :mod:`hf_quicktune.data.one_hot`)."""
    splits = col.unwrap_single_labels(splits, img_col, label_column)  # labels: [3], one class per image in a list
    try:
        return splits, col.detect_label_column(splits["train"], img_col, label_column)
    except DatasetError:
        made = one_hot.one_hot_label(splits["train"], [img_col]) if label_column is None else None
        if made is None:
            raise
        name, hot = made
        return {split: one_hot.with_label(ds, name, hot) for split, ds in splits.items()}, name


def _drop_unlabelled_splits(splits: dict, lab_col: str, roles: dict[str, str], hub_id: str | None = None) -> dict:
    """Competition-style held-out splits without labels are dropped, not scored on: all -1 (a ClassLabel's
    unknown), or all missing (Kaggle's test.csv beside train.csv has no label column). ``hub_id``: the Hub
    dataset they are splits of (what to classify after the run is then that id and split)."""
    import datasets

    out = {}
    for name, ds in splits.items():
        if name != "train" and lab_col not in ds.column_names:  # a competition's test.csv: ids and no classes
            why = f"no column '{lab_col}'"
        else:
            unknown = -1 if isinstance(ds.features[lab_col], datasets.ClassLabel) else None
            values = col.column_values(ds, lab_col) if name != "train" else []
            why = ("all -1" if unknown == -1 else "none given") if values and all(
                v == unknown or v is None or (isinstance(v, float) and math.isnan(v)) for v in values) else ""
        if why:
            logger.warning("ignoring split '%s': it has no labels (%s); classify it after the run with "
                           "`hf-quicktune predict RUN_FOLDER %s`", roles[name], why,
                           f"{hub_id} --split {roles[name]}" if hub_id else "FILE")
            continue
        out[name] = ds
    return out


def _load(
    spec: str,
    *,
    config: str | None,
    revision: str | None,
    split_map: dict[str, str] | None,
    image_column: str | None,
    label_column: str | None,
    class_names: list[str] | None,
    group_column: str | None,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    verify_images: bool,
    progress: Progress | None,
    limits: Limits,
) -> PreparedDataset:
    raw = resolve_source(spec, config=config, revision=revision, limits=limits, progress=progress)
    class_names = class_names or raw.info.get("class_names")  # an .npz's array of class names
    available, split_col = raw.splits, None
    if len(available) == 1:  # one table whose rows say their split (FER2013's Usage, a split column, is_valid)
        found = split_by_column(next(iter(available.values())), split_map)
        if found is not None:
            split_col, available, split_map = found
            logger.info("column '%s' splits the table: %s", split_col,
                        ", ".join(f"{role}={value} ({len(available[value])})" for role, value in split_map.items()))
    fold_col = None
    folds = split_by_folds(available, split_map)  # a notebook's train_folds.csv: one fold validates, the rest train
    if folds is not None:
        fold_col, available, split_map = folds
    roles = match_splits(list(available), split_map)
    splits = {ours: available[theirs] for ours, theirs in roles.items()}
    for name, ds in splits.items():
        if len(ds) == 0:
            raise DatasetError(f"The '{roles[name]}' split of '{spec}' is empty; pass a dataset with images in it.")

    # a competition's table of image ids, the images in a folder beside it (train_images/<id>.png)
    by_id = image_ids.images_by_id(splits, raw.base_dir, image_column)
    if by_id is not None:
        splits, image_column = by_id
    # a table of pixels: the training split's encoded first, the others once the unlabelled ones are left out
    path = raw.info.get("path")
    is_emnist = emnist.is_emnist(path)
    converted, image_column, pixel_layout = pixels.read_pixels({"train": splits["train"]}, image_column,
                                                               transposed=is_emnist)
    if path is not None and is_emnist and not class_names:  # EMNIST's labels: characters (mapping)
        class_names = emnist.mapping_names(path)
    splits["train"] = train = converted["train"]
    img_col = col.detect_image_column(train, image_column)
    splits, lab_col = _label_column(splits, img_col, label_column)
    train = splits["train"]
    hub_id = raw.info.get("id") if raw.kind == "hub" else None
    splits = _drop_unlabelled_splits(splits, lab_col, roles, hub_id)
    if pixel_layout is not None:
        splits = {"train": train, **pixels.convert_splits({k: v for k, v in splits.items() if k != "train"},
                                                          pixel_layout)}
    unlabelled = [str(Path(p).absolute()) for p in raw.info.get("unlabelled", []) + _split_files(
        raw, [v for k, v in roles.items() if k not in splits])]
    # a Hub dataset's unlabelled split: `predict RUN org/name --split NAME` classifies it
    hub_unlabelled = [v for k, v in roles.items() if k not in splits] if hub_id else []
    roles = {k: v for k, v in roles.items() if k in splits}
    for name, ds in splits.items():
        if img_col not in ds.column_names or lab_col not in ds.column_names:
            raise DatasetError(
                f"Split '{roles[name]}' lacks the column '{img_col}' or '{lab_col}' found in the training split "
                f"(its columns: {ds.column_names}). Give all splits the same columns, or map splits with --split."
            )
        col.check_missing_labels(ds, lab_col, roles[name])
    splits = drop_repeated_rows(splits, img_col, lab_col)  # a table with a row per box: each image once
    group_col = group_column_of(splits["train"], (img_col, lab_col), group_column)
    names = col.id_names(splits, lab_col, class_names) if class_names else col.label_names_for(splits, lab_col)
    cut: dict[str, list[int]] = {}
    if limits.caps:  # a split larger than the limits need: a stratified part is checked and kept
        needed = {role: math.ceil(MARGIN * rows) for role, rows in limits.role_rows(list(splits)).items()}
        splits, cut = drawn_rows(splits, lab_col, needed, seed, over=limits.cut_rows_over)
        for name, (kept, rows) in cut.items():
            logger.info("keeping %d of the %d images of '%s', drawn at random by class: the limits need %d of them",
                        kept, rows, roles[name], round(kept / MARGIN))
    splits = {
        name: col.normalise_columns(
            col.encode_labels(col.to_image_feature(ds, img_col, raw.base_dir, progress), lab_col, names), img_col,
            lab_col, group=group_col if group_col in ds.column_names else None
        )
        for name, ds in splits.items()
    }
    if class_names:  # the ids' names (--class-names): the ClassLabel, so the card, export and predict speak them
        import datasets

        splits = {name: ds.cast_column("label", datasets.ClassLabel(names=list(class_names)))
                  for name, ds in splits.items()}
    skipped = 0
    digests: dict[str, list[str | None]] = {}
    if verify_images:
        splits, skipped, digests = drop_undecodable(splits, progress=progress)

    groups = None
    given: dict[str, set[str]] = {}  # the groups of the splits the dataset gives (a patient in train and test?)
    for name in [n for n, ds in splits.items() if "group" in ds.column_names]:  # read once the check dropped rows
        values = group_values(col.column_values(splits[name], "group"))  # a row without a group: its own
        if name == "train":
            groups = values
        else:
            given[name] = {v for v in values if not v.startswith("<row ")}
        splits[name] = splits[name].remove_columns("group")
    if groups is not None:
        for warning in group_leak_warnings({str(g) for g in groups}, given, group_col or ""):
            logger.warning(warning)
    # each split's labels, read once (a read of a large split's column is a start-up cost: benchmarks/data_startup.py)
    labels = {name: np.asarray(col.column_values(ds, "label")) for name, ds in splits.items()}
    present = np.unique(labels["train"])
    class_names = list(splits["train"].features["label"].names)
    _warn_similar_names(class_names, lab_col)
    _warn_combined_labels(class_names, lab_col)
    if len(present) < 2:
        raise DatasetError(
            f"The training split of '{spec}' has {len(present)} class(es) "
            f"({[class_names[i] for i in present]}, column '{lab_col}'); classification needs at least 2. "
            "Check --label-column names the class column."
        )

    held = {}
    if "validation" not in splits:
        held["validation"] = val_fraction
    if "test" not in splits and test_fraction > 0:
        held["test"] = test_fraction
    if held:
        if groups is not None:
            idx = group_holdout(labels["train"], groups, held, seed=seed)
            logger.warning("the held-out split(s) take whole groups of column '%s' (%d groups for %d images), so no "
                           "%s has images on both sides; --group-column none splits images", group_col,
                           len(set(map(str, groups))), len(groups), group_col)
        else:
            idx = stratified_holdout(labels["train"], held, seed=seed)
        base = splits["train"]
        splits = {**splits, **{name: base.select(rows) for name, rows in idx.items()}}
        labels = {**labels, **{name: labels["train"][rows] for name, rows in idx.items()}}
        if digests:
            digests = {**digests, **{name: [digests["train"][i] for i in rows] for name, rows in idx.items()}}
        logger.info("made stratified split(s) %s from train (seed %d)", {k: len(v) for k, v in idx.items()}, seed)
    for warning in coverage_warnings(labels, class_names, {k: v for k, v in roles.items() if k != "train"}):
        logger.warning(warning)
    for warning in leak_warnings(digests):
        logger.warning(warning)

    import datasets

    dd = datasets.DatasetDict({k: splits[k] for k in ("train", "validation", "test") if k in splits})
    options = {"held": held, "seed": seed if held else None, **({"group": group_col} if held and group_col else {})}
    meta = compute_meta(dict(dd))
    return PreparedDataset(
        name=spec,
        splits=dd,
        fingerprint=fingerprint(dict(dd), extra=options),
        meta=meta,
        source=raw.kind,
        skipped=skipped,
        info={
            **raw.info,
            "image_column": pixel_layout.source if pixel_layout else img_col,
            "image_mode": meta.image_mode,
            "image_format": meta.image_format,
            "label_column": lab_col,
            "source_splits": roles,
            **({"pixels": pixel_layout.describe()} if pixel_layout else {}),
            **({"split_column": split_col} if split_col else {}),
            **({"fold_column": fold_col} if fold_col else {}),
            **({"group_column": group_col} if held and group_col else {}),
            **({"unlabelled": unlabelled} if unlabelled else {}),
            **({"unlabelled_splits": hub_unlabelled} if hub_unlabelled else {}),
            **({"drawn_rows": cut} if cut else {}),
            "made_splits": sorted(held),
            **({"held": held, "seed": seed} if held else {}),
            "config": config,
            "revision": raw.info.get("revision") or revision,  # the parquet conversion read instead of a script
        },
    )
