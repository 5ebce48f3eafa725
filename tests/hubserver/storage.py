"""Git-like storage for the local Hub: repositories, commits, refs and content-addressed blobs.

Layout under ``root``::

    blobs/<sha256>                       every file content (regular and LFS), stored once
    repos/<type>s/<namespace>/<name>.json  one repository: metadata, refs and all commits

A commit stores its complete tree (``path -> entry``), so resolving any revision is a dict lookup.
Entries carry the Git blob id (SHA-1 of the file, or of the LFS pointer for LFS files), the SHA-256
of the content and whether the file is stored through LFS, which is what the Hub reports.
Everything is guarded by one re-entrant lock; the server is for tests, not for throughput.
"""

from __future__ import annotations

import base64
import copy
import datetime as _dt
import fnmatch
import hashlib
import json
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

REPO_TYPES = ("model", "dataset", "space")
SHA1_RE = re.compile(r"^[0-9a-f]{40}$")
LFS_SIZE_THRESHOLD = 10 * 1000 * 1000  # the Hub stores files of 10 MB and more through LFS

DEFAULT_GITATTRIBUTES = """\
*.7z filter=lfs diff=lfs merge=lfs -text
*.arrow filter=lfs diff=lfs merge=lfs -text
*.bin filter=lfs diff=lfs merge=lfs -text
*.bz2 filter=lfs diff=lfs merge=lfs -text
*.ckpt filter=lfs diff=lfs merge=lfs -text
*.ftz filter=lfs diff=lfs merge=lfs -text
*.gz filter=lfs diff=lfs merge=lfs -text
*.h5 filter=lfs diff=lfs merge=lfs -text
*.joblib filter=lfs diff=lfs merge=lfs -text
*.lfs.* filter=lfs diff=lfs merge=lfs -text
*.mlmodel filter=lfs diff=lfs merge=lfs -text
*.model filter=lfs diff=lfs merge=lfs -text
*.msgpack filter=lfs diff=lfs merge=lfs -text
*.npy filter=lfs diff=lfs merge=lfs -text
*.npz filter=lfs diff=lfs merge=lfs -text
*.onnx filter=lfs diff=lfs merge=lfs -text
*.ot filter=lfs diff=lfs merge=lfs -text
*.parquet filter=lfs diff=lfs merge=lfs -text
*.pb filter=lfs diff=lfs merge=lfs -text
*.pickle filter=lfs diff=lfs merge=lfs -text
*.pkl filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.pth filter=lfs diff=lfs merge=lfs -text
*.rar filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
saved_model/**/* filter=lfs diff=lfs merge=lfs -text
*.tar.* filter=lfs diff=lfs merge=lfs -text
*.tar filter=lfs diff=lfs merge=lfs -text
*.tflite filter=lfs diff=lfs merge=lfs -text
*.tgz filter=lfs diff=lfs merge=lfs -text
*.wasm filter=lfs diff=lfs merge=lfs -text
*.xz filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
*.zst filter=lfs diff=lfs merge=lfs -text
*tfevents* filter=lfs diff=lfs merge=lfs -text
"""


