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


@pytest.mark.hub
def test_a_second_push_removes_what_the_first_pushed_and_the_export_no_longer_has(hub, tmp_path):
    """A CI job republishing to one repo: the previous winner's transformers files and a plot no longer made go in
    the same commit; a file the owner added between the pushes stays."""
    import json

    from huggingface_hub import hf_hub_download

    from hf_quicktune.publish.push import MANIFEST

    def export(name: str, files: dict[str, str]):
        root = tmp_path / name
        for path, text in files.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(text)
        return root

    repo = hub.unique_repo_id("republish")
    first = export("first", {"config.json": "{}", "model.safetensors": "a", "preprocessor_config.json": "{}",
                             "plots/test_curves.png": "p", "README.md": "first"})
    push_to_hub(first, repo, token=hub.token)
    hub.api.upload_file(path_or_fileobj=b"mine", path_in_repo="notes/owner.txt", repo_id=repo)
    second = export("second", {"config.json": '{"x": 1}', "model.safetensors": "b", "README.md": "second"})
    commits = len(hub.api.list_repo_commits(repo))
    push_to_hub(second, repo, token=hub.token)
    assert len(hub.api.list_repo_commits(repo)) == commits + 1  # one commit, deletions included
    files = set(hub.api.list_repo_files(repo))
    assert files == {".gitattributes", "config.json", "model.safetensors", "README.md", MANIFEST, "notes/owner.txt"}
    manifest = json.loads(open(hf_hub_download(repo, MANIFEST, token=hub.token)).read())
    assert manifest["files"] == ["README.md", "config.json", "model.safetensors"]
