"""Datasets: resolve any source to a :class:`PreparedDataset`; per-model transforms.

Importing this package is light (no torch/datasets/timm); those load when used. It registers the Pillow plugins
that read DICOM scans (:mod:`hf_quicktune.data.dicom`) and TIFFs of 16-bit colour
(:mod:`hf_quicktune.data.deep_tiff`), in every process that reads images through it.
"""

from __future__ import annotations

from typing import Any

from hf_quicktune.data import deep_tiff as _deep_tiff  # noqa: F401 - registers the deep-colour TIFF plugin
from hf_quicktune.data import dicom as _dicom  # noqa: F401 - registers the DICOM plugin with Pillow
from hf_quicktune.data.prepare import load
from hf_quicktune.data.types import DatasetMeta, PreparedDataset

__all__ = ["DatasetMeta", "PreparedDataset", "build_transform", "load", "to_torch"]


def __getattr__(name: str) -> Any:
    if name in ("build_transform", "to_torch"):
        from hf_quicktune.data import transforms

        return getattr(transforms, name)
    raise AttributeError(f"module 'hf_quicktune.data' has no attribute {name!r}")
