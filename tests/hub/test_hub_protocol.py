"""HTTP-level behaviour of the local Hub that clients rely on: LFS batch/upload, ranges, error headers."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import uuid
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.hub


def _conn(hub) -> http.client.HTTPConnection:
    url = urlsplit(hub.endpoint)
    return http.client.HTTPConnection(url.hostname, url.port, timeout=30)


def _request(hub, method, path, body=None, headers=None, auth=True):
    conn = _conn(hub)
    headers = dict(headers or {})
    if auth:
        headers["Authorization"] = f"Bearer {hub.token}"
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def test_lfs_batch_chunked_upload_commit_and_ranges(hub):
    repo_id = f"qt-org/proto-{uuid.uuid4().hex[:8]}"
    hub.api.create_repo(repo_id)
    blob = os.urandom(300_000)
    oid = hashlib.sha256(blob).hexdigest()
    batch = {"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": len(blob)}],
             "hash_algo": "sha256"}
    resp, data = _request(hub, "POST", f"/{repo_id}.git/info/lfs/objects/batch", json.dumps(batch),
                          {"Content-Type": "application/vnd.git-lfs+json"})
    assert resp.status == 200
    actions = json.loads(data)["objects"][0]["actions"]
    upload_path = urlsplit(actions["upload"]["href"]).path

    # a chunked (Transfer-Encoding) body with a wrong hash is refused, the right one accepted
    resp, _ = _request(hub, "PUT", upload_path, iter([b"x" * 10, b"y"]), auth=False)
    assert resp.status == 400
    resp, _ = _request(hub, "PUT", upload_path, iter([blob[:100_000], blob[100_000:]]), auth=False)
    assert resp.status == 200
    resp, _ = _request(hub, "POST", urlsplit(actions["verify"]["href"]).path,
                       json.dumps({"oid": oid, "size": len(blob)}))
    assert resp.status == 200
    # once stored, the batch API asks for no upload
    resp, data = _request(hub, "POST", f"/{repo_id}.git/info/lfs/objects/batch", json.dumps(batch))
    assert "actions" not in json.loads(data)["objects"][0]

    lines = [{"key": "header", "value": {"summary": "raw commit"}},
             {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": oid, "size": len(blob)}}]
    resp, data = _request(hub, "POST", f"/api/models/{repo_id}/commit/main",
                          "".join(json.dumps(x) + "\n" for x in lines), {"Content-Type": "application/x-ndjson"})
    assert resp.status == 200
    commit = json.loads(data)["commitOid"]

    resp, _ = _request(hub, "HEAD", f"/{repo_id}/resolve/main/w.bin", auth=False)
    assert resp.status == 200
    assert resp.getheader("X-Repo-Commit") == commit
    assert resp.getheader("X-Linked-Etag") == f'"{oid}"'
    assert resp.getheader("X-Linked-Size") == str(len(blob))
    resp, data = _request(hub, "GET", f"/{repo_id}/resolve/{commit}/w.bin", headers={"Range": "bytes=10-19"})
    assert (resp.status, data, resp.getheader("Content-Range")) == (206, blob[10:20], f"bytes 10-19/{len(blob)}")
    resp, data = _request(hub, "GET", f"/{repo_id}/resolve/main/w.bin", headers={"Range": "bytes=-5"})
    assert (resp.status, data) == (206, blob[-5:])
    resp, _ = _request(hub, "GET", f"/{repo_id}/resolve/main/w.bin", headers={"Range": f"bytes={len(blob)}-"})
    assert resp.status == 416 and resp.getheader("Content-Range") == f"bytes */{len(blob)}"


def test_error_headers_follow_the_hub(hub):
    repo_id = f"qt-org/proto-{uuid.uuid4().hex[:8]}"
    hub.api.create_repo(repo_id)
    cases = [
        (f"/{repo_id}/resolve/main/missing.txt", True, 404, "EntryNotFound"),
        (f"/{repo_id}/resolve/nobranch/.gitattributes", True, 404, "RevisionNotFound"),
        ("/qt-org/no-such-repo/resolve/main/x", True, 404, "RepoNotFound"),
        ("/qt-org/no-such-repo/resolve/main/x", False, 401, "RepoNotFound"),  # anonymous: 401 like the Hub
        (f"/api/models/{repo_id}/tree/main/no/dir", True, 404, "EntryNotFound"),
    ]
    for path, auth, status, code in cases:
        resp, _ = _request(hub, "GET", path, auth=auth)
        assert (resp.status, resp.getheader("X-Error-Code")) == (status, code), path
        assert resp.getheader("X-Error-Message")
    resp, _ = _request(hub, "GET", "/api/whoami-v2", headers={"Authorization": "Bearer wrong"}, auth=False)
    assert resp.status == 401
    assert resp.getheader("X-Error-Message") == "Invalid credentials in Authorization header"
