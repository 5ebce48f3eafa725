"""An ImageFolder read as torchvision's ``ImageFolder`` reads it: an image's class is the top folder under the root
(or under ``train/``, ``validation/``, ``test/``), however deep the image lies below it. A folder of images
without class folders whose file names carry the class (``cat.0.jpg``) is labelled by them
(:mod:`hf_quicktune.data.name_labels`).

datasets' ``imagefolder`` names an image's class by the folder that holds it: ``cat/session1/0.png`` was class
``session1`` (every class mixed into a few wrong ones, in silence), and a class folder holding images both
directly and in a sub-folder left the whole dataset without labels. Here datasets finds and decodes the files;
the labels come from the top folders.
"""

from __future__ import annotations

import glob
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hf_quicktune.data.file_draw import Draw, Limits, draw_files, drawn_info
from hf_quicktune.data.folder_files import FolderWalk, check_unread_files, read_extensions, walk_folder
from hf_quicktune.data.masks import mask_rows, segmentation_layout
from hf_quicktune.data.name_labels import describe, labels_from_names
from hf_quicktune.data.quiet import quiet_datasets
from hf_quicktune.data.splits import SPLIT_ALIASES
from hf_quicktune.errors import DatasetError

if TYPE_CHECKING:  # pragma: no cover
    import datasets

logger = logging.getLogger(__name__)

#: the files that give an imagefolder its columns (datasets' metadata files)
_METADATA = frozenset({"metadata.csv", "metadata.jsonl", "metadata.parquet"})
#: top folders named so make a split layout (``root/<split>/<class>/...``): the names the split matching knows
SPLIT_NAMES = frozenset(name for aliases in SPLIT_ALIASES.values() for name in aliases)


def _visible(entry: Path) -> bool:
    """Not hidden (``.DS_Store``, ``._x.jpg``) and not an archiver's or tool's own folder (``__MACOSX``: macOS'
    zips hold a copy of every folder of resource forks; datasets' file patterns skip such names too)."""
    return not entry.name.startswith((".", "__"))


def _subdirs(path: Path) -> list[Path]:
    return [d for d in sorted(path.iterdir()) if d.is_dir() and _visible(d)]


def inner_folder(path: Path) -> Path:
    """``path``, or the folder it wraps: a folder holding one folder and no file is that folder, as often as it
    does (Intel's ``seg_train/seg_train/``, Kaggle's ``training_set/training_set/``)."""
    while True:
        entries = [e for e in path.iterdir() if _visible(e)]
        if len(entries) != 1 or not entries[0].is_dir():
            return path
        path = entries[0]


def _splits_by_words(subdirs: list[Path]) -> bool:
    """Whether top folders without a split's own name are splits by a word of their names (Intel's ``seg_train``,
    ``seg_test``; ``training_set``; RSNA's ``stage_2_train_images``): one is the training split's, and either every
    one is a split's, or those that are hold folders (of classes) and the others none (Intel's unlabelled
    ``seg_pred``). Classes with such a word (``train_station``, ``test_tube`` beside ``bus``) stay classes."""
    from hf_quicktune.data.splits import split_role

    roles = [split_role(d.name) for d in subdirs]
    if "train" not in roles:
        return False
    return all(role is not None for role in roles) or all(
        (role is not None) == bool(_subdirs(inner_folder(d))) for d, role in zip(subdirs, roles))


