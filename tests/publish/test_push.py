"""Push failures: retried with backoff, reported with the local export path, never showing the token."""

from __future__ import annotations

import logging
import socket

import pytest

from hf_quicktune.errors import HubError
from hf_quicktune.publish import push_to_hub, redact

SECRET = "hf_secretTOKENvalue_9f8e7d6c5b4a"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_redact():
    assert redact(f"Bearer {SECRET} failed", SECRET) == "Bearer *** failed"
    assert redact("nothing", None) == "nothing"


def test_push_failure_is_retried_and_reported_with_local_path(tmp_path, monkeypatch, caplog):
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    export = tmp_path / "export"
    export.mkdir()
    (export / "config.json").write_text("{}")
    sleeps = []
    monkeypatch.setattr("hf_quicktune.hub.time.sleep", sleeps.append)
    with caplog.at_level(logging.DEBUG), pytest.raises(HubError) as err:
        push_to_hub(export, "org/model", token=SECRET, retries=3, backoff_s=0.5)
    msg = str(err.value)
    assert str(export) in msg and "3 attempts" in msg
    assert sleeps == [0.5, 1.0]  # exponential backoff between the 3 attempts
    assert err.value.__cause__ is None and err.value.__suppress_context__
    assert SECRET not in msg and SECRET not in caplog.text


def test_push_without_any_token_says_how_to_log_in(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    with pytest.raises(HubError, match="HF_TOKEN"):
        push_to_hub(tmp_path, "org/model")
