"""What is published names no path of the user's machine."""

from __future__ import annotations

import json
from pathlib import Path

from hf_quicktune.publish.local_paths import (
    is_local_path,
    local_roots,
    public_dataset,
    public_settings,
    scrub_text_files,
)


def test_local_paths_are_told_from_hub_ids_and_builtins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.csv").write_text("a,b\n")
    assert is_local_path(str(tmp_path / "data.csv")) and is_local_path("data.csv") and is_local_path("~/x")
    assert is_local_path("./images") and is_local_path("/nonexistent/abs/folder")
    assert not is_local_path("org/name") and not is_local_path("builtin:digits") and not is_local_path(None)
    assert public_dataset(str(tmp_path / "data.csv")) == ("data.csv", True)
    assert public_dataset(str(tmp_path / "imgs") + "/") == ("imgs", True)
    assert public_dataset("org/name") == ("org/name", False)


def test_public_settings_keep_only_names(tmp_path):
    settings = {"dataset": str(tmp_path / "digits.csv"), "output_dir": str(tmp_path / "runs" / "r1"),
                "space": str(tmp_path / "my-space.yaml"), "prior": "org/prior", "zoo": "offline",
                "scores": ["lfc", "knn"], "budget": "3m"}
    out = public_settings(settings)
    assert out == {"dataset": "local:digits.csv", "output_dir": "local:r1", "space": "local:my-space.yaml",
                   "prior": "org/prior", "zoo": "offline", "scores": ["lfc", "knn"], "budget": "3m"}
    assert str(tmp_path) not in json.dumps(out)


def test_scrub_rewrites_leftover_paths_in_text_files_only(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    data = tmp_path / "data" / "digits.csv"
    (export / "README.md").write_text(f"trained on {data} from {Path.home()}/x\n")
    (export / "model.safetensors").write_bytes(str(data).encode())  # binary files are left alone
    changed = scrub_text_files(export, local_roots([str(data)]))
    assert changed == [export / "README.md"]
    text = (export / "README.md").read_text()
    assert str(tmp_path) not in text and "local:digits.csv" in text and "~/x" in text
