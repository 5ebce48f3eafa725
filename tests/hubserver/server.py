"""HTTP front of the local Hub: routes the Hugging Face Hub's REST, LFS and file endpoints.

Endpoints (``{type}`` is ``models``, ``datasets`` or ``spaces``; ``{prefix}`` is ``""``,
``datasets/`` or ``spaces/``; ``{repo}`` is ``namespace/name``; revisions and paths are URL-quoted):

=======================================================  ==============================================
``GET  /api/whoami-v2``                                   the test user (needs the token)
``POST /api/repos/create``                                create (409 + ``url`` when it exists)
``DELETE /api/repos/delete``, ``POST /api/repos/move``    delete / rename a repo
``POST /api/validate-yaml``                               card metadata check (400 + ``errors``)
``GET  /api/agent-harnesses``                             empty registry (huggingface_hub asks for it)
``GET  /api/{type}``                                      list (search, author, filter (tags), library,
                                                          pipeline_tag, gated, num_parameters, sort,
                                                          direction, limit, full/cardData/expand;
                                                          Link-header pagination)
``GET  /api/{type}/{repo}[/revision/{rev}]``              info: sha, siblings (sizes/LFS with
                                                          ``blobs=1``), cardData, tags, library_name,
                                                          pipeline_tag, safetensors, config
``PUT  /api/{type}/{repo}/settings``                      private flag
``GET  /api/{type}/{repo}/tree/{rev}[/{path}]``           listing (``recursive``, ``expand``,
                                                          Link-header pagination)
``POST /api/{type}/{repo}/paths-info/{rev}``              info of given paths (form or JSON body)
``GET  /api/{type}/{repo}/refs``                          branches, tags, converts, pull requests
``GET  /api/{type}/{repo}/commits/{rev}``                 first-parent history (paginated)
``POST|DELETE /api/{type}/{repo}/branch/{name}``          create / delete a branch
``POST /api/{type}/{repo}/tag/{rev}``, ``DELETE .../tag/{tag}``  create / delete a tag
``POST /api/{type}/{repo}/preupload/{rev}``               upload mode per file: ``lfs`` when >= 10 MB,
                                                          binary, or matched by ``.gitattributes``
``POST /api/{type}/{repo}/commit/{rev}``                  NDJSON commit: header, file (base64),
                                                          lfsFile, deletedFile, deletedFolder, copyFile;
                                                          ``create_pr=1`` makes ``refs/pr/N``
``POST /{prefix}{repo}.git/info/lfs/objects/batch``       Git LFS batch API (basic upload + verify,
                                                          download)
``PUT  /_lfs/upload/{oid}``, ``POST /_lfs/verify``,       LFS transfer targets announced by the batch
``GET  /_lfs/download/{oid}``                             answer
``GET|HEAD /{prefix}{repo}/resolve/{rev}/{path}``         file content with ``ETag``, ``X-Repo-Commit``,
                                                          ``X-Linked-Etag``/``X-Linked-Size`` (LFS),
                                                          ``Range`` (206/416)
=======================================================  ==============================================

Errors carry the Hub's ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``)
and ``X-Error-Message`` headers, so clients raise their usual exception classes. Missing or private
repos answer 401 to anonymous callers and 404 to authenticated ones, like the Hub.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import logging
import re
import struct
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from .cards import derive_tags, parse_card_data, validate_card
from .storage import REPO_TYPES, HubError, Repo, Storage, lfs_pointer, now_iso

logger = logging.getLogger(__name__)

TYPE_FROM_PLURAL = {f"{t}s": t for t in REPO_TYPES}
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


_SCALE = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}


def _in_range(safetensors: dict[str, Any] | None, spec: str) -> bool:
    """Whether a model's parameter count satisfies ``num_parameters`` like ``"min:1M,max:1B"``."""
    if safetensors is None:
        return False
    total = safetensors["total"]
    for part in spec.split(","):
        bound, _, value = part.partition(":")
        m = re.fullmatch(r"([\d.]+)([KMBT]?)", value.strip().upper())
        if m is None or bound not in ("min", "max"):
            raise HubError(400, f"Invalid num_parameters {spec!r}: use e.g. 'min:1M,max:1B'")
        limit = float(m.group(1)) * _SCALE[m.group(2)]
        if (bound == "min" and total < limit) or (bound == "max" and total > limit):
            return False
    return True


class _ChunkedReader:
    """File-like reader of an HTTP/1.1 ``Transfer-Encoding: chunked`` body."""

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.left = 0
        self.done = False

    def read(self, n: int = -1) -> bytes:
        out = bytearray()
        while not self.done and (n < 0 or len(out) < n):
            if self.left == 0:
                size_line = self.raw.readline().split(b";", 1)[0].strip()
                self.left = int(size_line or b"0", 16)
                if self.left == 0:
                    while self.raw.readline().strip():  # trailers
                        pass
                    self.done = True
                    break
            want = self.left if n < 0 else min(self.left, n - len(out))
            data = self.raw.read(want)
            if not data:
                raise ConnectionError("chunked body ended early")
            out += data
            self.left -= len(data)
            if self.left == 0:
                self.raw.readline()  # CRLF after each chunk
        return bytes(out)


