"""The model zoo: candidates from curated YAML zoos, Hub queries, local paths and packages.

Public API: :class:`Candidate`, :func:`get_candidate`, :func:`load_zoo`, :func:`create_model`.
Importing this package does not import torch or timm.
"""

from __future__ import annotations

from typing import Any

from hf_quicktune.zoo.candidate import Candidate
from hf_quicktune.zoo.registry import available_zoos, get_candidate, load_zoo

__all__ = ["Candidate", "allow_pickle", "available_zoos", "create_model", "get_candidate", "load_zoo"]


def allow_pickle(candidates: list[Candidate]) -> list[Candidate]:
    """Mark candidates whose pickled (non-safetensors) checkpoints the user chose to trust (``--allow-pickle``).

    :func:`create_model` then loads them without being passed ``allow_pickle=True``.
    """
    for cand in candidates:
        cand.extra["allow_pickle"] = True
    return candidates


def create_model(candidate: Candidate | str, num_classes: int | None = None, **kwargs: Any):
    """See :func:`hf_quicktune.zoo.factory.create_model`."""
    from hf_quicktune.zoo.factory import create_model as _create

    return _create(candidate, num_classes, **kwargs)