def split_dirs(path: Path) -> dict[str, Path] | None:
    """The split folders of a ``root/<split>/<class>/<image>`` layout (a top folder named like a split, or by a word
    of its name: :func:`_splits_by_words`) by name, each with the folder that holds its classes (a split folder
    wrapping one folder: :func:`inner_folder`), or None for ``root/<class>/...``. A split folder of images without
    class folders (a competition's unlabelled ``test/``) is left out with a warning; where no split folder holds
    class folders, those whose file names carry the class (Dogs vs. Cats' ``train/cat.0.jpg``) are the labelled
    ones; with none of either there are no labels (an error)."""
    subdirs = _subdirs(path)
    if not any(d.name.lower() in SPLIT_NAMES for d in subdirs) and not _splits_by_words(subdirs):
        return None
    roots = {d.name: inner_folder(d) for d in subdirs}
    foldered, named, unlabelled = [], [], []
    readable = read_extensions()
    for name, root in roots.items():
        entries = [e for e in root.iterdir() if _visible(e)]
        if any(e.is_dir() for e in entries):
            foldered.append(name)
        elif labels_from_names([e.name for e in entries if e.suffix.lower() in readable]) is not None:
            named.append(name)  # Dogs vs. Cats' train/ (cat.0.jpg): labelled by names where no split has folders
        elif entries:
            unlabelled.append(name)
    labelled = foldered or named
    unlabelled = [d.name for d in subdirs if d.name in unlabelled or (foldered and d.name in named)]
    if not labelled:
        raise DatasetError(f"{path} holds split folders ({', '.join(d.name + '/' for d in subdirs)}) of images but no "
                           "class folders in them, so it has no labels.", input=str(path), code="no_classes",
                           fix="Put each class's images in its own folder (train/CLASS/IMAGE.png), name each image "
                               "after its class (train/cat.0.jpg), or pass a CSV/parquet file with an image and a "
                               "label column.")
    if unlabelled:
        logger.warning("%s hold%s images without class folders (unlabelled, like a competition's test set): left "
                       "out; classify them with `hf-quicktune predict RUN_DIR %s` after the run.",
                       ", ".join(f"{n}/" for n in unlabelled), "s" if len(unlabelled) == 1 else "",
                       " ".join(str(roots[n]) for n in unlabelled))
    return {name: roots[name] for name in labelled}


def load_image_folder(path: Path, limits: Limits | None = None) -> tuple[dict[str, datasets.Dataset], dict[str, Any]]:
    """The splits of the ImageFolder ``path`` with a ``label`` ClassLabel from the top folders, and what the layout
    was (``{"split_dirs": [...]}`` or ``{}``, and the files read where ``limits`` drew them: :func:`_drawn`)."""
    import datasets

    splits = split_dirs(path)
    root = path.absolute()
    roots = {s: r.absolute() for s, r in splits.items()} if splits else {"train": root}
    walks = {s: walk_folder(r) for s, r in roots.items()}  # every check below reads this one listing
    check_unread_files(path, list(splits.values()) if splits else None, {w.root: w for w in walks.values()})
    if any(map(_has_metadata, walks.values())):  # a metadata file gives the columns: datasets' reading, whole
        draw, out = None, _read_with_metadata(path, roots, walks)
    else:
        draw = _drawn(walks, limits) if limits is not None and limits.caps else None
        out = {s: _image_split(walks[s], draw.data_files[s] if draw and s in draw.drawn() else None) for s in roots}
        if not any(len(split) for split in out.values()):
            raise DatasetError(f"{path} holds no image file.", input=str(path), code="no_images",
                               fix="Put each class's images in its own folder (path/CLASS/IMAGE.jpg): JPEG, PNG, WebP, "
                                   "BMP, TIFF and other Pillow formats are read.")
    layout: dict[str, Any] = {"split_dirs": list(splits)} if splits else {}
    layout.update(drawn_info(draw))
    if splits:  # the folders split_dirs left out (a competition's unlabelled test/): run's summary names them
        layout["unlabelled"] = [str(inner_folder(d)) for d in _subdirs(path) if d.name not in splits
                                and any(_visible(e) for e in inner_folder(d).iterdir())]
    if any(set(split.column_names) != {"image"} for split in out.values()):
        return out, layout  # a metadata file (metadata.csv / .jsonl) gave the columns: datasets' reading stands
    relative = {name: _relative_paths(split, roots[name]) for name, split in out.items()}
    out, relative = _without_masks(out, relative)
    tops = _classes_from_names(path, relative)
    if tops is None:
        _check_classes(path, roots, relative)
        tops = {name: [rel.split("/", 1)[0] for rel in rels] for name, rels in relative.items()}
    names = sorted({c for column in tops.values() for c in column})
    index = {c: i for i, c in enumerate(names)}
    feature = datasets.ClassLabel(names=names)
    for name, split in out.items():
        out[name] = split.add_column("label", [index[c] for c in tops[name]]).cast_column("label", feature)
    return out, layout


def _has_metadata(walk: FolderWalk) -> bool:
    """Whether a folder holds one of datasets' metadata files (``metadata.csv``, ``.jsonl``, ``.parquet``)."""
    return _metadata_file(walk) is not None


def _metadata_file(walk: FolderWalk) -> str | None:
    """The first of datasets' metadata files in a folder (its path below the folder), or None."""
    return next((rel for rel in walk.files if is_metadata_file(rel)), None)


