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


def test_revisions_are_commits_and_old_ones_stay_resolvable(hub, tmp_path: Path):
    from huggingface_hub import (
        CommitOperationAdd,
        CommitOperationCopy,
        CommitOperationDelete,
        hf_hub_download,
    )

    api = hub.api
    repo_id = f"qt-org/{_name('revs')}"
    api.create_repo(repo_id)
    first = api.upload_file(path_or_fileobj=b"v1", path_in_repo="a.txt", repo_id=repo_id).oid
    second = api.create_commit(
        repo_id,
        operations=[
            CommitOperationAdd("a.txt", b"v2"),
            CommitOperationCopy("a.txt", "b.txt", src_revision=first),
            CommitOperationAdd("dir/c.txt", b"c"),
        ],
        commit_message="second",
        parent_commit=first,
    ).oid
    assert len({first, second}) == 2 and all(len(c) == 40 for c in (first, second))
    assert api.repo_info(repo_id).sha == second
    assert Path(hf_hub_download(repo_id, "a.txt", revision=first, cache_dir=tmp_path)).read_bytes() == b"v1"
    assert Path(hf_hub_download(repo_id, "a.txt", cache_dir=tmp_path)).read_bytes() == b"v2"
    assert Path(hf_hub_download(repo_id, "b.txt", revision=second, cache_dir=tmp_path)).read_bytes() == b"v1"

    api.create_branch(repo_id, branch="dev", revision=first)
    api.create_tag(repo_id, tag="v1.0", revision=second)
    refs = api.list_repo_refs(repo_id)
    assert {b.name: b.target_commit for b in refs.branches} == {"main": second, "dev": first}
    assert [(t.name, t.target_commit) for t in refs.tags] == [("v1.0", second)]
    api.create_commit(repo_id, operations=[CommitOperationDelete("dir/")], commit_message="rm dir")
    assert "dir/c.txt" not in api.list_repo_files(repo_id)
    assert "dir/c.txt" in api.list_repo_files(repo_id, revision="v1.0")
    assert api.list_repo_files(repo_id, revision="dev") == [".gitattributes", "a.txt"]
    titles = [c.title for c in api.list_repo_commits(repo_id)]
    assert titles == ["rm dir", "second", "Upload a.txt with huggingface_hub", "initial commit"]

    from huggingface_hub.errors import HfHubHTTPError

    with pytest.raises(HfHubHTTPError) as info:  # parent_commit is no longer the head
        api.create_commit(repo_id, operations=[CommitOperationAdd("x", b"x")], commit_message="x",
                          parent_commit=first)
    assert info.value.response.status_code == 412


def test_tree_pagination_paths_info_and_ranges(hub, tmp_path: Path, monkeypatch):
    from huggingface_hub import HfFileSystem
    from huggingface_hub.hf_api import RepoFile, RepoFolder

    api = hub.api
    repo_id = f"qt-org/{_name('tree')}"
    api.create_repo(repo_id, repo_type="dataset")
    folder = tmp_path / "data"
    for i in range(7):
        (folder / f"part{i // 3}").mkdir(parents=True, exist_ok=True)
        (folder / f"part{i // 3}" / f"f{i}.txt").write_text(f"file {i}\n" * (i + 1))
    api.upload_folder(repo_id=repo_id, repo_type="dataset", folder_path=folder, path_in_repo="data")

    monkeypatch.setattr(hub.server.server, "tree_page_size", 4)
    entries = list(api.list_repo_tree(repo_id, repo_type="dataset", recursive=True))
    pages = [p for m, p, s in hub.requests if "/tree/" in p and repo_id in p]
    assert sum("cursor=" in p for p in pages) >= 2  # followed the Link header
    assert sorted(e.path for e in entries if isinstance(e, RepoFile)) == sorted(
        [".gitattributes"] + [f"data/part{i // 3}/f{i}.txt" for i in range(7)]
    )
    assert {e.path for e in entries if isinstance(e, RepoFolder)} == {"data", "data/part0", "data/part1", "data/part2"}
    top = {e.path for e in api.list_repo_tree(repo_id, "data", repo_type="dataset")}
    assert top == {"data/part0", "data/part1", "data/part2"}

    infos = api.get_paths_info(repo_id, ["data/part1/f4.txt", "data/part2", "missing.txt"],
                               repo_type="dataset", expand=True)
    by_path = {i.path: i for i in infos}
    assert set(by_path) == {"data/part1/f4.txt", "data/part2"}
    assert by_path["data/part1/f4.txt"].size == len("file 4\n" * 5)
    assert by_path["data/part1/f4.txt"].last_commit is not None

    fs = HfFileSystem(endpoint=hub.endpoint, token=hub.token)
    path = f"datasets/{repo_id}/data/part2/f6.txt"
    assert fs.cat_file(path) == ("file 6\n" * 7).encode()
    assert fs.cat_file(path, start=7, end=14) == b"file 6\n"  # a Range request
    assert sorted(fs.glob(f"datasets/{repo_id}/data/*/f[0-2].txt")) == [
        f"datasets/{repo_id}/data/part0/f{i}.txt" for i in range(3)
    ]
    assert any(s == 206 for m, p, s in hub.requests if p.endswith("/data/part2/f6.txt"))


