"""`run` fails in seconds on what would fail hours later (push token, output dir), and a crash is exit 1 with
the traceback in run.log instead of the terminal."""

from __future__ import annotations

import json

import pytest

from hf_quicktune.cli import main

BAD_TOKEN = "hf_badTOKEN_startup_0123456789"
RUN = ["run", "--dataset", "builtin:digits", "--zoo", "offline", "--budget", "10m"]


@pytest.mark.hub
def test_bad_token_fails_before_any_work(hub, tmp_path, monkeypatch, capsys):
    import hf_quicktune.data as data

    monkeypatch.setenv("HF_TOKEN", BAD_TOKEN)
    monkeypatch.setattr(data, "load", lambda *a, **k: pytest.fail("the dataset must not be loaded"))
    out = tmp_path / "out"
    repo = hub.unique_repo_id("startup")
    assert main([*RUN, "--output-dir", str(out), "--push-to-hub", repo]) == 2
    err = capsys.readouterr().err
    assert "token was refused" in err and "HF_TOKEN" in err and BAD_TOKEN not in err and "Traceback" not in err
    assert not out.exists()  # nothing started
    assert not hub.api.repo_exists(repo)


@pytest.mark.hub
def test_forbidden_namespace_fails_before_any_work(hub, tmp_path, monkeypatch, capsys):
    import hf_quicktune.data as data

    monkeypatch.setattr(data, "load", lambda *a, **k: pytest.fail("the dataset must not be loaded"))
    assert main([*RUN, "--output-dir", str(tmp_path / "out"), "--push-to-hub", "someone-else/model"]) == 2
    err = capsys.readouterr().err
    assert "may not write to the namespace 'someone-else'" in err and "Traceback" not in err


@pytest.mark.hub
def test_good_token_passes_and_creates_nothing_before_the_run_succeeds(hub, tmp_path, monkeypatch):
    import hf_quicktune.data as data

    reached = []

    def stop(spec, **kwargs):
        reached.append(spec)
        raise RuntimeError("stop right after the start-up checks")

    monkeypatch.setattr(data, "load", stop)
    repo = hub.unique_repo_id("startup")
    assert main([*RUN, "--output-dir", str(tmp_path / "out"), "--push-to-hub", repo]) == 1  # the stop is a "crash"
    assert reached == ["builtin:digits"] and not hub.api.repo_exists(repo)


def test_crash_is_one_paragraph_exit_1_with_traceback_in_run_log(tmp_path, monkeypatch, capsys):
    import hf_quicktune.data as data

    def boom(spec, **kwargs):
        raise RuntimeError("boom in a stage")

    monkeypatch.setattr(data, "load", boom)
    out = tmp_path / "out"
    assert main([*RUN, "--output-dir", str(out)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "RuntimeError: boom in a stage" in err
    assert str(out / "run.log") in err and "--resume" in err
    log = (out / "run.log").read_text()
    assert "Traceback (most recent call last)" in log and "RuntimeError: boom in a stage" in log
    assert main([*RUN, "--output-dir", str(tmp_path / "again"), "--json"]) == 1  # CI: the facts on stdout too
    payload = json.loads(capsys.readouterr().out)["error"]
    assert payload["code"] == "crash" and payload["log"] == str(tmp_path / "again" / "run.log")


def test_user_errors_inside_run_stay_exit_2(tmp_path, monkeypatch, capsys):
    import hf_quicktune.data as data
    from hf_quicktune.errors import DatasetError

    def bad(spec, **kwargs):
        raise DatasetError("data.csv has one class.", fix="Add another class.")

    monkeypatch.setattr(data, "load", bad)
    assert main([*RUN, "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.strip().endswith("Error: data.csv has one class. Add another class.")
    assert err.count("data.csv has one class.") == 1  # said once on the terminal ...
    assert "run stopped: data.csv has one class." in (tmp_path / "out" / "run.log").read_text()  # ... and kept


def test_unknown_zoo_fails_before_the_dataset_loads(tmp_path, monkeypatch, capsys):
    import hf_quicktune.data as data

    monkeypatch.setattr(data, "load", lambda *a, **k: pytest.fail("the dataset must not be loaded"))
    args = ["run", "--dataset", "builtin:digits", "--zoo", "no_such_zoo", "--budget", "10m"]
    assert main([*args, "--output-dir", str(tmp_path / "out")]) == 2
    assert "Unknown zoo 'no_such_zoo'" in capsys.readouterr().err


@pytest.mark.hub
def test_a_repo_name_without_namespace_is_the_token_users(hub, tmp_path, monkeypatch):
    """`--push-to-hub my-model` (the Hub puts it under the user, as transformers' push_to_hub does): the run keeps
    the whole id, which the card's usage and the push need."""
    import hf_quicktune.data as data

    def stop(spec, **kwargs):
        raise RuntimeError("stop right after the start-up checks")

    monkeypatch.setattr(data, "load", stop)
    name = hub.unique_repo_id("plain").split("/")[1]
    assert main([*RUN, "--output-dir", str(tmp_path / "out"), "--push-to-hub", name]) == 1
    user = hub.api.whoami()["name"]
    assert json.loads((tmp_path / "out" / "settings.json").read_text())["push_to_hub"] == f"{user}/{name}"
    assert not hub.api.repo_exists(f"{user}/{name}")  # checked, nothing created