def _read_with_metadata(path: Path, roots: dict[str, Path], walks: dict[str, FolderWalk]) -> dict[str, datasets.Dataset]:
    """The splits of a folder with datasets' metadata files (``metadata.csv``: a ``file_name`` column and the
    images' other columns) as datasets' ``imagefolder`` reads them, which reads only the images they list: the others
    are said (they were left out in silence), and a split folder without one beside splits with one is refused
    (datasets: 'Instruction "split1" corresponds to no data'). Where the metadata names no class (no ClassLabel, no
    column named like a label: a caption, a photographer) and the images lie in class folders, those are the classes
    (the metadata dropped them)."""
    import datasets

    from hf_quicktune.data.columns import LABEL_NAMES

    bare = [s for s, walk in walks.items() if not _has_metadata(walk)]
    if bare:
        have = next(s for s in walks if s not in bare)
        raise DatasetError(
            f"{_named(path, roots[have])} holds a metadata file ({_metadata_file(walks[have])}) and "
            f"{', '.join(_named(path, roots[s]) for s in bare)} none: datasets reads a folder's images through its "
            "metadata files (metadata.csv, .jsonl or .parquet), every split's or none.", input=str(path),
            code="metadata_split",
            fix=f"Add one to {_named(path, roots[bare[0]])} (a file_name column: each image's path below it, and "
                f"the same columns), or move {_named(path, roots[have])}'s out of the dataset to label every image by "
                "its class folder.")
    out = _read_by_datasets(path, roots, walks)
    relative = {name: _relative_paths(split, roots[name]) for name, split in out.items()}
    readable = read_extensions()
    for name, walk in walks.items():
        listed = set(relative[name])
        unlisted = [rel for rel in walk.files
                    if os.path.splitext(rel)[1].lower() in readable and rel not in listed]
        if unlisted:
            warn_unlisted(_named(path, roots[name]), len(unlisted), len(unlisted) + len(listed), unlisted[0])
    features = next(iter(out.values())).features
    if any(isinstance(f, datasets.ClassLabel) or c.lower() in LABEL_NAMES for c, f in features.items()):
        return out
    tops = [rel.partition("/")[0] if "/" in rel else None for rels in relative.values() for rel in rels]
    names = sorted({t for t in tops if t is not None})
    if None in tops or len(names) < 2:  # images beside the metadata file, or one folder: no classes to add
        return out
    others = [c for c in features if c != "image"]
    logger.warning("the metadata file names no class (its columns: %s): each image's class is its class folder (%s). "
                   "To take the classes from one of its columns instead, pass --label-column NAME.",
                   ", ".join(others) or "none besides file_name", describe([t for t in tops if t is not None]))
    feature = datasets.ClassLabel(names=names)
    index = {c: i for i, c in enumerate(names)}
    return {name: split.add_column("label", [index[rel.split("/", 1)[0]] for rel in relative[name]]).cast_column(
        "label", feature) for name, split in out.items()}


def is_metadata_file(name: str) -> bool:
    """Whether a file (a path or a URL) is one of datasets' imagefolder metadata files."""
    return name.rpartition("/")[2].lower() in _METADATA


def warn_unlisted(where: str, unlisted: int, total: int, example: str | None = None) -> None:
    """Say that ``unlisted`` of the ``total`` images of ``where`` (a folder, a Hub dataset's split) are not in its
    metadata file: datasets' imagefolder reads only the images a metadata file lists and left the others out in
    silence."""
    logger.warning("%d of the %d images of %s are not in its metadata file%s: datasets reads only the images a "
                   "metadata file lists, so they are left out. List them in it (file_name), or move it out of the "
                   "dataset to read every image, labelled by its class folder.", unlisted, total, where,
                   f" (e.g. {example})" if example else "")


def _named(path: Path, root: Path) -> str:
    """A split's folder as the user knows it: relative to the dataset's ``path`` (``train/``), or ``path``."""
    try:
        rel = root.relative_to(path.absolute())
    except ValueError:
        return str(root)
    return f"{rel.as_posix()}/" if rel.parts else str(path)


