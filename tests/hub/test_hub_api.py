"""Round trips of huggingface_hub's HfApi against the local Hub (tests/hubserver)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.hub


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_whoami_and_create_repo_conflict(hub):
    from huggingface_hub.errors import HfHubHTTPError

    me = hub.api.whoami()
    repo_id = f"{me['name']}/{_name('create')}"
    url = hub.api.create_repo(repo_id)
    assert url.repo_id == repo_id
    with pytest.raises(HfHubHTTPError) as info:
        hub.api.create_repo(repo_id, exist_ok=False)
    assert info.value.response.status_code == 409
    assert hub.api.create_repo(repo_id, exist_ok=True).repo_id == repo_id
    assert hub.api.repo_exists(repo_id)
    hub.api.delete_repo(repo_id)
    assert not hub.api.repo_exists(repo_id)


def test_upload_folder_lfs_and_downloads(hub, tmp_path: Path):
    from huggingface_hub import hf_hub_download, snapshot_download

    repo_id = f"qt-org/{_name('folder')}"
    hub.api.create_repo(repo_id)
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    big = os.urandom(10 * 1024 * 1024 + 123)
    (src / "big.dat").write_bytes(big)
    (src / "notes.txt").write_text("hello hub\n")
    (src / "sub" / "config.json").write_text('{"a": 1}')
    info = hub.api.upload_folder(repo_id=repo_id, folder_path=src, commit_message="add files")

    files = hub.api.list_repo_files(repo_id)
    assert sorted(files) == [".gitattributes", "big.dat", "notes.txt", "sub/config.json"]
    entries = {e.path: e for e in hub.api.list_repo_tree(repo_id, recursive=True)}
    assert entries["big.dat"].lfs is not None and entries["big.dat"].lfs.size == len(big)
    assert entries["notes.txt"].lfs is None
    # the big file went through the Git LFS batch API and a basic-transfer PUT
    assert any(m == "POST" and f"{repo_id}.git/info/lfs/objects/batch" in p and s == 200 for m, p, s in hub.requests)
    assert any(m == "PUT" and p.startswith("/_lfs/upload/") and s == 200 for m, p, s in hub.requests)

    path = hf_hub_download(repo_id, "big.dat", cache_dir=tmp_path / "cache")
    assert Path(path).read_bytes() == big
    snap = Path(snapshot_download(repo_id, cache_dir=tmp_path / "cache2"))
    assert (snap / "notes.txt").read_text() == "hello hub\n"
    assert (snap / "sub" / "config.json").read_text() == '{"a": 1}'
    assert (snap / "big.dat").read_bytes() == big
    assert hub.api.repo_info(repo_id).sha == info.oid



def test_missing_file_repo_and_revision_raise_the_clients_errors(hub, tmp_path: Path):
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    repo_id = f"qt-org/{_name('errors')}"
    hub.api.create_repo(repo_id)
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo_id, "nope.bin", cache_dir=tmp_path)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(f"qt-org/{_name('missing')}", "config.json", cache_dir=tmp_path)
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo_id, ".gitattributes", revision="no-such-branch", cache_dir=tmp_path)
    with pytest.raises(RepositoryNotFoundError):
        hub.api.model_info(f"qt-org/{_name('missing')}")
    # the 404 carries the Hub's error headers
    status = [s for m, p, s in hub.requests if m == "HEAD" and p.endswith("/resolve/main/nope.bin")]
    assert status == [404]
