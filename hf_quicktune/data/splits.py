"""Split resolution: existing splits first, else a stratified, seeded hold-out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hf_quicktune.errors import DatasetError

#: source split names recognised for each of our splits (first match wins, in any letter case)
SPLIT_ALIASES: dict[str, tuple[str, ...]] = {
    "train": ("train", "training", "train_set"),
    "validation": ("validation", "valid", "val", "dev", "eval", "evaluation"),
    "test": ("test", "testing", "test_set"),
}


def split_role(name: str) -> str | None:
    """The role (train / validation / test) a folder or file name gives a split: one of the aliases, in any case,
    or one of them as a word of the name (Intel's ``seg_train``, ``training_set``, RSNA's ``stage_2_test_images``)
    when the words name one role only; None otherwise."""
    import re

    lowered = name.lower()
    for role, aliases in SPLIT_ALIASES.items():
        if lowered in aliases:
            return role
    words = set(re.split(r"[^a-z0-9]+", lowered))
    roles = {role for role, aliases in SPLIT_ALIASES.items() if words & set(aliases)}
    return roles.pop() if len(roles) == 1 else None


def match_splits(available: Sequence[str], split_map: dict[str, str] | None = None) -> dict[str, str]:
    """Map our split names (train/validation/test) to the source's split names.

    ``split_map`` (from ``--split train=NAME``) wins; then the aliases above; then a name with an alias as a word
    (:func:`split_role`); a dataset with a single split of another name uses it as ``train``.
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
    shared = sorted({t for t in out.values() if list(out.values()).count(t) > 1})
    if shared:
        roles = " and ".join(f"{o}={t}" for o, t in out.items() if t in shared)
        raise DatasetError(
            f"The split mapping {roles} gives one split two roles: the trials would be scored on the images they "
            "train on (or tested on them).", input=roles, code="shared_split",
            fix="Map each role to its own split, or drop --split validation=... to carve a validation split from "
                "train.")
    used = set(out.values())
    for ours, aliases in SPLIT_ALIASES.items():
        if ours in out:
            continue
        for alias in aliases:  # in any case: Kaggle's Training/ and Testing/ folders
            found = next((a for a in available if a.lower() == alias and a not in used), None)
            if found is not None:
                out[ours] = found
                used.add(found)
                break
    for ours in SPLIT_ALIASES:  # by a word of the name (Intel's seg_train / seg_test): where one split has it
        if ours not in out:
            named = [a for a in available if a not in used and split_role(a) == ours]
            if len(named) == 1:
                out[ours] = named[0]
                used.add(named[0])
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
) -> dict[str, np.ndarray]:
    """Stratified, seeded split of row indices into ``train`` plus the held-out ``fractions``.

    Every class keeps at least one example in train and gets at least one in each held-out
    split when it has ``1 + len(fractions)`` examples; a rarer class keeps its examples in train (the test
    split's share given up first), and a held-out split no class can fill is an error. Indices come back sorted.
    """
    labels = np.asarray(labels)
    held = {k: float(v) for k, v in fractions.items() if v and v > 0}
    for k, v in held.items():
        if not 0 < v < 1:
            raise DatasetError(f"The {k} fraction must be between 0 and 1, got {v}.")
    if sum(held.values()) >= 1:
        raise DatasetError(f"The held-out fractions {held} leave nothing to train on; their sum must be < 1.")
    classes, counts = np.unique(labels, return_counts=True)
    rng = np.random.default_rng(seed)
    out: dict[str, list[np.ndarray]] = {"train": [], **{k: [] for k in held}}
    for c in classes:
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        n = len(idx)
        takes = {k: max(1, int(round(v * n))) for k, v in held.items()}
        # keep at least one training example: a rare class (a long tail's single image) gives up its held-out
        # examples, the test split's first (coverage_warnings then says it is never validated); was an error
        while sum(takes.values()) > n - 1:
            largest = max(takes.values())
            if largest > 1:
                takes[next(k for k in takes if takes[k] == largest)] -= 1
            else:
                takes[[k for k in takes if takes[k]][-1]] -= 1
        start = 0
        for k, t in takes.items():
            out[k].append(idx[start : start + t])
            start += t
        out["train"].append(idx[start:])
    result = {k: np.sort(np.concatenate(v)) for k, v in out.items()}
    empty = [k for k in held if len(result[k]) == 0]
    if empty:
        need = 1 + len(held)
        raise DatasetError(
            f"Cannot make a stratified {'/'.join(held)} split: no class has the {need} examples it takes to appear "
            f"in train and in every held-out split (the largest has {int(counts.max())}); add examples, or provide "
            "the split yourself (--split validation=NAME).")
    return result


