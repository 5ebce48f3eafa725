"""HDF5 files of images and labels: PatchCamelyon's ``camelyonpatch_level_2_split_train_x.h5`` with its ``_y.h5``,
Galaxy10's ``Galaxy10_DECals.h5`` (``images``, ``ans``), a lab's ``data.h5`` of ``x_train``, ``y_train``.

Scientific image sets ship as HDF5 as Keras' ship as ``.npz``: each file holds arrays (HDF5 datasets), paired into
splits as :mod:`hf_quicktune.data.npz` pairs them, by the split their names give once the image and label words
are removed; over several files the file's name counts too (``..._split_train_x.h5:x`` pairs with
``..._split_train_y.h5:y``). Labels stored ``(N, 1, 1, 1)`` (PCam's) are one per image. The images are read in
chunks, never whole (PCam's training array is 7 GB), and encoded as PNGs as they are read (:func:`load_hdf5`).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hf_quicktune.data.npz import CLASS_NAME_KEYS, arrays_to_classify, features_of, pair_arrays, shapes
from hf_quicktune.errors import DatasetError

if TYPE_CHECKING:  # pragma: no cover
    import datasets

    from hf_quicktune.data.pixels import PixelLayout

logger = logging.getLogger(__name__)

SUFFIXES = (".h5", ".hdf5", ".he5")
#: images read from a file at a time
CHUNK = 1024


class _Array:
    """An HDF5 array as :func:`~hf_quicktune.data.npz.pair_arrays` sees it: trailing axes of length 1 dropped from
    a label array (PCam's ``(N, 1, 1, 1)``)."""

    def __init__(self, file: Path, key: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.file, self.key, self.dtype = file, key, dtype
        self.shape = shape[:1] if len(shape) > 1 and all(n == 1 for n in shape[1:]) else shape
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0] if self.shape else 0

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        with _h5py().File(self.file, "r") as f:
            data = f[self.key][start:stop]
        data = np.asarray(data).reshape((len(data), *self.shape[1:]))
        return data.astype(str) if data.dtype.kind in "SO" else data


def _h5py() -> Any:
    try:
        import h5py
    except ImportError as err:  # pragma: no cover - a core dependency
        raise DatasetError("Reading HDF5 files needs h5py.", code="missing_dependency",
                           fix="pip install h5py") from err
    return h5py


def arrays_of(paths: list[Path]) -> dict[str, _Array]:
    """Every array (HDF5 dataset) of ``paths``, by its path in the file; over several files prefixed by the
    file's name (``camelyonpatch_level_2_split_train_x/x``)."""
    h5py = _h5py()
    out: dict[str, _Array] = {}
    for path in paths:
        found: dict[str, _Array] = {}
        try:
            with h5py.File(path, "r") as f:
                def visit(name: str, obj: Any, path: Path = path, found: dict[str, _Array] = found) -> None:
                    if isinstance(obj, h5py.Dataset) and obj.shape:
                        found[name] = _Array(path, name, tuple(obj.shape), obj.dtype)

                f.visititems(visit)
        except OSError as err:
            raise DatasetError(f"{path} cannot be read as an HDF5 file ({err}).", input=str(path), code="bad_hdf5",
                               fix="Check the download is complete (PCam ships gzipped: `gunzip FILE.h5.gz` first)."
                               ) from err
        out.update({(f"{path.stem}/{k}" if len(paths) > 1 else k): a for k, a in found.items()})
    return out


def load_hdf5(paths: list[Path]) -> tuple[dict[str, datasets.Dataset], dict[str, str], list[str] | None,
                                         PixelLayout | None]:
    """The splits of the HDF5 files ``paths`` (see the module), the arrays each was read from, the class names an
    array of them gives, if any, and how the images were read as pixels. The images are encoded as PNGs as they are
    read (one table in datasets' cache, not the arrays and then their images: PCam's training array is 7 GB), in
    the layout :mod:`~hf_quicktune.data.pixels` finds on the training array's first rows, as it finds a table's;
    arrays it does not read as images stay arrays (the load then says why)."""
    import datasets

    from hf_quicktune.data.splits import split_role

    arrays = arrays_of(paths)
    pairs = pair_arrays(arrays)
    if not pairs:
        raise DatasetError(
            f"{', '.join(p.name for p in paths[:3])} hold(s) no pair of image and label arrays that hf-quicktune "
            f"recognises (it holds {shapes(arrays)}).", input=str(paths[0]), code="bad_hdf5",
            fix="Name them like Keras' datasets: x_train (N, H, W[, C]) with y_train (N,), or keep one image array "
                "and one label array per file.")
    out, sources = {}, {}
    train = next((s for s in pairs if split_role(s) == "train"), next(iter(pairs)))
    layout = None
    for x, y in pairs.values():
        images, labels = arrays[x], arrays[y]
        if len(images) != len(labels):
            raise DatasetError(f"{x} has {len(images)} images and {y} {len(labels)} labels.", input=x,
                               code="bad_hdf5", fix="Save one label per image.")
    if len(arrays[pairs[train][0]]):
        layout = _layout(arrays[pairs[train][0]], arrays[pairs[train][1]].read())
    for split, (x, y) in pairs.items():
        images, labels = arrays[x], arrays[y]
        values = labels.read()
        # a string: datasets shards list-valued gen_kwargs (each shard would read every row again)
        stamp = ";".join(f"{a.file}:{a.file.stat().st_mtime_ns}:{a.file.stat().st_size}" for a in (images, labels))
        raw = features_of(np.zeros((0, *images.shape[1:]), images.dtype), values)
        kwargs: dict[str, Any] = {"file": str(images.file), "key": images.key, "labels": values, "stamp": stamp}
        encoded = layout is not None and images.shape[1:] == arrays[pairs[train][0]].shape[1:]
        with _quiet():
            out[split] = datasets.Dataset.from_generator(
                _png_rows, features=datasets.Features({"image": datasets.Image(), "label": raw["label"]}),
                gen_kwargs={**kwargs, "layout": layout}) if encoded else datasets.Dataset.from_generator(
                _rows, features=raw, gen_kwargs=kwargs)
        sources[split] = f"{x}, {y}"
    return out, sources, _names(arrays), layout


def _layout(images: _Array, labels: np.ndarray) -> PixelLayout | None:
    """How :mod:`~hf_quicktune.data.pixels` reads ``images`` as pixels, decided on its first rows as it decides a
    table's; None where it does not (the arrays are then loaded as they are, and the load says why)."""
    import datasets

    from hf_quicktune.data import pixels

    sample = images.read(0, pixels.SAMPLE_ROWS)
    table = datasets.Dataset.from_dict({"image": list(sample), "label": list(labels[:len(sample)])},
                                       features=features_of(sample, labels))
    try:
        return pixels.detect(table)
    except DatasetError:
        return None


def images_to_classify(path: Path) -> tuple[str, datasets.Dataset]:
    """The images of the HDF5 file ``path`` to classify (``hf-quicktune predict MODEL test_x.h5``): its only image
    array, or its test split's, as a table with an array ``image`` column, and a ``label`` column (class names where
    an array of them names the ids) where its labels are in the file. Returns the arrays' keys and the table."""
    import datasets

    arrays = arrays_of([path])
    key, label_key = arrays_to_classify(arrays, path)
    images = arrays[key]
    labels = arrays[label_key].read() if label_key is not None else np.full(len(images), -1)
    sibling = _label_file(path, len(images)) if label_key is None else None
    if sibling is not None:  # PCam's test_x.h5: its labels in test_y.h5 beside it
        (label_key, label_array), = sibling.items()
        labels = label_array.read()
    names = _names(arrays)
    if label_key is not None and names is not None and labels.dtype.kind in "iu" and len(labels) and \
            labels.min() >= 0 and labels.max() < len(names):
        labels = np.asarray(names)[labels]
    stamp = f"{path}:{path.stat().st_mtime_ns}:{path.stat().st_size}"
    features = features_of(np.zeros((0, *images.shape[1:]), images.dtype), labels)
    with _quiet():
        ds = datasets.Dataset.from_generator(_rows, features=features, gen_kwargs={
            "file": str(path), "key": images.key, "labels": labels, "stamp": stamp})
    if label_key is None:
        return key, ds.remove_columns("label")
    return f"{key}, {label_key}", ds


def _label_file(path: Path, count: int) -> dict[str, _Array] | None:
    """The labels of the images of ``path`` kept in a file beside it, named as it is with its image word made a label
    word (PCam's ``..._test_x.h5`` and ``..._test_y.h5``; ``images.h5`` and ``labels.h5``): ``{key: array}`` of its
    only array, when that holds one value per image; None otherwise."""
    from hf_quicktune.data.npz import IMAGE_WORDS, LABEL_WORDS

    parts = re.split(r"([_\-.\s]+)", path.stem)
    for i, part in enumerate(parts):
        if part.lower() not in IMAGE_WORDS:
            continue
        for word in LABEL_WORDS:
            candidate = path.with_name("".join([*parts[:i], word, *parts[i + 1:]]) + path.suffix)
            if candidate == path or not candidate.is_file():
                continue
            found = arrays_of([candidate])
            if len(found) == 1 and all(a.ndim == 1 and len(a) == count for a in found.values()):
                logger.info("%s: its labels are read from %s", path.name, candidate.name)
                return {f"{candidate.name}:{k}": a for k, a in found.items()}
    return None


def _names(arrays: dict[str, _Array]) -> list[str] | None:
    """The class names an array of them gives (``class_names``: label i is the i-th), if any."""
    names = next((arrays[k].read() for k in arrays if k.rsplit("/", 1)[-1].lower() in CLASS_NAME_KEYS
                  and arrays[k].ndim == 1 and arrays[k].dtype.kind in "USO"), None)
    return None if names is None else [str(n) for n in names]


def _rows(file: str, key: str, labels: np.ndarray, stamp: str) -> Iterator[dict[str, Any]]:
    """The rows of one split, a chunk of images read at a time (``stamp``: the files' size and time, so that a
    changed file is read again rather than from datasets' cache)."""
    h5py = _h5py()
    with h5py.File(file, "r") as f:
        data = f[key]
        for start in range(0, len(labels), CHUNK):
            chunk = np.asarray(data[start:start + CHUNK])
            for i, image in enumerate(chunk):
                yield {"image": image, "label": labels[start + i]}


def _png_rows(file: str, key: str, labels: np.ndarray, stamp: str, layout: PixelLayout) -> Iterator[dict[str, Any]]:
    """:func:`_rows` with each image encoded as a PNG as it is read (``layout``: :func:`_layout`'s)."""
    from hf_quicktune.data.pixels import encode_pngs

    with _h5py().File(file, "r") as f:
        data = f[key]
        for start in range(0, len(labels), CHUNK):
            pngs = encode_pngs(layout, {"image": np.asarray(data[start:start + CHUNK])})
            for i, png in enumerate(pngs):
                yield {"image": {"bytes": png, "path": None}, "label": labels[start + i]}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    from hf_quicktune.data.quiet import quiet_datasets

    with quiet_datasets():
        yield


def hdf5_files(path: Path) -> list[Path] | None:
    """The HDF5 files at the top of a folder when they are its data (no sub-folders; tables beside them are
    their metadata: PCam's ``_meta.csv``), else None."""
    entries = [p for p in path.iterdir() if not p.name.startswith(".")]
    files = sorted(p for p in entries if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files or any(p.is_dir() and not p.name.startswith("__") for p in entries):
        return None
    return files
