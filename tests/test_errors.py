"""Errors with fields (input, fix, code, status) and how the CLI prints them; options from HF_QUICKTUNE_* env vars."""

from __future__ import annotations

import json
import pickle

import pytest

from hf_quicktune.cli import main
from hf_quicktune.errors import ConfigError, DatasetError, HubError, QuickTuneError


def test_message_only_constructor_still_works():
    err = ConfigError("--top-k must be >= 1, got 0.")
    assert str(err) == "--top-k must be >= 1, got 0."
    assert err.code == "bad_option" and err.input is None and err.fix is None


def test_fix_is_appended_once_and_fields_survive_pickling():
    err = DatasetError("data.csv has no image column.", input="data.csv", fix="Pass --image-column NAME.",
                       code="no_image_column")
    assert str(err) == "data.csv has no image column. Pass --image-column NAME."
    said = DatasetError("no image column; Pass --image-column NAME.", fix="Pass --image-column NAME.")
    assert str(said).count("--image-column") == 1  # not repeated when the message says it already
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is DatasetError and back.to_dict() == err.to_dict()
    assert back.to_dict()["input"] == "data.csv" and back.code == "no_image_column"


def test_subclass_codes_differ():
    codes = {cls("x").code for cls in (ConfigError, DatasetError, HubError, QuickTuneError)}
    assert len(codes) == 4


def test_cli_json_prints_the_error_fields_on_stdout(capsys, tmp_path):
    missing = tmp_path / "nope.csv"
    assert main(["data", "inspect", str(missing), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("Error: ") and "Traceback" not in captured.err
    payload = json.loads(captured.out)["error"]
    assert payload["type"] == "DatasetError" and str(missing) in payload["message"]


def test_options_from_environment_variables(monkeypatch, capsys):
    monkeypatch.setenv("HF_QUICKTUNE_RUN_TOP_K", "0")  # invalid on purpose: proves the variable was read
    assert main(["run", "--dataset", "builtin:digits", "--budget", "1m"]) == 2
    assert "--top-k must be >= 1, got 0" in capsys.readouterr().err


def test_command_line_wins_over_environment(monkeypatch, capsys):
    monkeypatch.setenv("HF_QUICKTUNE_RUN_TOP_K", "0")
    monkeypatch.setenv("HF_QUICKTUNE_RUN_BUDGET", "garbage")
    assert main(["run", "--dataset", "builtin:digits", "--budget", "1m", "--top-k", "2", "--pool-size", "0"]) == 2
    err = capsys.readouterr().err
    assert "--pool-size must be >= 1" in err  # checked after budget and top-k: neither the env's budget nor its top-k were used


@pytest.mark.parametrize("cmd", ["run", "rank", "finetune", "estimate"])
def test_help_names_the_environment_variables(cmd, capsys):
    assert main([cmd, "--help"]) == 0
    out = capsys.readouterr().out
    assert f"HF_QUICKTUNE_{cmd.upper()}_DATASET" in " ".join(out.split())
