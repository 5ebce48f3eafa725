"""NumPy archives of images and labels: Keras' ``mnist.npz`` (``x_train, y_train, x_test, y_test``) and the like.

An ``.npz`` holds image arrays (``(N, H, W)``, ``(N, H, W, C)``, ``(N, C, H, W)`` or flat ``(N, D)``) and label
arrays (``(N,)``), paired by what their names share once the image and label words are removed: ``x_train`` and
``y_train`` make the split ``train``, ``train_images`` and ``train_labels`` too, ``images`` and ``labels`` (no
split word) make ``train``. Each split becomes a table with an array ``image`` column, which
:mod:`hf_quicktune.data.pixels` encodes as images. An array of class names (``classes``) names integer labels.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hf_quicktune.errors import DatasetError

if TYPE_CHECKING:  # pragma: no cover
    import datasets

IMAGE_WORDS = ("x", "images", "image", "imgs", "img", "data", "features", "inputs", "pixels")
LABEL_WORDS = ("y", "labels", "label", "targets", "target", "classes", "class")
#: arrays of the classes' names (label i is the i-th), used as ``--class-names`` when that is not given
CLASS_NAME_KEYS = ("classes", "class_names", "label_names", "names")


def _split_of(key: str, words: tuple[str, ...]) -> str | None:
    """The split a key names once one of ``words`` is taken out (``x_train`` -> ``train``, ``images`` -> ``""``)."""
    parts = [p for p in re.split(r"[_\-.\s/]+", key.lower()) if p]
    if not any(p in words for p in parts):
        return None
    rest = [p for p in parts if p not in words]
    return "_".join(rest)


def features_of(images: Any, labels: Any) -> datasets.Features:
    """The table of ``images`` (an array column of their shape and type) and ``labels``."""
    import datasets

    dtype = str(images.dtype)
    shape = images.shape[1:]
    image = (datasets.Array2D(shape, dtype) if len(shape) == 2 else datasets.Array3D(shape, dtype) if len(shape) == 3
             else datasets.Sequence(datasets.Value(dtype), length=shape[0]))
    label = datasets.Value("string") if labels.dtype.kind in "US" else datasets.Value(str(labels.dtype))
    return datasets.Features({"image": image, "label": label})


def _arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise DatasetError(f"{path} cannot be read as a NumPy archive ({type(err).__name__}: {err}).",
                           input=str(path), code="bad_npz",
                           fix="Save it with numpy.savez (arrays of numbers or strings, not objects).") from err
    with archive:
        # Keras' CIFAR-10 labels are (N, 1): one label per row, not images
        return {key: (a[:, 0] if a.ndim == 2 and a.shape[1] == 1 else a) for key in archive.files
                for a in [archive[key]]}


def _image_arrays(arrays: Mapping[str, Any]) -> dict[str | None, str]:
    """split -> the key of its image array (split None: a numeric array whose name has no image word)."""
    return {_split_of(k, IMAGE_WORDS): k for k, a in arrays.items() if a.ndim >= 2 and a.dtype.kind in "uif"}


def _label_arrays(arrays: Mapping[str, Any]) -> dict[str | None, str]:
    return {_split_of(k, LABEL_WORDS): k for k, a in arrays.items() if a.ndim == 1 and k.lower() not in CLASS_NAME_KEYS}


def pair_arrays(arrays: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """split -> (image array's key, label array's key), paired by the split their names give (``x_train`` with
    ``y_train``), else the only image array with the only other array of one value per image (Galaxy10's
    ``images`` and ``ans``). ``arrays``: anything with ``ndim``, ``dtype`` and ``len`` (NumPy or HDF5 arrays)."""
    images, labels = _image_arrays(arrays), _label_arrays(arrays)
    pairs = {split or "train": (images[split], labels[split]) for split in images
             if split is not None and split in labels}
    if not pairs and len(arrays) >= 2:
        numeric = [k for k, a in arrays.items() if a.ndim >= 2 and a.dtype.kind in "uif"]
        flat = [k for k, a in arrays.items() if a.ndim == 1 and k.lower() not in CLASS_NAME_KEYS]
        if len(numeric) == 1 and len(flat) == 1 and len(arrays[numeric[0]]) == len(arrays[flat[0]]):
            pairs = {"train": (numeric[0], flat[0])}
    return pairs


def class_names(arrays: Mapping[str, Any]) -> list[str] | None:
    """The class names an array of them gives (``classes``, ``class_names``: label i is the i-th), if any."""
    names = next((arrays[k] for k in arrays if k.lower() in CLASS_NAME_KEYS and arrays[k].ndim == 1
                  and arrays[k].dtype.kind in "US"), None)
    return None if names is None else [str(n) for n in names]


def shapes(arrays: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {a.shape}" for k, a in arrays.items())


def load_npz(path: Path) -> tuple[dict[str, datasets.Dataset], dict[str, str], list[str] | None]:
    """The splits of the ``.npz`` at ``path`` (see the module's docstring), the arrays each was read from, and
    the class names an array of them gives (``classes``, ``class_names``: label i is the i-th), if any."""
    import datasets

    arrays = _arrays(path)
    pairs = pair_arrays(arrays)
    if not pairs:
        raise DatasetError(
            f"{path} holds no pair of image and label arrays that hf-quicktune recognises (it holds "
            f"{shapes(arrays)}).", input=str(path), code="bad_npz",
            fix="Name them like Keras' datasets: x_train (N, H, W[, C]) with y_train (N,), and x_test with y_test.")
    out, sources = {}, {}
    for split, (x, y) in pairs.items():
        if len(arrays[x]) != len(arrays[y]):
            raise DatasetError(f"{path}: {x} has {len(arrays[x])} images and {y} {len(arrays[y])} labels.",
                               input=str(path), code="bad_npz", fix="Save one label per image.")
        features = features_of(arrays[x], arrays[y])
        out[split] = datasets.Dataset.from_dict({"image": arrays[x], "label": arrays[y]}, features=features)
        sources[split] = f"{x}, {y}"
    return out, sources, class_names(arrays)


def arrays_to_classify(arrays: Mapping[str, Any], path: Path) -> tuple[str, str | None]:
    """The key of the image array of ``arrays`` (the file ``path``'s) to classify: the only one, or of several the
    test split's (``x_test``); and of its labels (``y_test``) where they are there, one per image."""
    images = _image_arrays(arrays)
    keys = list(images.values())
    if len(keys) != 1:
        keys = [key for split, key in images.items() if split == "test"]
    if len(keys) != 1:
        raise DatasetError(
            f"{path} holds {'no array of images' if not images else 'several arrays of images'} to classify (it "
            f"holds {shapes(arrays)}).", input=str(path), code="bad_npz",
            fix="Save the images to classify as an array of their own, e.g. numpy.savez('to_classify.npz', "
                "x_test=images) with images of shape (N, H, W[, C]).")
    key = keys[0]
    label_key = _label_arrays(arrays).get(_split_of(key, IMAGE_WORDS))
    return key, label_key if label_key is not None and len(arrays[label_key]) == len(arrays[key]) else None


def images_to_classify(path: Path) -> tuple[str, datasets.Dataset]:
    """The images of the ``.npz`` at ``path`` to classify (``hf-quicktune predict MODEL test.npz``): its only image
    array, or of several its test split's (``x_test``), as a table with an array ``image`` column, and a ``label``
    column when the images have labels (``y_test``; named by an array of class names). Returns the array's key and
    the table."""
    import datasets

    arrays = _arrays(path)
    key, label_key = arrays_to_classify(arrays, path)
    if label_key is None:
        return key, datasets.Dataset.from_dict({"image": arrays[key]}, features=datasets.Features(
            {"image": features_of(arrays[key], np.zeros(0, np.int64))["image"]}))
    labels, names = arrays[label_key], class_names(arrays)
    if names is not None and labels.dtype.kind in "iu" and len(labels) and labels.min() >= 0 and labels.max() < len(names):
        labels = np.asarray(names)[labels]
    return f"{key}, {label_key}", datasets.Dataset.from_dict({"image": arrays[key], "label": labels},
                                                            features=features_of(arrays[key], labels))