class HubError(Exception):
    """An error answered to the client as ``status`` with the Hub's ``X-Error-Code`` header."""

    def __init__(self, status: int, message: str, code: str | None = None, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.extra = extra or {}  # more fields of the JSON error body (e.g. ``url`` on a 409)


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def git_blob_sha1(data: bytes) -> str:
    """Git object id of a blob: ``sha1(b"blob <size>\\0" + data)``."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def lfs_patterns(gitattributes: str) -> list[str]:
    """Patterns of a ``.gitattributes`` file whose files are stored through LFS."""
    patterns = []
    for line in gitattributes.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not parts[0].startswith("#") and "filter=lfs" in parts[1:]:
            patterns.append(parts[0])
    return patterns


def matches_any(path: str, patterns: list[str]) -> bool:
    """Git-attribute style match: patterns without a slash match the file name, others the full path."""
    name = path.rsplit("/", 1)[-1]
    for pattern in patterns:
        target = path if "/" in pattern else name
        if fnmatch.fnmatchcase(target, pattern.lstrip("/")):
            return True
    return False


@dataclass
class Repo:
    """One repository: its refs (branches, tags, PR refs) and every commit with its full tree."""

    type: str
    id: str
    private: bool = False
    created_at: str = field(default_factory=now_iso)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. space sdk
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    pulls: dict[str, str] = field(default_factory=dict)  # "refs/pr/N" -> commit
    commits: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return self.id.split("/", 1)[0]

    def resolve(self, revision: str) -> str:
        """Commit id of a branch, tag, ``refs/heads|tags|pr/...`` ref or (full) commit id."""
        for prefix, table in (("refs/heads/", self.branches), ("refs/tags/", self.tags)):
            if revision.startswith(prefix) and revision[len(prefix) :] in table:
                return table[revision[len(prefix) :]]
        if revision in self.branches:
            return self.branches[revision]
        if revision in self.tags:
            return self.tags[revision]
        if revision in self.pulls:
            return self.pulls[revision]
        if SHA1_RE.match(revision) and revision in self.commits:
            return revision
        if len(revision) >= 7 and re.fullmatch(r"[0-9a-f]+", revision):
            found = [c for c in self.commits if c.startswith(revision)]
            if len(found) == 1:
                return found[0]
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def tree(self, commit: str) -> dict[str, dict[str, Any]]:
        return self.commits[commit]["tree"]

    def history(self, commit: str) -> list[str]:
        """Commit ids reachable from ``commit`` following first parents, newest first."""
        out = []
        cur: str | None = commit
        while cur is not None:
            out.append(cur)
            parents = self.commits[cur]["parents"]
            cur = parents[0] if parents else None
        return out

    def last_commit_of(self, commit: str, path: str) -> str:
        """Newest commit (from ``commit`` backwards) that changed ``path`` (a file or a folder prefix)."""

        def snapshot(c: str) -> Any:
            tree = self.tree(c)
            if path in tree:
                return tree[path]["oid"]
            prefix = path.rstrip("/") + "/"
            return sorted((p, e["oid"]) for p, e in tree.items() if p.startswith(prefix))

        chain = self.history(commit)
        current = snapshot(chain[0])
        last = chain[0]
        for older in chain[1:]:
            if snapshot(older) != current:
                break
            last = older
        return last

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "id": self.id,
            "private": self.private,
            "created_at": self.created_at,
            "extra": self.extra,
            "branches": self.branches,
            "tags": self.tags,
            "pulls": self.pulls,
            "commits": self.commits,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Repo:
        return cls(**data)


class Storage:
    """All repositories and blobs of one local Hub, persisted under ``root``."""

    def __init__(self, root: Path, user: str = "qt-tester"):
        self.root = Path(root)
        self.user = user
        self.lock = threading.RLock()
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        (self.root / "repos").mkdir(parents=True, exist_ok=True)
        self.repos: dict[tuple[str, str], Repo] = {}
        for path in (self.root / "repos").glob("*/*/*.json"):
            repo = Repo.from_json(json.loads(path.read_text()))
            self.repos[(repo.type, repo.id)] = repo

    # ------------------------------------------------------------------ blobs
    def blob_path(self, sha256: str) -> Path:
        return self.root / "blobs" / sha256

    def has_blob(self, sha256: str) -> bool:
        return self.blob_path(sha256).is_file()

    def put_blob(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        path = self.blob_path(sha)
        if not path.exists():
            self._atomic_write(path, data)
        return sha

    def put_blob_stream(self, stream: BinaryIO, expected_sha256: str | None = None) -> tuple[str, int]:
        """Store a blob read from ``stream``; reject it when its SHA-256 differs from the announced one."""
        hasher = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=self.root / "blobs", prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in iter(lambda: stream.read(1 << 20), b""):
                    hasher.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            sha = hasher.hexdigest()
            if expected_sha256 is not None and sha != expected_sha256:
                raise HubError(400, f"Uploaded content has sha256 {sha}, expected {expected_sha256}")
            os.replace(tmp, self.blob_path(sha))
            return sha, size
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def read_blob(self, sha256: str) -> bytes:
        return self.blob_path(sha256).read_bytes()

    # ------------------------------------------------------------------ repos
    def get(self, repo_type: str, repo_id: str) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            raise HubError(404, "Repository not found", "RepoNotFound")
        return repo

    def save(self, repo: Repo) -> None:
        path = self.root / "repos" / f"{repo.type}s" / f"{repo.id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._atomic_write(path, json.dumps(repo.to_json()).encode())

    def create_repo(self, repo_type: str, repo_id: str, private: bool, extra: dict[str, Any]) -> Repo:
        with self.lock:
            if (repo_type, repo_id) in self.repos:
                raise HubError(409, "You already created this model repo", None)
            repo = Repo(type=repo_type, id=repo_id, private=private, extra=extra)
            self.repos[(repo_type, repo_id)] = repo
            gitattributes = DEFAULT_GITATTRIBUTES.encode()
            tree = {".gitattributes": self._entry(gitattributes, lfs=False)}
            commit = self._new_commit(repo, None, tree, "initial commit", "")
            repo.branches["main"] = commit
            self.save(repo)
            return repo

    def delete_repo(self, repo_type: str, repo_id: str) -> None:
        with self.lock:
            self.get(repo_type, repo_id)
            del self.repos[(repo_type, repo_id)]
            path = self.root / "repos" / f"{repo_type}s" / f"{repo_id}.json"
            path.unlink(missing_ok=True)

    def move_repo(self, repo_type: str, from_id: str, to_id: str) -> None:
        with self.lock:
            repo = self.get(repo_type, from_id)
            if (repo_type, to_id) in self.repos:
                raise HubError(409, f"Repository {to_id} already exists")
            self.delete_repo(repo_type, from_id)
            repo.id = to_id
            self.repos[(repo_type, to_id)] = repo
            self.save(repo)

    # ------------------------------------------------------------------ commits
    def _entry(self, data: bytes, lfs: bool) -> dict[str, Any]:
        sha = self.put_blob(data)
        return self._entry_for_blob(sha, len(data), lfs, data if not lfs else None)

    def _entry_for_blob(self, sha256: str, size: int, lfs: bool, data: bytes | None = None) -> dict[str, Any]:
        if lfs:
            oid = git_blob_sha1(lfs_pointer(sha256, size))
            return {"sha256": sha256, "size": size, "lfs": True, "oid": oid}
        if data is None:
            data = self.read_blob(sha256)
        return {"sha256": sha256, "size": size, "lfs": False, "oid": git_blob_sha1(data)}

    def _new_commit(
        self, repo: Repo, parent: str | None, tree: dict[str, Any], title: str, message: str
    ) -> str:
        date = now_iso()
        digest = hashlib.sha1(
            json.dumps([parent, sorted((p, e["oid"]) for p, e in tree.items()), title, message, date]).encode()
            + os.urandom(8)
        ).hexdigest()
        repo.commits[digest] = {
            "id": digest,
            "parents": [parent] if parent else [],
            "title": title,
            "message": message,
            "date": date,
            "authors": [self.user],
            "tree": tree,
        }
        return digest

    def lfs_patterns_at(self, repo: Repo, commit: str) -> list[str]:
        entry = repo.tree(commit).get(".gitattributes")
        if entry is None:
            return []
        return lfs_patterns(self.read_blob(entry["sha256"]).decode(errors="replace"))

    def upload_mode(self, repo: Repo, commit: str, path: str, size: int, sample: bytes) -> str:
        """The Hub's choice between a regular Git blob and LFS for a file to upload."""
        if size >= LFS_SIZE_THRESHOLD or b"\x00" in sample:
            return "lfs"
        if matches_any(path, self.lfs_patterns_at(repo, commit)):
            return "lfs"
        return "regular"

    def commit(
        self,
        repo: Repo,
        revision: str,
        header: dict[str, Any],
        operations: list[tuple[str, dict[str, Any]]],
        create_pr: bool = False,
    ) -> tuple[str, str | None]:
        """Apply NDJSON commit operations on top of ``revision``; returns (commit id, PR ref or None)."""
        with self.lock:
            is_branch = revision in repo.branches or revision.startswith("refs/heads/")
            branch = revision.removeprefix("refs/heads/") if is_branch else None
            if revision in repo.pulls:
                branch = None
            parent = repo.resolve(revision)
            if not create_pr and branch is None and revision not in repo.pulls:
                raise HubError(400, f"Cannot commit to {revision}: it is not a branch")
            expected_parent = header.get("parentCommit")
            if expected_parent and expected_parent != parent:
                raise HubError(412, f"A commit has happened since. Head is {parent}, not {expected_parent}")
            tree = copy.deepcopy(repo.tree(parent))
            for key, value in operations:
                self._apply(repo, parent, tree, key, value)
            new = self._new_commit(repo, parent, tree, header.get("summary") or "", header.get("description") or "")
            pr_ref = None
            if create_pr:
                number = len(repo.pulls) + 1
                pr_ref = f"refs/pr/{number}"
                repo.pulls[pr_ref] = new
            elif branch is not None:
                repo.branches[branch] = new
            else:
                repo.pulls[revision] = new
            self.save(repo)
            return new, pr_ref

    def _apply(self, repo: Repo, parent: str, tree: dict[str, Any], key: str, value: dict[str, Any]) -> None:
        path = str(value.get("path", "")).strip("/")
        if key == "file":
            if value.get("encoding", "base64") != "base64":
                raise HubError(400, f"Unsupported encoding {value.get('encoding')!r} for {path}")
            data = base64.b64decode(value["content"])
            tree[path] = self._entry(data, lfs=False)
        elif key == "lfsFile":
            sha = value["oid"]
            if not self.has_blob(sha):
                raise HubError(422, f"LFS object {sha} for {path} was not uploaded")
            size = self.blob_path(sha).stat().st_size
            if value.get("size") is not None and int(value["size"]) != size:
                raise HubError(422, f"LFS object {sha} has size {size}, not {value['size']}")
            tree[path] = self._entry_for_blob(sha, size, lfs=True)
        elif key == "deletedFile":
            if path not in tree:
                raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
            del tree[path]
        elif key == "deletedFolder":
            prefix = path + "/"
            doomed = [p for p in tree if p.startswith(prefix)]
            if not doomed:
                raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
            for p in doomed:
                del tree[p]
        elif key == "copyFile":
            src_rev = value.get("srcRevision") or parent
            src_tree = repo.tree(repo.resolve(src_rev))
            src = str(value["srcPath"]).strip("/")
            if src not in src_tree:
                raise HubError(404, f"Source file {src} does not exist", "EntryNotFound")
            tree[path] = dict(src_tree[src])
        else:
            raise HubError(400, f"Unknown commit operation key {key!r}")

    # ------------------------------------------------------------------ refs
    def create_branch(self, repo: Repo, branch: str, start: str | None) -> None:
        with self.lock:
            if branch in repo.branches:
                raise HubError(409, f"Reference already exists: refs/heads/{branch}")
            repo.branches[branch] = repo.resolve(start or "main")
            self.save(repo)

    def delete_branch(self, repo: Repo, branch: str) -> None:
        with self.lock:
            if branch not in repo.branches:
                raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            del repo.branches[branch]
            self.save(repo)

    def create_tag(self, repo: Repo, tag: str, revision: str) -> None:
        with self.lock:
            if tag in repo.tags:
                raise HubError(409, f"Tag {tag} already exists")
            repo.tags[tag] = repo.resolve(revision)
            self.save(repo)

    def delete_tag(self, repo: Repo, tag: str) -> None:
        with self.lock:
            if tag not in repo.tags:
                raise HubError(404, f"Invalid rev id: {tag}", "RevisionNotFound")
            del repo.tags[tag]
            self.save(repo)

    @staticmethod
    def _atomic_write(path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
