"""`hf-quicktune cache info` / `cache clear`: the sizes of what hf-quicktune keeps on disk, and removing parts."""

from __future__ import annotations

import json

import pytest

from hf_quicktune.cli import main


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "qt"
    monkeypatch.setenv("HF_QUICKTUNE_CACHE", str(root))
    (root / "features" / "abc").mkdir(parents=True)
    (root / "features" / "abc" / "one.safetensors").write_bytes(b"x" * 3000)
    (root / "features" / "samples").mkdir()
    (root / "features" / "samples" / "s.json").write_text("{}")
    (root / "weights").mkdir()
    (root / "weights" / "lite0.safetensors").write_bytes(b"w" * 5000)
    (root / "forward_cost.json").write_text("{}")
    return root


def test_info_gives_each_parts_size_and_files(cache, capsys):
    assert main(["cache", "info", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["path"] == str(cache)
    parts = out["parts"]
    assert parts["features"]["bytes"] == 3002 and parts["features"]["files"] == 2
    assert parts["weights"]["bytes"] == 5000 and parts["forward_cost.json"]["files"] == 1
    assert parts["builtins"]["bytes"] == 0 and parts["builtins"]["files"] == 0  # not there: nothing
    from huggingface_hub import constants

    assert out["hf_hub_cache"] == str(constants.HF_HUB_CACHE)  # where a Hub dataset's download went
    assert main(["cache", "info"]) == 0
    text = capsys.readouterr().out
    assert "features" in text and "`hf cache ls` lists them" in text and str(constants.HF_HUB_CACHE) in text


def test_clear_removes_the_parts_named_and_nothing_else(cache, capsys):
    assert main(["cache", "clear"]) == 2  # nothing named: an error that says what to name
    assert "--all" in capsys.readouterr().err
    assert main(["cache", "clear", "nonsense"]) == 2
    assert main(["cache", "clear", "features", "--yes"]) == 0
    assert not (cache / "features").exists() and (cache / "weights" / "lite0.safetensors").is_file()
    assert "removed features" in capsys.readouterr().out
    assert main(["cache", "clear", "features", "-y"]) == 0
    assert "nothing to clear" in capsys.readouterr().out
    assert main(["cache", "clear", "--all", "-y"]) == 0
    assert not (cache / "weights").exists() and not (cache / "forward_cost.json").exists()


def test_clear_asks_first_and_keeps_everything_when_refused(cache, monkeypatch):
    import click

    monkeypatch.setattr(click, "confirm", lambda *a, **k: (_ for _ in ()).throw(click.exceptions.Abort()))
    assert main(["cache", "clear", "weights"]) == 130
    assert (cache / "weights" / "lite0.safetensors").is_file()
