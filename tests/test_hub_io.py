"""hf_quicktune.hub: typed Hub failures -> our errors with fields; retries only for transient failures."""

from __future__ import annotations

import socket
import uuid

import httpx2
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError

from hf_quicktune import hub as hubio
from hf_quicktune.errors import HubError, MetaError
from hf_quicktune.publish import push_to_hub

BAD_TOKEN = "hf_wrongTOKEN_abcdef0123456789"


def _http_error(status: int) -> HfHubHTTPError:
    request = httpx2.Request("GET", "http://127.0.0.1/api/x")
    return HfHubHTTPError(f"{status} error", response=httpx2.Response(status, request=request))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Flaky:
    """Raises the given exceptions in turn, then returns "done"."""

    def __init__(self, *errors: BaseException):
        self.errors = list(errors)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(status):
    sleeps: list[float] = []
    fn = Flaky(_http_error(status), _http_error(status))
    assert hubio.call(fn, repo_id="org/m", retries=3, backoff_s=0.5, sleep=sleeps.append) == "done"
    assert fn.calls == 3 and sleeps == [0.5, 1.0]


@pytest.mark.parametrize("status, code", [(401, "bad_token"), (403, "forbidden"), (404, "repo_not_found")])
def test_client_errors_fail_at_once(status, code):
    sleeps: list[float] = []
    fn = Flaky(_http_error(status))
    with pytest.raises(HubError) as info:
        hubio.call(fn, repo_id="org/m", retries=5, sleep=sleeps.append)
    assert fn.calls == 1 and sleeps == []
    assert info.value.code == code and info.value.status == status and info.value.input == "org/m"
    assert "org/m" in str(info.value) and info.value.fix and info.value.fix in str(info.value)


def test_timeouts_are_retried_then_reported():
    sleeps: list[float] = []
    fn = Flaky(*[httpx2.ReadTimeout("timed out")] * 3)
    with pytest.raises(HubError) as info:
        hubio.call(fn, repo_id="org/m", retries=3, backoff_s=1, sleep=sleeps.append)
    assert fn.calls == 3 and sleeps == [1, 2] and info.value.code == "unreachable"


def test_bugs_are_not_swallowed():
    with pytest.raises(KeyError):
        hubio.call(Flaky(KeyError("x")), repo_id="org/m", sleep=lambda s: None)


def test_caller_chooses_error_class_and_fix():
    with pytest.raises(MetaError, match="pass a local prior directory") as info:
        hubio.call(Flaky(_http_error(404)), repo_id="org/p", cls=MetaError, fix="Or pass a local prior directory.")
    assert info.value.code == "repo_not_found"


@pytest.mark.hub
def test_snapshot_missing_repo_and_revision(hub):
    with pytest.raises(HubError) as info:
        _snapshot("qt-org/does-not-exist")
    assert info.value.code == "repo_not_found" and "qt-org/does-not-exist" in str(info.value)
    repo = hub.unique_repo_id("snap")
    hub.api.create_repo(repo)
    hub.api.upload_file(path_or_fileobj=b"{}", path_in_repo="prior.json", repo_id=repo)
    assert (_snapshot(repo) / "prior.json").read_text() == "{}"
    with pytest.raises(HubError) as info:
        _snapshot(repo, revision="nope")
    assert info.value.code == "revision_not_found" and "--revision" in str(info.value)


def _snapshot(repo_id, **kw):
    return hubio.snapshot(repo_id, retries=1, **kw)


@pytest.mark.hub
def test_check_write_access(hub):
    repo = hub.unique_repo_id("gate")
    assert hub_check(repo, hub.token) == repo
    assert not hub.api.repo_exists(repo)  # nothing is published (not even an empty repo) before the run succeeds
    hub.api.create_repo(repo)
    assert hub_check(repo, hub.token) == repo  # an existing repo: probed with create_repo(exist_ok=True)
    own = hub.unique_repo_id("gate", namespace="qt-tester")  # the user's own namespace
    assert hub_check(own, hub.token) == own
    with pytest.raises(HubError) as info:
        hub_check(hub.unique_repo_id("gate"), BAD_TOKEN)
    assert info.value.code == "bad_token" and "HF_TOKEN" in str(info.value) and BAD_TOKEN not in str(info.value)
    with pytest.raises(HubError, match="may not write to the namespace 'someone-else'") as info:
        hub_check("someone-else/model", hub.token)  # not the user, not one of its organisations
    assert info.value.code == "forbidden" and "qt-tester/" in str(info.value)