class _LimitedReader:
    """File-like reader of exactly ``length`` bytes of a ``Content-Length`` body."""

    def __init__(self, raw: BinaryIO, length: int):
        self.raw = raw
        self.left = length

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        want = self.left if n < 0 else min(n, self.left)
        data = self.raw.read(want)
        self.left -= len(data)
        return data


class HubHTTPServer(ThreadingHTTPServer):
    """Threaded HTTP server holding the storage, the accepted token and the request log."""

    daemon_threads = True
    allow_reuse_address = True
    tree_page_size = 1000  # the Hub's page sizes; tests may lower them to exercise pagination
    tree_page_size_expand = 50
    list_page_size = 1000
    commits_page_size = 50

    def __init__(self, address: tuple[str, int], root: Path, token: str, user: str = "qt-tester"):
        super().__init__(address, HubRequestHandler)
        self.storage = Storage(root, user=user)
        self.token = token
        self.user = user
        self.orgs = ["qt-org"]
        self.request_log: list[tuple[str, str, int]] = []
        self._safetensors_cache: dict[str, dict[str, int]] = {}

    @property
    def endpoint(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class HubRequestHandler(BaseHTTPRequestHandler):
    """Routes one request; see the module docstring for the endpoint list."""

    server: HubHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "LocalHub/1.0"

    # ------------------------------------------------------------------ plumbing
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        try:
            status = int(code)
        except (TypeError, ValueError):
            status = 0
        self.server.request_log.append((self.command, self.path, status))
        logger.debug("%s %s -> %s", self.command, self.path, code)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        logger.debug(format, *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _body_stream(self) -> BinaryIO:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return _ChunkedReader(self.rfile)  # type: ignore[return-value]
        return _LimitedReader(self.rfile, int(self.headers.get("Content-Length") or 0))  # type: ignore[return-value]

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        self.query = {k: v for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        self.segments = [unquote(s) for s in split.path.split("/")[1:]]
        if self.segments and self.segments[-1] == "" and len(self.segments) > 1:
            self.segments.pop()
        self.url_path = split.path
        self._body_cache: bytes | None = None
        self._stream = self._body_stream()
        try:
            # The lock covers routing and bookkeeping; streaming a blob in or out happens after it
            # is released (``_route`` then returns that step), so a slow reader blocks nobody.
            with self.server.storage.lock:
                after = self._route(method)
            if after is not None:
                after()
        except HubError as err:
            self._send_error(err)
        except (KeyError, ValueError, json.JSONDecodeError) as err:
            logger.exception("bad request %s %s", method, self.path)
            self._send_error(HubError(400, f"Bad request: {err}"))
        except Exception as err:  # pragma: no cover - reported to the client as a 500
            logger.exception("error handling %s %s", method, self.path)
            self._send_error(HubError(500, f"Internal error: {type(err).__name__}: {err}"))
        finally:
            self._drain()

    def _drain(self) -> None:
        try:
            while self._stream.read(1 << 20):
                pass
        except (OSError, ValueError, ConnectionError):
            self.close_connection = True

    def body(self) -> bytes:
        if self._body_cache is None:
            self._body_cache = self._stream.read()
        return self._body_cache

    def json_body(self) -> Any:
        raw = self.body()
        return json.loads(raw) if raw else {}

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name) or self.query.get(f"{name}[]")
        return values[-1] if values else default

    def flag(self, name: str) -> bool:
        return (self.param(name) or "").lower() in ("1", "true", "yes")

    @property
    def base_url(self) -> str:
        host = self.headers.get("Host")
        return f"http://{host}" if host else self.server.endpoint

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, obj: Any, status: int = 200, headers: dict[str, str] | None = None,
                  content_type: str = "application/json") -> None:
        self._send(status, json.dumps(obj).encode(), content_type, headers)

    def _send_error(self, err: HubError) -> None:
        headers = {"X-Error-Message": err.message.replace("\n", " ")[:500]}
        if err.code:
            headers["X-Error-Code"] = err.code
        payload: dict[str, Any] = {"error": err.message, **err.extra}
        self.send_json(payload, status=err.status, headers=headers)

    # ------------------------------------------------------------------ auth
    def authenticated(self) -> bool:
        """True with the right token, False without one; a wrong token is a 401 like on the Hub."""
        header = self.headers.get("Authorization", "")
        if not header:
            return False
        token = header.removeprefix("Bearer ").strip()
        if token != self.server.token:
            raise HubError(401, "Invalid credentials in Authorization header")
        return True

    def require_auth(self) -> None:
        if not self.authenticated():
            raise HubError(401, "You must be authenticated to do this: pass a token (HF_TOKEN)")

    def repo(self, repo_type: str, repo_id: str, write: bool = False) -> Repo:
        authed = self.authenticated()
        if write and not authed:
            raise HubError(401, "You must be authenticated to write to a repository", "RepoNotFound")
        try:
            repo = self.server.storage.get(repo_type, repo_id)
        except HubError as err:
            err.status = 404 if authed else 401
            raise
        if repo.private and not authed:
            raise HubError(401, "Repository not found", "RepoNotFound")
        return repo

    # ------------------------------------------------------------------ routing
    def _route(self, method: str) -> Callable[[], None] | None:
        seg = self.segments
        if seg[:1] == ["api"]:
            return self._route_api(method, seg[1:])
        if seg[:2] == ["_lfs", "upload"] and method == "PUT" and len(seg) == 3:
            return lambda: self.lfs_upload(seg[2])
        if seg[:2] == ["_lfs", "verify"] and method == "POST":
            return self.lfs_verify()
        if seg[:2] == ["_lfs", "download"] and method in ("GET", "HEAD") and len(seg) == 3:
            return self.lfs_download(seg[2])
        repo_type = "model"
        if seg[:1] in (["datasets"], ["spaces"]):
            repo_type = TYPE_FROM_PLURAL[seg[0]]
            seg = seg[1:]
        if len(seg) >= 4 and seg[1] == "resolve":  # a legacy id without namespace: never hosted here
            self.repo(repo_type, seg[0])
        if len(seg) >= 5 and seg[2] == "resolve" and method in ("GET", "HEAD"):
            return self.resolve(repo_type, f"{seg[0]}/{seg[1]}", seg[3], "/".join(seg[4:]))
        if len(seg) == 6 and seg[1].endswith(".git") and seg[2:] == ["info", "lfs", "objects", "batch"]:
            return self.lfs_batch(repo_type, f"{seg[0]}/{seg[1][:-4]}")
        raise HubError(404, f"Unknown endpoint {method} {self.url_path}")

    def _route_api(self, method: str, seg: list[str]) -> Callable[[], None] | None:
        if seg == ["whoami-v2"] and method == "GET":
            return self.whoami()
        if seg == ["repos", "create"] and method == "POST":
            return self.create_repo()
        if seg == ["repos", "delete"] and method == "DELETE":
            return self.delete_repo()
        if seg == ["repos", "move"] and method == "POST":
            return self.move_repo()
        if seg == ["validate-yaml"] and method == "POST":
            return self.validate_yaml()
        if seg == ["agent-harnesses"] and method == "GET":  # huggingface_hub's agent detection registry
            return self.send_json({"standardEnvVars": [], "harnesses": {}})
        if not seg or seg[0] not in TYPE_FROM_PLURAL:
            raise HubError(404, f"Unknown endpoint {method} {self.url_path}")
        repo_type = TYPE_FROM_PLURAL[seg[0]]
        if len(seg) == 1 and method == "GET":
            return self.list_repos(repo_type)
        if len(seg) < 3:  # a legacy id without namespace: never hosted here
            self.repo(repo_type, seg[1])
        repo_id, rest = f"{seg[1]}/{seg[2]}", seg[3:]
        action = rest[0] if rest else None
        if action is None and method == "GET":
            return self.repo_info(repo_type, repo_id, "main")
        if action == "revision" and len(rest) >= 2 and method == "GET":
            return self.repo_info(repo_type, repo_id, "/".join(rest[1:]))
        if action == "settings" and method == "PUT":
            return self.update_settings(repo_type, repo_id)
        if action == "tree" and len(rest) >= 2 and method == "GET":
            return self.list_tree(repo_type, repo_id, rest[1], "/".join(rest[2:]))
        if action == "paths-info" and len(rest) == 2 and method == "POST":
            return self.paths_info(repo_type, repo_id, rest[1])
        if action == "refs" and method == "GET":
            return self.list_refs(repo_type, repo_id)
        if action == "commits" and len(rest) == 2 and method == "GET":
            return self.list_commits(repo_type, repo_id, rest[1])
        if action == "branch" and len(rest) >= 2 and method in ("POST", "DELETE"):
            return self.branch(method, repo_type, repo_id, "/".join(rest[1:]))
        if action == "tag" and len(rest) >= 2 and method in ("POST", "DELETE"):
            return self.tag(method, repo_type, repo_id, "/".join(rest[1:]))
        if action == "preupload" and len(rest) == 2 and method == "POST":
            return self.preupload(repo_type, repo_id, rest[1])
        if action == "commit" and len(rest) == 2 and method == "POST":
            return self.commit(repo_type, repo_id, rest[1])
        # Anything else about an existing repo (discussions, parquet exports...) is not hosted here.
        self.repo(repo_type, repo_id)
        raise HubError(404, f"Not available on the local Hub: {method} {self.url_path}")

    # ------------------------------------------------------------------ account and repos
    def whoami(self) -> None:
        self.require_auth()
        self.send_json({
            "type": "user",
            "id": "0" * 24,
            "name": self.server.user,
            "fullname": "Quick-Tune Tester",
            "email": f"{self.server.user}@example.com",
            "emailVerified": True,
            "canPay": False,
            "isPro": False,
            "periodEnd": None,
            "avatarUrl": "",
            "orgs": [{"type": "org", "name": org, "fullname": org, "roleInOrg": "admin"} for org in self.server.orgs],
            "auth": {"type": "access_token", "accessToken": {"displayName": "tests", "role": "write",
                                                              "createdAt": "2024-01-01T00:00:00.000Z"}},
        })

    def create_repo(self) -> None:
        self.require_auth()
        data = self.json_body()
        repo_type = data.get("type") or "model"
        if repo_type not in REPO_TYPES:
            raise HubError(400, f"Invalid repo type {repo_type!r}")
        name = data.get("name") or ""
        if not NAME_RE.match(name) or len(name) > 96:
            raise HubError(400, f"Invalid repo name {name!r}")
        namespace = data.get("organization") or self.server.user
        repo_id = f"{namespace}/{name}"
        url = f"{self.base_url}/{URL_PREFIX[repo_type]}{repo_id}"
        private = bool(data.get("private")) or data.get("visibility") == "private"
        extra = {"sdk": data["sdk"]} if repo_type == "space" and data.get("sdk") else {}
        try:
            self.server.storage.create_repo(repo_type, repo_id, private, extra)
        except HubError as err:
            if err.status == 409:
                err.message = f"You already created this {repo_type} repo"
                err.extra["url"] = url
            raise
        self.send_json({"url": url, "name": repo_id, "id": repo_id})

    def _repo_id_from_body(self, data: dict[str, Any]) -> str:
        return f"{data.get('organization') or self.server.user}/{data['name']}"

    def delete_repo(self) -> None:
        data = self.json_body()
        repo_type = data.get("type") or "model"
        self.repo(repo_type, self._repo_id_from_body(data), write=True)
        self.server.storage.delete_repo(repo_type, self._repo_id_from_body(data))
        self.send_json({})

    def move_repo(self) -> None:
        data = self.json_body()
        repo_type = data.get("type") or "model"
        self.repo(repo_type, data["fromRepo"], write=True)
        self.server.storage.move_repo(repo_type, data["fromRepo"], data["toRepo"])
        self.send_json({})

    def update_settings(self, repo_type: str, repo_id: str) -> None:
        repo = self.repo(repo_type, repo_id, write=True)
        data = self.json_body()
        if "private" in data:
            repo.private = bool(data["private"])
        if data.get("visibility") in ("private", "public"):
            repo.private = data["visibility"] == "private"
        if "gated" in data:
            repo.extra["gated"] = data["gated"]
        self.server.storage.save(repo)
        self.send_json({})

    def validate_yaml(self) -> None:
        data = self.json_body()
        errors, warnings = validate_card(data.get("content") or "", data.get("repoType") or "model")
        payload = {"errors": [{"message": m} for m in errors], "warnings": [{"message": m} for m in warnings]}
        if "text/plain" in self.headers.get("Accept", ""):  # ModelCard.validate asks for plain text
            text = "\n".join(f"Error: {m}" for m in errors) or "\n".join(f"Warning: {m}" for m in warnings)
            self._send(400 if errors else 200, text.encode(), "text/plain; charset=utf-8")
            return
        if errors:
            self.send_json(payload, status=400, headers={"X-Error-Message": "Invalid metadata in README.md"})
        else:
            self.send_json(payload)

    # ------------------------------------------------------------------ repo info and listings
    def _card(self, repo: Repo, commit: str) -> dict[str, Any]:
        entry = repo.tree(commit).get("README.md")
        if entry is None or entry["size"] > 1_000_000:
            return {}
        return parse_card_data(self.server.storage.read_blob(entry["sha256"]).decode(errors="replace"))

    def _json_file(self, repo: Repo, commit: str, path: str) -> dict[str, Any] | None:
        entry = repo.tree(commit).get(path)
        if entry is None or entry["size"] > 1_000_000:
            return None
        try:
            data = json.loads(self.server.storage.read_blob(entry["sha256"]))
        except (ValueError, UnicodeDecodeError):
            return None
        return data if isinstance(data, dict) else None

    def _safetensors(self, repo: Repo, commit: str) -> dict[str, Any] | None:
        """Parameter counts per dtype summed over the ``*.safetensors`` files, read from their headers."""
        totals: dict[str, int] = {}
        found = False
        for path, entry in repo.tree(commit).items():
            if not path.endswith(".safetensors"):
                continue
            counts = self.server._safetensors_cache.get(entry["sha256"])
            if counts is None:
                counts = {}
                try:
                    with open(self.server.storage.blob_path(entry["sha256"]), "rb") as fh:
                        (length,) = struct.unpack("<Q", fh.read(8))
                        header = json.loads(fh.read(length))
                    for name, info in header.items():
                        if name == "__metadata__":
                            continue
                        n = 1
                        for dim in info["shape"]:
                            n *= dim
                        counts[info["dtype"]] = counts.get(info["dtype"], 0) + n
                except (OSError, ValueError, KeyError, struct.error):
                    continue
                self.server._safetensors_cache[entry["sha256"]] = counts
            found = True
            for dtype, n in counts.items():
                totals[dtype] = totals.get(dtype, 0) + n
        if not found:
            return None
        return {"parameters": totals, "total": sum(totals.values())}

    def _summary(self, repo: Repo, commit: str, full: bool, blobs: bool = False) -> dict[str, Any]:
        """The Hub's JSON for a repo; ``full`` adds siblings and card data as ``/api/{type}/{repo}`` does."""
        tree = repo.tree(commit)
        files = sorted(tree)
        card = self._card(repo, commit)
        info: dict[str, Any] = {
            "_id": repo.commits[repo.history(commit)[-1]]["id"][:24],
            "id": repo.id,
            "author": repo.namespace,
            "sha": commit,
            "lastModified": repo.commits[commit]["date"],
            "createdAt": repo.created_at,
            "private": repo.private,
            "gated": repo.extra.get("gated", False),
            "disabled": False,
            "downloads": 0,
            "likes": 0,
        }
        library_name = pipeline_tag = None
        if repo.type == "model":
            config = self._json_file(repo, commit, "config.json")
            library_name = card.get("library_name")
            if library_name is None and config is not None:
                if "architectures" in config:
                    library_name = "transformers"
                elif "architecture" in config or "pretrained_cfg" in config:
                    library_name = "timm"
            pipeline_tag = card.get("pipeline_tag")
            if pipeline_tag is None and config and any(
                str(a).endswith("ForImageClassification") for a in config.get("architectures") or []
            ):
                pipeline_tag = "image-classification"
            info.update({"modelId": repo.id, "library_name": library_name, "pipeline_tag": pipeline_tag})
            if full:
                safetensors = self._safetensors(repo, commit)
                if safetensors is not None:
                    info["safetensors"] = safetensors
                if config is not None:
                    info["config"] = config
                info["spaces"] = []
        elif repo.type == "space":
            info["sdk"] = card.get("sdk") or repo.extra.get("sdk")
            info["runtime"] = {"stage": "NO_APP_FILE", "hardware": {"current": None, "requested": None}}
        else:
            info.update({"description": "", "citation": "", "paperswithcode_id": None})
        info["tags"] = derive_tags(repo.type, card, files, library_name, pipeline_tag)
        if full:
            info["cardData"] = card
            siblings = []
            for path in files:
                sibling: dict[str, Any] = {"rfilename": path}
                if blobs:
                    entry = tree[path]
                    sibling.update({"size": entry["size"], "blobId": entry["oid"]})
                    if entry["lfs"]:
                        sibling["lfs"] = self._lfs_info(entry)
                siblings.append(sibling)
            info["siblings"] = siblings
            info["usedStorage"] = sum(e["size"] for e in tree.values())
        return info

    def repo_info(self, repo_type: str, repo_id: str, revision: str) -> None:
        repo = self.repo(repo_type, repo_id)
        commit = repo.resolve(revision)
        self.send_json(self._summary(repo, commit, full=True, blobs=self.flag("blobs")))

    def list_repos(self, repo_type: str) -> None:
        authed = self.authenticated()
        search = (self.param("search") or "").lower()
        author = self.param("author")
        filters = self.query.get("filter", []) + self.query.get("filter[]", [])
        pipeline_tag = self.param("pipeline_tag")
        library = self.param("library")
        gated = (self.param("gated") or "").lower() or None
        num_parameters = self.param("num_parameters")
        full = self.flag("full") or self.flag("cardData") or bool(self.query.get("expand") or self.query.get("expand[]"))
        items = []
        for (rtype, _), repo in sorted(self.server.storage.repos.items()):
            if rtype != repo_type or (repo.private and not authed):
                continue
            if search and search not in repo.id.lower():
                continue
            if author and repo.namespace != author:
                continue
            item = self._summary(repo, repo.branches["main"], full=full)
            tags = set(item["tags"])
            if any(f not in tags and f != repo.id for f in filters):
                continue
            if pipeline_tag and item.get("pipeline_tag") != pipeline_tag:
                continue
            if library and item.get("library_name") != library:
                continue
            if gated is not None and bool(item.get("gated")) != (gated == "true"):
                continue
            if num_parameters and not _in_range(self._safetensors(repo, repo.branches["main"]), num_parameters):
                continue
            items.append(item)
        sort = self.param("sort")
        if sort:
            key = {"lastModified": "lastModified", "createdAt": "createdAt", "downloads": "downloads",
                   "likes": "likes", "trendingScore": "likes", "id": "id"}.get(sort, "id")
            reverse = (self.param("direction") or "-1") == "-1"
            items.sort(key=lambda it: (it.get(key) or 0, it["id"]), reverse=reverse)
        limit = int(self.param("limit") or 0) or None
        page_size = min(limit or self.server.list_page_size, self.server.list_page_size)
        self._send_page(items, page_size)

    def _send_page(self, items: list[Any], page_size: int) -> None:
        """Send one page of ``items`` with a GitHub-style ``Link: <...>; rel="next"`` header."""
        start = int(self.param("cursor") or 0)
        page = items[start : start + page_size]
        headers = {}
        if start + page_size < len(items):
            params = [(k, v) for k, vs in self.query.items() if k != "cursor" for v in vs]
            params.append(("cursor", str(start + page_size)))
            headers["Link"] = f'<{self.base_url}{self.url_path}?{urlencode(params)}>; rel="next"'
        self.send_json(page, headers=headers)

    @staticmethod
    def _lfs_info(entry: dict[str, Any]) -> dict[str, Any]:
        return {"oid": entry["sha256"], "sha256": entry["sha256"], "size": entry["size"],
                "pointerSize": len(lfs_pointer(entry["sha256"], entry["size"]))}

    def _path_entry(self, repo: Repo, commit: str, path: str, expand: bool) -> dict[str, Any] | None:
        """Tree entry of a file or folder as ``/tree`` and ``/paths-info`` return it; None when absent."""
        tree = repo.tree(commit)
        if path in tree:
            entry = tree[path]
            out: dict[str, Any] = {"type": "file", "oid": entry["oid"], "size": entry["size"], "path": path}
            if entry["lfs"]:
                lfs = self._lfs_info(entry)
                out["lfs"] = {"oid": lfs["oid"], "size": lfs["size"], "pointerSize": lfs["pointerSize"]}
        else:
            prefix = path.rstrip("/") + "/"
            children = sorted((p, e["oid"]) for p, e in tree.items() if p.startswith(prefix))
            if not path or not children:
                return None
            oid = hashlib.sha1(json.dumps(children).encode()).hexdigest()
            out = {"type": "directory", "oid": oid, "size": 0, "path": path}
        if expand:
            last = repo.last_commit_of(commit, path)
            out["lastCommit"] = {"id": last, "title": repo.commits[last]["title"], "date": repo.commits[last]["date"]}
        return out

    def list_tree(self, repo_type: str, repo_id: str, revision: str, path: str) -> None:
        repo = self.repo(repo_type, repo_id)
        commit = repo.resolve(revision)
        path = path.strip("/")
        tree = repo.tree(commit)
        prefix = f"{path}/" if path else ""
        if path and not any(p.startswith(prefix) for p in tree):
            raise HubError(404, f"{path} does not exist on {revision}", "EntryNotFound")
        recursive = self.flag("recursive")
        expand = self.flag("expand")
        paths: set[str] = set()
        for p in tree:
            if not p.startswith(prefix):
                continue
            rel = p[len(prefix) :].split("/")
            depth = len(rel) if recursive else 1
            for i in range(1, depth + 1):
                paths.add(prefix + "/".join(rel[:i]))
        entries = [self._path_entry(repo, commit, p, expand) for p in sorted(paths)]
        page = self.server.tree_page_size_expand if expand else self.server.tree_page_size
        self._send_page([e for e in entries if e is not None], page)

    def paths_info(self, repo_type: str, repo_id: str, revision: str) -> None:
        repo = self.repo(repo_type, repo_id)
        commit = repo.resolve(revision)
        raw = self.body()
        if self.headers.get("Content-Type", "").startswith("application/json"):
            data = json.loads(raw or b"{}")
            paths, expand = data.get("paths", []), bool(data.get("expand"))
        else:
            form = parse_qs(raw.decode(), keep_blank_values=True)
            paths = form.get("paths", []) + form.get("paths[]", [])
            expand = (form.get("expand", ["false"])[-1]).lower() in ("1", "true")
        out = []
        for path in paths:
            entry = self._path_entry(repo, commit, path.strip("/"), expand)
            if entry is not None:
                out.append(entry)
        self.send_json(out)

    def list_refs(self, repo_type: str, repo_id: str) -> None:
        repo = self.repo(repo_type, repo_id)

        def refs(table: dict[str, str], kind: str) -> list[dict[str, str]]:
            return [{"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": c} for n, c in sorted(table.items())]

        self.send_json({
            "branches": refs(repo.branches, "heads"),
            "tags": refs(repo.tags, "tags"),
            "converts": [],
            "pullRequests": [{"name": r.rsplit("/", 1)[-1], "ref": r, "targetCommit": c}
                             for r, c in sorted(repo.pulls.items())],
        })

    def list_commits(self, repo_type: str, repo_id: str, revision: str) -> None:
        repo = self.repo(repo_type, repo_id)
        items = []
        for cid in repo.history(repo.resolve(revision)):
            c = repo.commits[cid]
            item = {"id": cid, "title": c["title"], "message": c["message"], "date": c["date"],
                    "authors": [{"user": u, "avatar": ""} for u in c["authors"]]}
            if "formatted" in (self.query.get("expand[]", []) + self.query.get("expand", [])):
                item.update({"formatted": {"title": c["title"], "message": c["message"]}})
            items.append(item)
        self._send_page(items, self.server.commits_page_size)

    def branch(self, method: str, repo_type: str, repo_id: str, name: str) -> None:
        repo = self.repo(repo_type, repo_id, write=True)
        if method == "POST":
            data = self.json_body()
            self.server.storage.create_branch(repo, name, data.get("startingPoint"))
        else:
            self.server.storage.delete_branch(repo, name)
        self.send_json({})

    def tag(self, method: str, repo_type: str, repo_id: str, target: str) -> None:
        repo = self.repo(repo_type, repo_id, write=True)
        if method == "POST":
            data = self.json_body()
            self.server.storage.create_tag(repo, data["tag"], target)
        else:
            self.server.storage.delete_tag(repo, target)
        self.send_json({})

    # ------------------------------------------------------------------ uploads
    def preupload(self, repo_type: str, repo_id: str, revision: str) -> None:
        repo = self.repo(repo_type, repo_id, write=True)
        commit = repo.resolve(revision)
        data = self.json_body()
        storage = self.server.storage
        gitignore = data.get("gitIgnore")
        if gitignore is None and ".gitignore" in repo.tree(commit):
            gitignore = storage.read_blob(repo.tree(commit)[".gitignore"]["sha256"]).decode(errors="replace")
        ignore = [ln.strip() for ln in (gitignore or "").splitlines() if ln.strip() and not ln.startswith("#")]
        files = []
        for f in data.get("files", []):
            path = f["path"]
            sample = base64.b64decode(f.get("sample") or "")
            mode = storage.upload_mode(repo, commit, path, int(f.get("size") or 0), sample)
            existing = repo.tree(commit).get(path)
            oid = None
            if existing is not None:
                oid = existing["sha256"] if mode == "lfs" and existing["lfs"] else existing["oid"]
            name = path.rsplit("/", 1)[-1]
            should_ignore = any(fnmatch.fnmatchcase(path, p) or fnmatch.fnmatchcase(name, p) for p in ignore)
            files.append({"path": path, "uploadMode": mode, "shouldIgnore": should_ignore, "oid": oid})
        self.send_json({"files": files, "commitOid": commit})

    def commit(self, repo_type: str, repo_id: str, revision: str) -> None:
        repo = self.repo(repo_type, repo_id, write=True)
        header: dict[str, Any] = {}
        operations: list[tuple[str, dict[str, Any]]] = []
        raw = self.body()
        if self.headers.get("Content-Type", "").startswith("application/x-ndjson"):
            for line in raw.splitlines():
                if not line.strip():
                    continue
                item = json.loads(line)
                if item["key"] == "header":
                    header = item["value"]
                else:
                    operations.append((item["key"], item["value"]))
        else:  # legacy JSON payload
            data = json.loads(raw)
            header = {"summary": data.get("summary"), "description": data.get("description"),
                      "parentCommit": data.get("parentCommit")}
            operations += [("file", f) for f in data.get("files", [])]
            operations += [("lfsFile", f) for f in data.get("lfsFiles", [])]
            operations += [("deletedFile", f) for f in data.get("deletedFiles", [])]
        if not header.get("summary"):
            raise HubError(400, "A commit summary (commit message) is required")
        new, pr_ref = self.server.storage.commit(repo, revision, header, operations,
                                                 create_pr=self.flag("create_pr"))
        prefix = f"{self.base_url}/{URL_PREFIX[repo_type]}{repo_id}"
        pr_url = f"{prefix}/discussions/{pr_ref.rsplit('/', 1)[-1]}" if pr_ref else None
        self.send_json({"success": True, "commitOid": new, "commitUrl": f"{prefix}/commit/{new}",
                        "hookOutput": "", "pullRequestUrl": pr_url})

    def lfs_batch(self, repo_type: str, repo_id: str) -> None:
        data = self.json_body()
        operation = data.get("operation", "download")
        self.repo(repo_type, repo_id, write=operation == "upload")
        storage = self.server.storage
        objects = []
        for obj in data.get("objects", []):
            oid, size = str(obj["oid"]), int(obj["size"])
            out: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if operation == "upload":
                if not storage.has_blob(oid):
                    out["actions"] = {
                        "upload": {"href": f"{self.base_url}/_lfs/upload/{oid}", "header": {}},
                        "verify": {"href": f"{self.base_url}/_lfs/verify", "header": {}},
                    }
            elif storage.has_blob(oid):
                out["actions"] = {"download": {"href": f"{self.base_url}/_lfs/download/{oid}", "header": {}}}
            else:
                out["error"] = {"code": 404, "message": "Object does not exist"}
            objects.append(out)
        self.send_json({"transfer": "basic", "objects": objects, "hash_algo": "sha256"},
                       content_type="application/vnd.git-lfs+json")

    def lfs_upload(self, oid: str) -> None:
        if not re.fullmatch(r"[0-9a-f]{64}", oid):
            raise HubError(400, f"Invalid LFS oid {oid!r}")
        self.server.storage.put_blob_stream(self._stream, expected_sha256=oid)
        self._send(200, b"", "text/plain")

    def lfs_verify(self) -> None:
        data = self.json_body()
        path = self.server.storage.blob_path(str(data.get("oid")))
        if not path.is_file() or path.stat().st_size != int(data.get("size", -1)):
            raise HubError(404, f"LFS object {data.get('oid')} was not uploaded")
        self.send_json({"success": True})

    def lfs_download(self, oid: str) -> Callable[[], None]:
        path = self.server.storage.blob_path(oid)
        if not re.fullmatch(r"[0-9a-f]{64}", oid) or not path.is_file():
            raise HubError(404, "Object does not exist")
        return lambda: self._send_file(path, {"ETag": f'"{oid}"'})

    # ------------------------------------------------------------------ downloads
    def resolve(self, repo_type: str, repo_id: str, revision: str, path: str) -> Callable[[], None]:
        repo = self.repo(repo_type, repo_id)
        commit = repo.resolve(revision)
        entry = repo.tree(commit).get(path)
        if entry is None:
            raise HubError(404, f"Entry not found: {path} does not exist on {revision}", "EntryNotFound")
        headers = {"X-Repo-Commit": commit, "Accept-Ranges": "bytes"}
        if entry["lfs"]:
            headers.update({"ETag": f'"{entry["sha256"]}"', "X-Linked-Etag": f'"{entry["sha256"]}"',
                            "X-Linked-Size": str(entry["size"])})
        else:
            headers["ETag"] = f'"{entry["oid"]}"'
        blob = self.server.storage.blob_path(entry["sha256"])
        return lambda: self._send_file(blob, headers)

    def _send_file(self, path: Path, headers: dict[str, str]) -> None:
        """Send a blob, honouring a single ``Range: bytes=a-b`` (206) or answering 416."""
        size = path.stat().st_size
        start, end, status = 0, size - 1, 200
        range_header = self.headers.get("Range")
        if range_header:
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", range_header.strip())
            if m is None or (not m.group(1) and not m.group(2)):
                raise HubError(416, f"Unsupported range {range_header!r}")
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            else:
                start, end = max(size - int(m.group(2)), 0), size - 1
            if start >= size or start > end:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = end - start + 1
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        with open(path, "rb") as fh:
            fh.seek(start)
            left = length
            while left > 0:
                chunk = fh.read(min(1 << 20, left))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)


class LocalHub:
    """A running local Hub: server thread plus the attributes tests use.

    Attributes: ``endpoint`` (``http://127.0.0.1:PORT``), ``token``, ``root`` (storage dir),
    ``requests`` (list of ``(method, path, status)`` served so far), ``server``.
    """

    def __init__(self, root: Path, port: int = 0, token: str = "hf_local_test_token", host: str = "127.0.0.1"):
        self.root = Path(root)
        self.token = token
        self.server = HubHTTPServer((host, port), self.root, token)
        self.endpoint = self.server.endpoint
        self.requests = self.server.request_log
        self._thread: threading.Thread | None = None

    def start(self) -> LocalHub:
        self._thread = threading.Thread(target=self.server.serve_forever, name="local-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def url(self, repo_id: str, repo_type: str = "model") -> str:
        return f"{self.endpoint}/{URL_PREFIX[repo_type]}{quote(repo_id)}"

    def __enter__(self) -> LocalHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["HubHTTPServer", "HubRequestHandler", "LocalHub", "now_iso"]
