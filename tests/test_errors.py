"""Errors with fields (input, fix, code, status) and how the CLI prints them; options from HF_QUICKTUNE_* env vars."""

from __future__ import annotations

import json
import pickle
import re

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


@pytest.mark.parametrize("cmd", ["run", "rank", "finetune", "estimate"])
def test_commands_share_the_short_options(cmd, capsys):
    """-d names the dataset in every command that takes one (finetune had it alone), -m the model where there is
    one, -o the output directory of run and finetune."""
    assert main([cmd, "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "-d, --dataset" in out
    assert ("-m, --model" in out) == (cmd in ("finetune", "estimate"))
    assert ("-o, --output-dir" in out) == (cmd in ("run", "finetune"))


@pytest.mark.parametrize("spec, message", [("/nowhere/digits", r"Unknown dataset '/nowhere/digits'.*Check the path"),
                                           ("builtin:mnist", r"Unknown built-in dataset 'builtin:mnist'.*builtin:mnist5k"),
                                           ("not a hub id", r"Unknown dataset 'not a hub id'")])
def test_a_dataset_that_names_nothing_fails_before_the_zoo(spec, message, tmp_path, monkeypatch, capsys):
    """`run` checks the dataset spec before it resolves the zoo: with the default zoo offline (no weights cached)
    the user is told about the typo in the dataset, not about the zoo, and the zoo is never loaded."""
    import hf_quicktune.zoo

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    zoos: list[str] = []
    monkeypatch.setattr(hf_quicktune.zoo, "load_zoo", lambda name, *a, **k: zoos.append(name) or [])
    assert main(["run", "-d", spec, "--budget", "1m", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert "zoo" not in err and zoos == []
    assert main(["finetune", "-d", spec, "-m", "tf_efficientnet_lite0", "-o", str(tmp_path / "ft")]) == 2
    assert re.search(message, capsys.readouterr().err)