def _read_by_datasets(path: Path, roots: dict[str, Path], walks: dict[str, FolderWalk]) -> dict[str, datasets.Dataset]:
    """Each split as datasets' ``imagefolder`` reads it (with a ``metadata.csv`` beside the images: its columns)."""
    import datasets

    keys = {s: f"split{i}" for i, s in enumerate(roots)}  # datasets' split names are words; a folder's may not be
    # symlinked folders (``train/cat -> /data/cats``) are patterns of their own: datasets' do not descend into them
    patterns = {keys[s]: [glob.escape(str(d)) + "/**" for d in [r, *(r / d for d in walks[s].linked)]]
                for s, r in roots.items()}
    try:
        with quiet_datasets():
            loaded = datasets.load_dataset("imagefolder", data_files=patterns, drop_labels=True)
    except Exception as err:
        raise DatasetError(
            f"Could not read {path} as an ImageFolder directory ({type(err).__name__}: {err}). "
            "Expected class sub-folders of images (path/CLASS/IMAGE.jpg), optionally under train/ "
            "validation/ test/ folders."
        ) from err
    return {s: loaded[keys[s]] for s in roots}


def _image_split(walk: FolderWalk, chosen: list[str] | None = None) -> datasets.Dataset:
    """A split of ``walk``'s images as datasets' ``imagefolder`` reads them (``drop_labels``: an ``image`` column of
    paths, rows in its order: ``chosen``'s, a draw's, or every image, those below each link after the others, each
    part sorted), built from the walk: imagefolder resolves and prepares every file again (benchmarks/
    folder_listing.py --whole: 73 s for 300,000 files against under 4 s this way)."""
    import datasets

    if chosen is None:
        readable = read_extensions()
        base = os.fspath(walk.root)
        links = sorted(walk.linked, key=len, reverse=True)  # a file belongs to the deepest link above it
        parts: dict[str, list[str]] = {"": [], **{link: [] for link in walk.linked}}
        for rel in walk.files:
            if os.path.splitext(rel)[1].lower() in readable:
                owner = next((link for link in links if rel.startswith(link + "/")), "") if links else ""
                parts[owner].append(os.path.join(base, rel))
        chosen = [file for files in parts.values() for file in sorted(files)]
    return datasets.Dataset.from_dict({"image": chosen}, features=datasets.Features({"image": datasets.Image()}))


def _drawn(walks: dict[str, FolderWalk], limits: Limits) -> Draw | None:
    """Under ``limits``, the images of each split read (:func:`~hf_quicktune.data.file_draw.draw_files`: enough of
    every class folder's, a million-image folder's images not all checked for a run that trains on thousands), or None where
    every file is read: no split capped, or a folder that holds segmentation masks beside its images, which is read
    whole. Other files (notes) are not read either way. ``walks``: each split's folder listed
    (:func:`~hf_quicktune.data.folder_files.walk_folder`), none with a metadata file (:func:`_has_metadata`: the load
    leaves such a folder to datasets, whole)."""
    readable = read_extensions()
    files: dict[str, list[str]] = {}
    classes: dict[str, list[str]] = {}  # each image's top folder: its class (a patient's or session's folder below)
    for split, walk in walks.items():
        images = [rel for rel in walk.files if os.path.splitext(rel)[1].lower() in readable]
        if mask_rows(images):
            return None
        base = os.fspath(walk.root)
        files[split] = [os.path.join(base, rel) for rel in images]
        classes[split] = [rel.partition("/")[0] if "/" in rel else "" for rel in images]
    return draw_files(files, limits, folder_based=True, classes=classes)


def _without_masks(splits: dict[str, datasets.Dataset], relative: dict[str, list[str]],
                   ) -> tuple[dict[str, datasets.Dataset], dict[str, list[str]]]:
    """The splits without the segmentation masks beside their images (:mod:`hf_quicktune.data.masks`), said."""
    dropped = {name: mask_rows(rels) for name, rels in relative.items()}
    total = sum(len(rows) for rows in dropped.values())
    if not total:
        return splits, relative
    example = next(relative[name][rows[0]] for name, rows in dropped.items() if rows)
    logger.warning("%d file(s) are segmentation masks beside the images (e.g. %s: in a masks/ folder, or named "
                   "IMAGE_mask): left out, where each would have been one more image of its class", total, example)
    out, rels = dict(splits), dict(relative)
    for name, rows in dropped.items():
        if rows:
            gone = set(rows)
            keep = [i for i in range(len(relative[name])) if i not in gone]
            out[name] = splits[name].select(keep)
            rels[name] = [relative[name][i] for i in keep]
    return out, rels


