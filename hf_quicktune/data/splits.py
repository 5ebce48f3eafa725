"""Split resolution: existing splits first, else a stratified, seeded hold-out."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hf_quicktune.errors import DatasetError

#: source split names recognised for each of our splits (first match wins)
SPLIT_ALIASES: dict[str, tuple[str, ...]] = {
    "train": ("train", "training", "train_set"),
    "validation": ("validation", "valid", "val", "dev", "eval", "evaluation"),
    "test": ("test", "testing", "test_set"),
}


def match_splits(available: Sequence[str], split_map: dict[str, str] | None = None) -> dict[str, str]:
    """Map our split names (train/validation/test) to the source's split names.

    ``split_map`` (from ``--split train=NAME``) wins; then the aliases above; a dataset with a
    single split of another name uses it as ``train``.
    """
    available = list(available)
    out: dict[str, str] = {}
    for ours, theirs in (split_map or {}).items():
        if ours not in SPLIT_ALIASES:
            raise DatasetError(
                f"Unknown split role '{ours}' in the split mapping; use train=NAME, validation=NAME or test=NAME."
            )
        if theirs not in available:
            raise DatasetError(
                f"The split mapping {ours}={theirs} names a split that does not exist; "
                f"the dataset has splits {available}.", input=f"{ours}={theirs}", code="unknown_split",
                fix=f"Map {ours} to one of those with --split {ours}=NAME"
                + (", or drop it to carve a validation split from train." if ours == "validation" else "."),
            )
        out[ours] = theirs
    used = set(out.values())
    for ours, aliases in SPLIT_ALIASES.items():
        if ours in out:
            continue
        for alias in aliases:
            if alias in available and alias not in used:
                out[ours] = alias
                used.add(alias)
                break
    if "train" not in out:
        rest = [s for s in available if s not in used]
        if len(rest) == 1:
            out["train"] = rest[0]
        else:
            raise DatasetError(
                f"Cannot tell which split is the training split: the dataset has splits {available}. "
                "Pass --split train=NAME (and optionally validation=NAME, test=NAME)."
            )
    return out


def stratified_holdout(
    labels: Sequence[int] | np.ndarray, fractions: dict[str, float], seed: int = 0,
    names: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Stratified, seeded split of row indices into ``train`` plus the held-out ``fractions``.

    Every class keeps at least one example in train and gets at least one in each held-out
    split, so a class needs ``1 + len(fractions)`` examples. Indices come back sorted.
    """
    labels = np.asarray(labels)
    held = {k: float(v) for k, v in fractions.items() if v and v > 0}
    for k, v in held.items():
        if not 0 < v < 1:
            raise DatasetError(f"The {k} fraction must be between 0 and 1, got {v}.")
    if sum(held.values()) >= 1:
        raise DatasetError(f"The held-out fractions {held} leave nothing to train on; their sum must be < 1.")
    need = 1 + len(held)
    classes, counts = np.unique(labels, return_counts=True)
    small = [(int(c), int(n)) for c, n in zip(classes, counts) if n < need]
    if small:
        shown = ", ".join(f"class '{names[c] if names else c}': {n} example(s)" for c, n in small[:10])
        raise DatasetError(
            f"Cannot make a stratified {'/'.join(held)} split: {len(small)} class(es) have fewer than "
            f"{need} examples ({shown}). Each class needs {need} examples to appear in train and in "
            "every held-out split; add examples, remove those classes, or provide the split yourself "
            "(--split validation=NAME)."
        )
    rng = np.random.default_rng(seed)
    out: dict[str, list[np.ndarray]] = {"train": [], **{k: [] for k in held}}
    for c in classes:
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        n = len(idx)
        takes = {k: max(1, int(round(v * n))) for k, v in held.items()}
        while sum(takes.values()) > n - 1:  # keep at least one training example
            biggest = max(takes, key=lambda k: takes[k])
            takes[biggest] -= 1
        start = 0
        for k, t in takes.items():
            out[k].append(idx[start : start + t])
            start += t
        out["train"].append(idx[start:])
    return {k: np.sort(np.concatenate(v)) for k, v in out.items()}
