"""Where each split of a prepared dataset came from, in words: ``data inspect``'s table and the model card's
"Training and evaluation data" (what a reader needs to trust the validation score: the dataset's own split, one fold
of its table, or a share held out from train, by whole patients or not)."""

from __future__ import annotations

import re
from typing import Any


def split_origin(info: dict[str, Any], split: str) -> str:
    """Where ``split`` of a dataset prepared with ``info`` (:attr:`PreparedDataset.info`) came from."""
    held = info.get("held") or {}
    if split in (info.get("made_splits") or []):
        share = f"{100 * held[split]:g} % of the training images" if split in held else "a share of train"
        group = f", whole groups of '{info['group_column']}'" if info.get("group_column") else ""
        seed = f", seed {info['seed']}" if info.get("seed") is not None else ""
        return f"held out from train: {share}, stratified by class{group}{seed}"
    rest = ", less the held-out shares" if split == "train" and info.get("made_splits") else ""
    return _given(info, split) + rest


def _given(info: dict[str, Any], split: str) -> str:
    """A split the dataset gives: its own, a fold of its table, or its rows of one value of a split column; and
    the part of it a load under limits read (``--train-limit`` / ``--eval-limit``): files drawn, rows kept."""
    source = (info.get("source_splits") or {}).get(split, split)
    kept = (info.get("drawn_rows") or {}).get(split)  # [rows kept, rows read]: a stratified part
    fold = info.get("fold_column")
    rows = f" ({kept[0]:,} of its {kept[1]:,} images, drawn at random by class)" if kept else ""
    if fold and source.startswith(f"{fold} "):
        values = re.findall(r"-?\d+", source[len(fold):])
        if "==" in source:
            return f"fold {values[0]} of the table's '{fold}' column{rows}"
        return f"the other folds of '{fold}' (not {', '.join(values)}){rows}"
    if info.get("split_column"):
        return f"the rows whose '{info['split_column']}' is '{source}'{rows}"
    drawn = (info.get("drawn_files") or {}).get(source)  # a dataset of many files read in part
    size = (info.get("drawn_sizes") or {}).get(source)
    whole = f"; {size:,} images in all" if size else ""
    if drawn and kept:
        rows = f" ({kept[0]:,} images drawn at random by class from {drawn[0]:,} of its {drawn[1]:,} files{whole})"
    elif drawn:
        rows = f" (read from {drawn[0]:,} of its {drawn[1]:,} files, drawn at random{whole})"
    return f"the dataset's '{source}' split{rows}"


def used_splits(info: dict[str, Any], sizes: dict[str, int], train_limit: int | None = None,
                eval_limit: int | None = None) -> list[tuple[str, int, str]]:
    """Each split's name, the images a run used of it and where it came from: a ``--train-limit`` /
    ``--eval-limit`` cap (a fixed random subset, ``train/loaders.limit_split``) is what the score was measured on,
    so the card gives the capped size and says of how many."""
    rows = []
    for split, n in sizes.items():
        limit, flag = (train_limit, "--train-limit") if split == "train" else (eval_limit, "--eval-limit")
        used = min(n, limit) if limit else n
        cap = f"; a random {used:,} of its {n:,} images ({flag} {limit})" if used < n else ""
        rows.append((split, used, split_origin(info, split) + cap))
    return rows