def group_holdout(
    labels: Sequence[int] | np.ndarray, groups: Sequence[Any], fractions: dict[str, float], seed: int = 0,
) -> dict[str, np.ndarray]:
    """:func:`stratified_holdout` by whole groups (a patient's, a lesion's images all on one side of the split):
    scikit-learn's ``StratifiedGroupKFold``, one fold per held-out split, its ``1 / k`` share the nearest to the
    fraction asked (the test split first, then the validation split from the rest). Raises
    :class:`DatasetError` when there are fewer groups than that takes."""
    import warnings

    from sklearn.model_selection import StratifiedGroupKFold

    labels = np.asarray(labels)
    codes = np.unique(np.asarray([str(g) for g in groups]), return_inverse=True)[1]
    held = {k: float(v) for k, v in fractions.items() if v and v > 0}
    rest = np.arange(len(labels))
    out: dict[str, np.ndarray] = {}
    share = 1.0
    for name in sorted(held, key=lambda k: k != "test"):  # the test split first
        k = max(2, int(round(share / held[name])))
        if len(np.unique(codes[rest])) < k:
            raise DatasetError(f"Too few groups ({len(np.unique(codes[rest]))}) to hold out whole ones as the {name} "
                               f"split ({held[name]:.0%} takes {k}).", code="few_groups",
                               fix="Pass --group-column none to split images, not groups, or lower the fraction.")
        with warnings.catch_warnings():  # "the least populated class has only n members": a rare class, said later
            warnings.simplefilter("ignore", UserWarning)
            folds = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
            kept, taken = next(iter(folds.split(rest, labels[rest], codes[rest])))
        out[name] = np.sort(rest[taken])
        rest = np.sort(rest[kept])
        share -= held[name]
    return {"train": rest, **{k: out[k] for k in held}}


def coverage_warnings(labels: Mapping[str, Sequence[int] | np.ndarray], names: Sequence[str],
                      sources: dict[str, str] | None = None) -> list[str]:
    """What the user should know when the splits do not share their classes (``labels``: split -> class ids).

    A class with held-out images and no training image cannot be learnt: each of its images is an error
    whatever the model, so top-1 has a ceiling below 100 %. A class with training images and none in
    validation is learnt but never measured: the search cannot tell how well it is recognised.
    """
    def shown(ids: Sequence[int]) -> str:
        listed = ", ".join(f"'{names[i]}'" for i in ids[:5])
        return listed + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")

    sources = sources or {}
    train = set(np.unique(np.asarray(labels["train"])).tolist())
    out = []
    for split in ("validation", "test"):
        if split not in labels:
            continue
        values = np.asarray(labels[split])
        ids, counts = np.unique(values, return_counts=True)
        unseen = [(int(c), int(n)) for c, n in zip(ids, counts) if int(c) not in train]
        if unseen:
            images = sum(n for _, n in unseen)
            origin = f" ('{sources[split]}')" if sources.get(split, split) != split else ""
            out.append(
                f"{len(unseen)} class(es) of the {split} split{origin} have no training image: "
                f"{shown([c for c, _ in unseen])}. The model cannot learn them, so their {images} of "
                f"{len(values)} {split} images ({100 * images / len(values):.1f} %) are errors whatever it does. "
                "Add training images of those classes, or leave them out of the held-out split."
            )
    if "validation" in labels:
        missing = sorted(train - set(np.unique(np.asarray(labels["validation"])).tolist()))
        if missing:
            out.append(
                f"{len(missing)} class(es) have training images and none in the validation split: "
                f"{shown(missing)}. The search never measures how well they are recognised; a validation "
                "split with every class (--split validation=NAME, or none to have one carved from train) "
                "makes the choice of model cover them."
            )
    return out


def leak_warnings(digests: Mapping[str, Sequence[str | None]]) -> list[str]:
    """Held-out images that are byte-for-byte copies of training images (``digests``: split -> each row's digest
    of its encoded bytes), or of each other: scored on copies of what they train on, the trials' validation
    accuracy flatters them and the search favours memorising. Scraped sets hold such copies; a split carved from
    train sends one of two copies to each side. Re-encoded or resized copies are not found."""
    train = {d for d in digests.get("train", ()) if d}
    out = []
    for split in ("validation", "test"):
        rows = [d for d in digests.get(split, ()) if d]
        copies = sum(1 for d in rows if d in train)
        if copies:
            out.append(
                f"{copies} of {len(rows)} {split} images ({100 * copies / len(rows):.1f} %) are byte-for-byte copies "
                f"of training images: the {split} score counts images the model trained on, so it flatters the "
                "model (and the search favours memorising). Remove the duplicates from the dataset, or from one split."
            )
    validation = {d for d in digests.get("validation", ()) if d}
    shared = sum(1 for d in digests.get("test", ()) if d and d in validation and d not in train)
    if shared:
        out.append(f"{shared} test images are byte-for-byte copies of validation images: the test score is not "
                   "independent of the choice of model. Remove the duplicates from one split.")
    return out
