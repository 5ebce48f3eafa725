"""The feature cache's size limit: least recently used files evicted after each write, reads refresh an entry's
use, `HF_QUICKTUNE_FEATURES_MAX_SIZE` and `hf-quicktune cache prune`."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from hf_quicktune.cli import main
from hf_quicktune.errors import ConfigError
from hf_quicktune.rank import feature_cache
from hf_quicktune.rank.feature_set import FeatureSet


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_QUICKTUNE_CACHE", str(tmp_path / "qt"))
    monkeypatch.delenv(feature_cache.MAX_SIZE_ENV, raising=False)
    return tmp_path / "qt" / "features"


def _file(root, rel, size, age):
    """A cache file of ``size`` bytes last used ``age`` seconds ago."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    when = 1_700_000_000 - age
    os.utime(path, (when, when))
    return path


def _entry(seed: int, n: int = 50) -> FeatureSet:
    rng = np.random.default_rng(seed)
    return FeatureSet(features=rng.standard_normal((n, 64)).astype(np.float32), labels=np.arange(n) % 3,
                      logits=None, seconds=1.0, num_params=10)


@pytest.mark.parametrize(("text", "expected"), [("1048576", 2**20), ("500MB", 500 * 10**6), ("5GiB", 5 * 2**30),
                                                 ("1.5g", 1_500_000_000), (" 2 kib ", 2048), ("0", 0)])
def test_sizes_read_with_decimal_and_binary_units(text, expected):
    assert feature_cache.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "five", "5 parsecs", "-1GB", "1e9"])
def test_an_unreadable_size_says_what_to_write(text):
    with pytest.raises(ConfigError, match="cannot read") as err:
        feature_cache.parse_size(text)
    assert "5GiB" in err.value.fix


def test_the_limit_comes_from_the_environment_with_a_default(root, monkeypatch):
    assert feature_cache.max_cache_bytes() == feature_cache.DEFAULT_MAX_BYTES == 5 * 2**30
    monkeypatch.setenv(feature_cache.MAX_SIZE_ENV, "200MB")
    assert feature_cache.max_cache_bytes() == 200 * 10**6
    for off in ("0", "none"):
        monkeypatch.setenv(feature_cache.MAX_SIZE_ENV, off)
        assert feature_cache.max_cache_bytes() is None


def test_prune_removes_least_recently_used_first_and_spares_what_it_is_told(root):
    oldest = _file(root, "famA/1.safetensors", 400, age=500)
    kept = _file(root, "famA/2.safetensors", 400, age=400)  # older than the rest, but kept by the caller
    middle = _file(root, "famB/1.safetensors", 400, age=300)
    sample = _file(root, "samples/s.json", 50, age=200)
    newest = _file(root, "famC/1.safetensors", 400, age=100)
    partial = _file(root, "famC/1.tmp123", 5000, age=1000)  # a write in progress: never counted nor removed
    removed, freed = feature_cache.prune(900, keep=(kept,))
    assert (removed, freed) == (2, 800)
    assert not oldest.exists() and not middle.exists()
    assert kept.exists() and sample.exists() and newest.exists() and partial.exists()
    assert not (root / "famB").exists()  # an emptied family folder goes too
    assert sum(size for _, size, _ in feature_cache.cache_files()) == 850
    assert feature_cache.prune(10**6) == (0, 0)


def test_writes_evict_entries_not_read_since_and_reads_keep_theirs(root, monkeypatch):
    paths = [feature_cache.save_cached(f"fam{i}/sample", _entry(i), np.arange(50), {}) for i in range(3)]
    size = paths[0].stat().st_size
    for age, path in zip((300, 200, 100), paths):  # written in this order, long ago
        os.utime(path, (1_700_000_000 - age,) * 2)
    loaded = feature_cache.load_cached("fam0/sample")  # the oldest entry is read: used now
    assert loaded is not None and loaded[0].cached
    monkeypatch.setenv(feature_cache.MAX_SIZE_ENV, str(3 * size + size // 2))
    fourth = feature_cache.save_cached("fam3/sample", _entry(3), np.arange(50), {})
    assert fourth.exists() and paths[0].exists()  # just written, just read
    assert not paths[1].exists()  # the least recently used goes
    assert paths[2].exists()
    assert feature_cache.load_cached("fam1/sample") is None  # an evicted entry reads as missing: recomputed


def test_no_limit_keeps_everything(root, monkeypatch):
    monkeypatch.setenv(feature_cache.MAX_SIZE_ENV, "0")
    paths = [feature_cache.save_cached(f"fam{i}/sample", _entry(i), np.arange(50), {}) for i in range(4)]
    assert all(p.exists() for p in paths)


def test_cli_prune_and_info_show_and_apply_the_limit(root, monkeypatch, capsys):
    for i, age in enumerate((40, 30, 20, 10)):
        _file(root, f"fam{i}/e.safetensors", 1000, age=age)
    assert main(["cache", "info", "--json"]) == 0
    features = json.loads(capsys.readouterr().out)["parts"]["features"]
    assert features["bytes"] == 4000 and features["max_bytes"] == 5 * 2**30
    assert main(["cache", "prune", "--max-size", "2.5KB"]) == 0
    assert "removed 2 least recently used" in capsys.readouterr().out
    assert sorted(p.parent.name for p, _, _ in feature_cache.cache_files()) == ["fam2", "fam3"]
    monkeypatch.setenv(feature_cache.MAX_SIZE_ENV, "1500")  # the default of `prune` is the configured limit
    assert main(["cache", "prune"]) == 0
    assert [p.parent.name for p, _, _ in feature_cache.cache_files()] == ["fam3"]
    assert main(["cache", "prune", "--max-size", "lots"]) == 2
    assert "cannot read 'lots' as a size" in capsys.readouterr().err
    monkeypatch.setenv(feature_cache.MAX_SIZE_ENV, "none")
    assert main(["cache", "prune"]) == 0
    assert "no limit set" in capsys.readouterr().out