def test_model_card_push_and_yaml_validation(hub):
    from huggingface_hub import ModelCard, ModelCardData

    repo_id = f"qt-org/{_name('card')}"
    hub.api.create_repo(repo_id)
    data = ModelCardData(library_name="timm", pipeline_tag="image-classification", license="apache-2.0",
                         tags=["hf-quicktune"], datasets=["qt-org/tiny"])
    card = ModelCard.from_template(data, model_id=repo_id)
    card.validate()
    card.push_to_hub(repo_id)
    loaded = ModelCard.load(repo_id)
    assert loaded.data.library_name == "timm" and loaded.data.tags == ["hf-quicktune"]
    info = hub.api.model_info(repo_id)
    assert info.pipeline_tag == "image-classification"
    assert {"timm", "hf-quicktune", "license:apache-2.0", "dataset:qt-org/tiny"} <= set(info.tags)

    bad = ModelCard("---\nlicense: not-a-license\npipeline_tag: 42\n---\n# Bad card\n")
    with pytest.raises(ValueError, match="license"):
        bad.validate()
    with pytest.raises(ValueError, match="license"):
        bad.push_to_hub(repo_id)
    with pytest.raises(ValueError, match="Invalid metadata in README.md"):  # HfApi checks README.md commits
        hub.api.upload_file(path_or_fileobj=str(bad).encode(), path_in_repo="README.md", repo_id=repo_id)
    assert ModelCard.load(repo_id).data.license == "apache-2.0"  # nothing was committed
    with pytest.warns(UserWarning, match="Empty metadata"):
        hub.api.upload_file(path_or_fileobj=b"# no metadata\n", path_in_repo="README.md", repo_id=repo_id)


def test_list_models_filters_on_card_metadata(hub):
    import numpy as np
    from huggingface_hub import ModelCard, ModelCardData
    from safetensors.numpy import save

    api = hub.api
    author = _name("zoo")
    specs = {
        "vit-a": ("timm", "image-classification", ["vision"]),
        "vit-b": ("timm", "image-feature-extraction", []),
        "bert-c": ("transformers", "fill-mask", ["nlp"]),
    }
    for name, (library, task, tags) in specs.items():
        repo_id = f"{author}/{name}"
        api.create_repo(repo_id)  # a namespace of its own, so that other tests' repos do not interfere
        card = ModelCard.from_template(ModelCardData(library_name=library, pipeline_tag=task, tags=tags))
        card.push_to_hub(repo_id)
    sizes = {"vit-a": 1_000, "vit-b": 2_000_000}  # parameters, read by the Hub from safetensors headers
    for name, n in sizes.items():
        weights = save({"w": np.zeros(n, dtype=np.uint8)})
        api.upload_file(path_or_fileobj=weights, path_in_repo="model.safetensors", repo_id=f"{author}/{name}")

    def ids(**kwargs):
        return sorted(m.id for m in api.list_models(author=author, **kwargs))

    assert ids() == [f"{author}/bert-c", f"{author}/vit-a", f"{author}/vit-b"]
    assert ids(filter="timm") == [f"{author}/vit-a", f"{author}/vit-b"]
    assert ids(filter=["timm", "image-classification"]) == [f"{author}/vit-a"]
    assert ids(pipeline_tag="fill-mask") == [f"{author}/bert-c"]
    assert ids(search="vit") == [f"{author}/vit-a", f"{author}/vit-b"]
    assert ids(filter="vision") == [f"{author}/vit-a"]
    assert ids(num_parameters="min:1M") == [f"{author}/vit-b"]
    assert ids(num_parameters="max:10K") == [f"{author}/vit-a"]
    listed = list(api.list_models(author=author, filter="timm", limit=1))
    assert len(listed) == 1 and listed[0].library_name == "timm"
    full = next(iter(api.list_models(author=author, search="bert", cardData=True)))
    assert full.card_data.library_name == "transformers"


def test_server_is_reachable_from_a_subprocess(hub, tmp_path: Path):
    import subprocess
    import sys

    repo_id = f"qt-org/{_name('subproc')}"
    hub.api.create_repo(repo_id)
    code = (
        "import sys; from huggingface_hub import HfApi; api = HfApi();"
        f"api.upload_file(path_or_fileobj=b'from child', path_in_repo='child.txt', repo_id='{repo_id}');"
        "print(api.whoami()['name'])"
    )
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ), capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == hub.api.whoami()["name"]
    assert "child.txt" in hub.api.list_repo_files(repo_id)


def test_standalone_launcher_serves_a_persisted_store(tmp_path: Path):
    """``python -m tests.hubserver --root DIR`` reloads what an earlier server stored in DIR."""
    import socket
    import subprocess
    import sys
    import time

    from huggingface_hub import HfApi, hf_hub_download

    try:
        from tests.hubserver import LocalHub
    except ImportError:
        from hubserver import LocalHub

    token = "hf_standalone_token"
    root = tmp_path / "store"
    with LocalHub(root, token=token) as first:
        api = HfApi(endpoint=first.endpoint, token=token)
        api.create_repo("qt-org/persisted")
        api.upload_file(path_or_fileobj=b"kept", path_in_repo="kept.txt", repo_id="qt-org/persisted")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    repo_root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.hubserver", "--port", str(port), "--root", str(root), "--token", token],
        cwd=repo_root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert "Local Hub on" in proc.stdout.readline()
        endpoint = f"http://127.0.0.1:{port}"
        api = HfApi(endpoint=endpoint, token=token)
        deadline = time.monotonic() + 30
        while True:
            try:
                assert api.whoami()["name"]
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        path = hf_hub_download("qt-org/persisted", "kept.txt", endpoint=endpoint, token=token,
                               cache_dir=tmp_path / "cache")
        assert Path(path).read_bytes() == b"kept"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