@pytest.mark.parametrize("who, allowed", [
    ({"name": "u", "orgs": [{"name": "team", "roleInOrg": "write"}]}, {"u": True, "team": True, "x": False}),
    ({"name": "u", "orgs": [{"name": "team", "roleInOrg": "read"}]}, {"team": False}),
    ({"name": "u", "auth": {"accessToken": {"role": "fineGrained", "fineGrained": {"scoped": [
        {"entity": {"type": "org", "name": "team"}, "permissions": ["repo.content.read", "repo.write"]},
        {"entity": {"type": "user", "name": "u"}, "permissions": ["repo.content.read"]}]}}}},
     {"team": True, "u": False}),
    ({"name": "u"}, {"anything": None}),  # whoami does not say: the push will tell
])
def test_namespace_permissions_from_whoami(who, allowed):
    access = (who.get("auth") or {}).get("accessToken") or {}
    assert {ns: hubio._may_write(who, access, ns) for ns in allowed} == allowed


def hub_check(repo, token):
    return hubio.check_write_access(repo, token=token, retries=1)


def test_check_write_access_without_token(monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    with pytest.raises(HubError, match="no Hugging Face token") as info:
        hubio.check_write_access("org/m")
    assert info.value.code == "no_token"


def test_check_write_access_read_only_token(monkeypatch):
    monkeypatch.setattr(HfApi, "whoami", lambda self, **kw: {"name": "u", "auth": {"accessToken": {
        "displayName": "ro", "role": "read"}}})
    monkeypatch.setattr(HfApi, "create_repo", lambda *a, **kw: pytest.fail("must stop before creating"))
    with pytest.raises(HubError, match="read-only") as info:
        hubio.check_write_access("org/m", token="hf_x")
    assert info.value.code == "read_only_token"


@pytest.mark.hub
def test_push_with_bad_token_is_not_retried(hub, tmp_path, monkeypatch):
    sleeps: list[float] = []
    monkeypatch.setattr("hf_quicktune.hub.time.sleep", sleeps.append)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(HubError) as info:
        push_to_hub(tmp_path, hub.unique_repo_id("push"), token=BAD_TOKEN, retries=3)
    assert sleeps == [] and "1 attempt:" in str(info.value) and str(tmp_path) in str(info.value)
    assert info.value.code == "bad_token" and BAD_TOKEN not in str(info.value)


def test_reachable_is_false_for_a_closed_port_and_offline(monkeypatch):
    assert hubio.endpoint_answers(f"http://127.0.0.1:{_closed_port()}", 1.0, fresh=True) is False
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hubio.reachable() is False


@pytest.mark.hub
def test_reachable_local_hub(hub):
    assert hub_reachable_fresh(hub.endpoint)


def hub_reachable_fresh(endpoint: str) -> bool:
    return hubio.endpoint_answers(endpoint, 2.0, fresh=True)


def test_no_answer_is_remembered_for_a_minute_an_answer_for_the_process(monkeypatch):
    """A long-lived process (the Space) that saw the network drop once must see it come back."""
    calls: list[str] = []
    answers = iter([OSError("down"), None, OSError("down again")])

    class Session:
        def get(self, url, **kwargs):
            calls.append(url)
            err = next(answers)
            if err is not None:
                raise err

    monkeypatch.setattr("huggingface_hub.utils.get_session", lambda: Session())
    now = [1000.0]
    monkeypatch.setattr(hubio.time, "monotonic", lambda: now[0])
    endpoint = f"http://unreachable.invalid/{uuid.uuid4().hex}"
    assert hubio.endpoint_answers(endpoint, 1.0) is False
    now[0] += hubio.UNREACHABLE_TTL_S - 1
    assert hubio.endpoint_answers(endpoint, 1.0) is False and len(calls) == 1  # still remembered
    now[0] += 2
    assert hubio.endpoint_answers(endpoint, 1.0) is True and len(calls) == 2  # asked again: it answers now
    now[0] += 10 * hubio.UNREACHABLE_TTL_S
    assert hubio.endpoint_answers(endpoint, 1.0) is True and len(calls) == 2  # an answer is kept