def _classes_from_names(path: Path, relative: dict[str, list[str]]) -> dict[str, list[str]] | None:
    """Each split's classes read from its images' file names when no image lies in a class folder and the names
    label them (:mod:`hf_quicktune.data.name_labels`), else None."""
    if any("/" in rel for rels in relative.values() for rel in rels):
        return None
    names = [rel for rels in relative.values() for rel in rels]
    labels = labels_from_names(names)
    if labels is None:
        return None
    logger.warning("%s has no class folders: each image's class is read from its file name, without its number "
                   "(%s is a '%s'): %s. To label them otherwise, put each class's images in its own folder "
                   "(path/CLASS/IMAGE.png).", path, names[0], labels[0], describe(labels))
    out, start = {}, 0
    for split, rels in relative.items():
        out[split], start = labels[start:start + len(rels)], start + len(rels)
    return out


def _relative_paths(split: datasets.Dataset, root: Path) -> list[str]:
    """Each image's path below ``root``, as its parts joined by ``/`` (one part: directly in the root)."""
    import datasets

    from hf_quicktune.data.columns import column_values

    values = column_values(split.cast_column("image", datasets.Image(decode=False)), "image")
    return [os.path.relpath(v["path"], root).replace(os.sep, "/") for v in values]


def _check_classes(path: Path, roots: dict[str, Path], tops: dict[str, list[str]]) -> None:
    """Refuse images outside any class folder and fewer than two classes; say when the classes hold sub-folders
    (``tops``: each split's image paths relative to its root)."""
    loose = [(s, rel) for s, rels in tops.items() for rel in rels if "/" not in rel]
    classes = {rel.split("/", 1)[0] for rels in tops.values() for rel in rels if "/" in rel}
    if loose and classes:
        shown = ", ".join(f"{s}: {rel}" if len(roots) > 1 else rel for s, rel in loose[:5])
        raise DatasetError(f"{len(loose)} image(s) of {path} lie outside any class folder ({shown}"
                           f"{', ...' if len(loose) > 5 else ''}).", input=str(path), code="loose_images",
                           fix="Move each into its class's folder (path/CLASS/IMAGE.png), or out of the dataset.")
    if len(classes) < 2:
        raise _unlabelled(path, sorted(classes), next(iter(roots.values())))
    if segmentation_layout(sorted(classes)):
        folders = ", ".join(f"{c}/" for c in sorted(classes))
        raise DatasetError(f"{path} holds images and their segmentation masks ({folders}), not "
                           "classes: read as classes, a model would learn to tell a picture from a mask.",
                           input=str(path), code="segmentation_dataset",
                           fix="hf-quicktune classifies images: pass a dataset with a folder per class (or a table of "
                               "images and their classes); a segmentation model needs another tool.")
    nested = sorted({rel.split("/", 1)[0] for rels in tops.values() for rel in rels if rel.count("/") > 1})
    if nested:
        logger.warning("class folders hold sub-folders (%s): each image's class is its top folder (%s), as "
                       "torchvision's ImageFolder reads it. If the top folders are splits, name them train/, "
                       "validation/ and test/.", ", ".join(f"{c}/" for c in nested[:4]) + (", ..." if len(nested) > 4
                                                                                          else ""),
                       ", ".join(sorted(classes)[:6]) + (", ..." if len(classes) > 6 else ""))


def _unlabelled(path: Path, classes: list[str], root: Path | None = None) -> DatasetError:
    """One class folder or none: say which, and the fix (the folder to pass where the one class only wraps the
    dataset: Microsoft's ``PetImages/Cat``, ``PetImages/Dog``)."""
    if len(classes) == 1:
        inner = _subdirs(root / classes[0]) if root is not None and (root / classes[0]).is_dir() else []
        wrapped = (f" If {classes[0]}/ is the dataset, its folders ({', '.join(d.name + '/' for d in inner[:4])}"
                   f"{', ...' if len(inner) > 4 else ''}) the classes, pass --dataset {root / classes[0]}."
                   if len(inner) >= 2 and root is not None else "")
        return DatasetError(f"{path} has one class ('{classes[0]}'): a classifier needs at least 2 classes.",
                            input=str(path), code="one_class",
                            fix="Add a folder of images for every other class next to it (path/CLASS/IMAGE.png)."
                                + wrapped)
    return DatasetError(f"{path} holds images but no class sub-folders, so it has no labels.", input=str(path),
                        code="no_classes", fix="Put each class's images in its own folder (path/CLASS/IMAGE.png), name "
                        "each image after its class (cat.0.jpg, cat.1.jpg, dog.0.jpg: at least 2 per class), or pass a "
                        "CSV/parquet file with an image and a label column.")
