"""Optimizer state on disk: ``state.json`` (everything JSON) + ``state.safetensors`` (tensors)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch


def save_state(state: dict[str, Any], directory: str | Path) -> Path:
    """Write an optimizer ``state_dict()`` atomically (tensors under ``state["tensors"]``)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous() for k, v in (state.get("tensors") or {}).items()}
    body = {k: v for k, v in state.items() if k != "tensors"}
    tmp_t, tmp_j = directory / "state.safetensors.tmp", directory / "state.json.tmp"
    save_file(tensors, str(tmp_t))
    tmp_j.write_text(json.dumps(body, sort_keys=True))
    os.replace(tmp_t, directory / "state.safetensors")
    os.replace(tmp_j, directory / "state.json")
    return directory


def load_state(directory: str | Path) -> dict[str, Any]:
    """Inverse of :func:`save_state`."""
    from safetensors.torch import load_file

    directory = Path(directory)
    state = json.loads((directory / "state.json").read_text())
    path = directory / "state.safetensors"
    state["tensors"] = {k: torch.as_tensor(v) for k, v in load_file(str(path)).items()} if path.exists() else {}
    return state
