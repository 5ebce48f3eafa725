"""Optimizer state on disk: ``state.json`` (everything JSON) + ``state.safetensors`` (tensors).

Tensors may sit anywhere in the state (e.g. ``state["tensors"]`` of a Quick-Tune optimizer, or
the state of an optimizer nested in another one); each is replaced in the JSON by
``{"__tensor__": key}`` and stored under that key.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

_REF = "__tensor__"


def _split(obj: Any, path: str, out: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        out[path] = obj.detach().contiguous()
        return {_REF: path}
    if isinstance(obj, np.ndarray):
        out[path] = torch.from_numpy(np.ascontiguousarray(obj))
        return {_REF: path}
    if isinstance(obj, dict):
        return {k: _split(v, f"{path}/{k}" if path else str(k), out) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_split(v, f"{path}/{i}", out) for i, v in enumerate(obj)]
    return obj


def _join(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {_REF}:
            return tensors[obj[_REF]]
        return {k: _join(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join(v, tensors) for v in obj]
    return obj


def save_state(state: dict[str, Any], directory: str | Path) -> Path:
    """Write an optimizer ``state_dict()`` atomically (state.json + state.safetensors)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    body = _split(state, "", tensors)
    tmp_t, tmp_j = directory / "state.safetensors.tmp", directory / "state.json.tmp"
    save_file(tensors, str(tmp_t))
    tmp_j.write_text(json.dumps(body))
    os.replace(tmp_t, directory / "state.safetensors")
    os.replace(tmp_j, directory / "state.json")
    return directory


def load_state(directory: str | Path) -> dict[str, Any]:
    """Inverse of :func:`save_state`."""
    from safetensors.torch import load_file

    directory = Path(directory)
    body = json.loads((directory / "state.json").read_text())
    path = directory / "state.safetensors"
    tensors = dict(load_file(str(path))) if path.exists() else {}
    return _join(body, tensors)
