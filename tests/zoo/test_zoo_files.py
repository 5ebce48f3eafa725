"""Curated zoo YAML: validation errors that name file and key, default/tiny contents, offline filtering, CLI."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hf_quicktune.cli import main
from hf_quicktune.errors import ZooError
from hf_quicktune.zoo import available_zoos, get_candidate, load_zoo
from hf_quicktune.zoo.hub_query import parse_count, parse_query
from hf_quicktune.zoo.registry import count_params


def _zoo(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "z.yaml"
    path.write_text(body)
    return path


@pytest.mark.parametrize("body, pattern", [
    ("candidates: []\n", r"z\.yaml: candidates: missing or empty list"),
    ("name: x\nmodels: []\n", r"z\.yaml: models: unknown top-level key"),
    ("candidates:\n  - name: a\n    source: web\n", r"z\.yaml: candidates\[0\] \(a\)\.source: 'web' is not one of"),
    ("candidates:\n  - name: a\n    colour: red\n", r"z\.yaml: candidates\[0\]\.colour: unknown key"),
    ("candidates:\n  - name: scratch:resnet10t\n    source: scratch\n    num_params: -3\n",
     r"candidates\[0\] \(scratch:resnet10t\)\.num_params: must be a positive integer"),
    ("candidates:\n  - name: m\n    source: hf-hub\n", r"candidates\[0\] \(m\)\.hub_id: an hf-hub candidate needs hub_id"),
    ("candidates:\n  - {name: scratch:resnet10t, source: scratch}\n  - {name: scratch:resnet10t, source: scratch}\n",
     r"duplicate name"),
    ("candidates:\n  - name: resnet10t.no_such_tag\n", r"no pretrained tag 'no_such_tag'"),
    ("candidates: [\n", r"not valid YAML"),
])
def test_invalid_zoo_files_name_file_and_key(tmp_path, body, pattern):
    path = _zoo(tmp_path, body)
    with pytest.raises(ZooError, match=pattern) as info:
        load_zoo(str(path), drop_unavailable=False)
    assert str(path) in str(info.value)  # every message names the file


def test_curated_zoos():
    assert {"default", "tiny", "offline"} <= set(available_zoos())
    default = load_zoo("default", drop_unavailable=False)
    assert 18 <= len(default) <= 25
    params = [c.num_params for c in default]
    assert min(params) < 3e6 and 50e6 < max(params) <= 90e6
    assert len({c.architecture.split("_")[0] for c in default}) >= 8  # several families
    assert all(c.source == "timm" and c.hub_id and c.license for c in default)
    tiny = load_zoo("tiny", drop_unavailable=False)
    assert tiny and all(c.num_params < 6e6 for c in tiny)
    for c in tiny[:3]:  # the YAML counts are the real ones
        assert c.num_params == count_params(c.architecture)
    # `zoo list` shows an ImageNet-1k top-1 for every pretrained candidate of the curated zoos
    offline = load_zoo("offline", drop_unavailable=False)
    for c in [*default, *tiny, *offline]:
        assert c.is_scratch or 50 < float(c.extra.get("top1") or 0) < 95, c.name


def test_get_candidate_forms(tmp_path):
    c = get_candidate("convnext_nano.in12k_ft_in1k")
    assert (c.source, c.pretrained_tag, c.hub_id) == ("timm", "in12k_ft_in1k", "timm/convnext_nano.in12k_ft_in1k")
    assert c.num_params == 15593560 and c.crop_pct == 0.95
    s = get_candidate("scratch:resnet10t")
    assert s.is_scratch and s.weights == "none" and s.input_size == (3, 176, 176)
    h = get_candidate("hf-hub:someone/model")
    assert h.source == "hf-hub" and h.hub_id == "someone/model"
    with pytest.raises(ZooError, match="not a timm architecture"):
        get_candidate("resnet_does_not_exist")
    with pytest.raises(ZooError, match=r"Did you mean 'tf_efficientnet_lite0'(, '\w+')* or '\w+'\? `timm.list_models"):
        get_candidate("tf_efficientnet_lite00")  # a typo: the closest names timm knows
    with pytest.raises(ZooError, match=r"Did you mean 'convnext_tiny'"):
        get_candidate("convnextt")


def test_offline_drops_hub_only_in_one_line(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = _zoo(tmp_path, "candidates:\n  - name: resnet10t.c3_in1k\n  - name: lcnet_050.ra2_in1k\n"
                          "  - {name: scratch:resnet10t, source: scratch}\n")
    with caplog.at_level(logging.WARNING, logger="hf_quicktune.zoo"):
        kept = load_zoo(str(path))
    assert [c.name for c in kept] == ["scratch:resnet10t"]
    dropped = [r.getMessage() for r in caplog.records if "dropping candidate" in r.getMessage()]
    assert len(dropped) == 1 and "HF_HUB_OFFLINE" in dropped[0]
    assert "resnet10t.c3_in1k" in dropped[0] and "lcnet_050.ra2_in1k" in dropped[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hf_quicktune.zoo"), \
            pytest.raises(ZooError, match="No candidate .* is usable.*--zoo offline"):
        load_zoo("tiny")
    assert not [r for r in caplog.records if "dropping candidate" in r.getMessage()]  # the error says it once
    assert [c.name for c in load_zoo("offline")][0] == "tf_efficientnet_lite0"


def test_unreachable_hub_counts_as_offline(tmp_path, monkeypatch, caplog):
    import socket

    import huggingface_hub.constants

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    path = _zoo(tmp_path, "candidates:\n  - name: resnet10t.c3_in1k\n  - {name: scratch:resnet10t, source: scratch}\n")
    with caplog.at_level(logging.WARNING, logger="hf_quicktune.zoo"):
        kept = load_zoo(str(path))
    assert [c.name for c in kept] == ["scratch:resnet10t"]
    assert any("cannot be reached" in r.getMessage() for r in caplog.records)


def test_hub_query_parsing():
    q = parse_query("hub:library=timm,pipeline_tag=image-classification,sort=downloads,limit=30,max_params=50M")
    assert q == {"library": "timm", "pipeline_tag": "image-classification", "sort": "downloads", "limit": 30,
                 "max_params": 50_000_000}
    assert parse_count("1.5B") == 1_500_000_000 and parse_count("800k") == 800_000
    with pytest.raises(ZooError, match="Unknown Hub query key 'colour'"):
        parse_query("hub:colour=red")
    with pytest.raises(ZooError, match="max_params"):
        parse_query("hub:max_params=lots")
    with pytest.raises(ZooError, match="needs the Hub"):
        import os

        os.environ["HF_HUB_OFFLINE"] = "1"
        try:
            load_zoo("hub:limit=3")
        finally:
            os.environ.pop("HF_HUB_OFFLINE")


def test_cli_zoo_list(capsys):
    assert main(["zoo", "list", "--zoo", "offline"]) == 0
    out = capsys.readouterr().out
    assert "tf_efficientnet_lite0" in out and "4.7M" in out and "package" in out and "scratch:resnet10t" in out
    assert main(["zoo", "list", "--zoo", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "mobilenetv3_small_050.lamb_in1k" in out and "1.6M" in out and "hub-only" in out
    assert main(["zoo", "list", "--zoo", "nonexistent"]) == 2
    err = capsys.readouterr().err
    assert "Unknown zoo 'nonexistent'" in err and "Traceback" not in err


def test_one_candidate_name_is_a_zoo_of_one():
    # `--zoo scratch:resnet10t` meant that model, not an unknown curated zoo
    (only,) = load_zoo("scratch:resnet10t", offline=True)
    assert only.name == "scratch:resnet10t" and only.is_scratch
    assert [c.name for c in load_zoo("tf_efficientnet_lite0", drop_unavailable=False)] == ["tf_efficientnet_lite0"]
    with pytest.raises(ZooError, match="Unknown zoo 'no_such_zoo_or_model'"):
        load_zoo("no_such_zoo_or_model")
