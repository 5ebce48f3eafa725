"""save_state / load_state: tensors anywhere in the state, JSON for the rest."""

from __future__ import annotations

import json

import numpy as np
import torch

from hf_quicktune.search.serialization import load_state, save_state


def test_round_trip_with_nested_tensors(tmp_path):
    state = {
        "class": "X",
        "trials": {"3": {"scores": [0.1, 0.2], "status": "ok"}},
        "tensors": {"surrogate.w": torch.arange(6, dtype=torch.float32).reshape(2, 3)},
        "inner": {"tensors": {"a": torch.tensor([1.5])}, "items": [torch.tensor([2]), 4, None]},
        "array": np.array([1.0, 2.0]),
    }
    save_state(state, tmp_path / "s")
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["state.json", "state.safetensors"]
    json.loads((tmp_path / "s" / "state.json").read_text())
    back = load_state(tmp_path / "s")
    assert back["trials"] == state["trials"] and back["class"] == "X"
    assert torch.equal(back["tensors"]["surrogate.w"], state["tensors"]["surrogate.w"])
    assert torch.equal(back["inner"]["tensors"]["a"], torch.tensor([1.5]))
    assert torch.equal(back["inner"]["items"][0], torch.tensor([2])) and back["inner"]["items"][1:] == [4, None]
    assert back["array"].tolist() == [1.0, 2.0]


def test_state_without_tensors(tmp_path):
    save_state({"class": "RandomSearch", "trials": {}}, tmp_path)
    assert load_state(tmp_path) == {"class": "RandomSearch", "trials": {}}
