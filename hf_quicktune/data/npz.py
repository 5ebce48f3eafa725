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
from pathlib import Path
from typing import TYPE_CHECKING

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
    parts = [p for p in re.split(r"[_\-.\s]+", key.lower()) if p]
    if not any(p in words for p in parts):
        return None
    rest = [p for p in parts if p not in words]
    return "_".join(rest)


def _features(images: np.ndarray, labels: np.ndarray) -> datasets.Features:
    import datasets

    dtype = str(images.dtype)
    shape = images.shape[1:]
    image = (datasets.Array2D(shape, dtype) if len(shape) == 2 else datasets.Array3D(shape, dtype) if len(shape) == 3
             else datasets.Sequence(datasets.Value(dtype), length=shape[0]))
    label = datasets.Value("string") if labels.dtype.kind in "US" else datasets.Value(str(labels.dtype))
    return datasets.Features({"image": image, "label": label})


def load_npz(path: Path) -> tuple[dict[str, datasets.Dataset], dict[str, str], list[str] | None]:
    """The splits of the ``.npz`` at ``path`` (see the module's docstring), the arrays each was read from, and
    the class names an array of them gives (``classes``, ``class_names``: label i is the i-th), if any."""
    import datasets

    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise DatasetError(f"{path} cannot be read as a NumPy archive ({type(err).__name__}: {err}).",
                           input=str(path), code="bad_npz",
                           fix="Save it with numpy.savez (arrays of numbers or strings, not objects).") from err
    with archive:
        # Keras' CIFAR-10 labels are (N, 1): one label per row, not images
        arrays = {key: (a[:, 0] if a.ndim == 2 and a.shape[1] == 1 else a) for key in archive.files
                  for a in [archive[key]]}
    images = {_split_of(k, IMAGE_WORDS): k for k, a in arrays.items() if a.ndim >= 2 and a.dtype.kind in "uif"}
    names = next((arrays[k] for k in arrays if k.lower() in CLASS_NAME_KEYS and arrays[k].ndim == 1
                  and arrays[k].dtype.kind in "US"), None)
    labels = {_split_of(k, LABEL_WORDS): k for k, a in arrays.items() if a.ndim == 1 and k.lower() not in CLASS_NAME_KEYS}
    pairs = {split: (images[split], labels[split]) for split in images if split is not None and split in labels}
    if not pairs:
        shapes = ", ".join(f"{k} {a.shape}" for k, a in arrays.items())
        raise DatasetError(
            f"{path} holds no pair of image and label arrays that hf-quicktune recognises (it holds {shapes}).",
            input=str(path), code="bad_npz",
            fix="Name them like Keras' datasets: x_train (N, H, W[, C]) with y_train (N,), and x_test with y_test.")
    out, sources = {}, {}
    for split, (x, y) in pairs.items():
        if len(arrays[x]) != len(arrays[y]):
            raise DatasetError(f"{path}: {x} has {len(arrays[x])} images and {y} {len(arrays[y])} labels.",
                               input=str(path), code="bad_npz", fix="Save one label per image.")
        features = _features(arrays[x], arrays[y])
        out[split or "train"] = datasets.Dataset.from_dict({"image": arrays[x], "label": arrays[y]}, features=features)
        sources[split or "train"] = f"{x}, {y}"
    return out, sources, None if names is None else [str(n) for n in names]
