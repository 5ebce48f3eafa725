"""Hub I/O in one place: typed huggingface_hub failures -> our errors, retries for transient ones only.

Every package that talks to the Hugging Face Hub (data, zoo, meta, publish, run) goes through
this module:

- :func:`call` runs one Hub request, retries it with exponential backoff only when the failure
  is transient (HTTP 408/429/5xx, timeouts, dropped connections) and never on 401/403/404 or a
  missing repo/revision/file, then raises a :class:`~hf_quicktune.errors.HubError` (or the class
  the caller names) carrying ``input`` (the repo), ``fix``, ``code`` and ``status``.
- :func:`to_error` maps one exception using huggingface_hub's typed errors
  (``GatedRepoError``, ``RevisionNotFoundError``, ``EntryNotFoundError``, ``RepositoryNotFoundError``,
  ``LocalEntryNotFoundError``/``OfflineModeIsEnabled``, ``HfHubHTTPError.response.status_code``),
  walking the exception chain (``datasets`` wraps them).
- :func:`snapshot` / :func:`download` fetch a repo / one file; :func:`check_write_access` checks
  the token and write access before a long run (``whoami`` + ``create_repo(exist_ok=True)``);
  :func:`reachable` is the cheap endpoint probe used to skip network retries when offline.

Tokens never appear in a message (:func:`redact`). Light at import: huggingface_hub loads in the functions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from hf_quicktune.errors import HubError, QuickTuneError

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: HTTP statuses worth retrying: request timeout, rate limit, server errors
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
LOGIN_FIX = "Set HF_TOKEN to a token with write access (https://huggingface.co/settings/tokens) or run `hf auth login`."
#: a model repo's page on the Hub, as copied from the browser (not a dataset's or a Space's)
_MODEL_PAGE = r"(?:https?://)?(?:www\.)?(?:huggingface\.co|hf\.co)/(?!datasets/|spaces/)([\w.-]+/[\w.-]+)"


def model_repo_from_page(text: str, rest: bool = False) -> str | None:
    """The repo id ``ORG/NAME`` of a model page's URL (``https://huggingface.co/ORG/NAME/``; ``rest``: followed by
    any path, ``.../tree/main``), else None."""
    import re

    match = re.fullmatch(_MODEL_PAGE + (r"(?:/.*)?" if rest else r"/?"), text)
    return match.group(1) if match else None


def redact(text: str, token: str | None) -> str:
    """``text`` with every occurrence of ``token`` replaced by ``***``."""
    text = str(text)
    if token:
        text = text.replace(token, "***")
    return text


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = err
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def status_of(err: BaseException) -> int | None:
    """The HTTP status of a Hub failure (first one found along the exception chain), else None."""
    for e in _chain(err):
        status = getattr(getattr(e, "response", None), "status_code", None)
        if isinstance(status, int):
            return status
    return None


def _network_types() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """(timeout exception types, connection exception types) of the HTTP stacks in use."""
    timeouts: list[type] = [TimeoutError]
    connection: list[type] = [ConnectionError]
    for module, t_name, c_names in (("httpx2", "TimeoutException", ("TransportError",)),
                                    ("httpx", "TimeoutException", ("TransportError",)),
                                    ("requests.exceptions", "Timeout", ("ConnectionError",))):
        try:
            mod = __import__(module, fromlist=["_"])
        except ImportError:
            continue
        timeouts.append(getattr(mod, t_name))
        connection += [getattr(mod, c) for c in c_names]
    return tuple(timeouts), tuple(connection)


def _first(err: BaseException, types: tuple[type, ...]) -> BaseException | None:
    return next((e for e in _chain(err) if isinstance(e, types)), None)


def _typed() -> dict[str, type]:
    from huggingface_hub import errors as e

    return {"gated": e.GatedRepoError, "revision": e.RevisionNotFoundError, "entry": e.EntryNotFoundError,
            "repo": e.RepositoryNotFoundError, "local": e.LocalEntryNotFoundError, "offline": e.OfflineModeIsEnabled,
            "http": e.HfHubHTTPError, "validation": e.HFValidationError, "disabled": e.DisabledRepoError}


def is_transient(err: BaseException) -> bool:
    """True for failures worth retrying: HTTP 408/429/5xx, timeouts, dropped or refused connections.

    Never for 401/403/404, a missing repo, revision or file, offline mode, or an invalid repo id."""
    typed = _typed()
    definite = (typed["gated"], typed["revision"], typed["entry"], typed["repo"], typed["offline"],
                typed["validation"], typed["disabled"])
    if _first(err, definite) is not None:
        return False
    status = status_of(err)
    if status is not None:
        return status in TRANSIENT_STATUS
    timeouts, connection = _network_types()
    return _first(err, timeouts + connection) is not None


def is_hub_failure(err: BaseException) -> bool:
    """True when ``err`` comes from talking to the Hub (HTTP, network, cache/offline), not from a bug of ours."""
    typed = _typed()
    timeouts, connection = _network_types()
    return _first(err, tuple(typed.values()) + timeouts + connection) is not None


def _reason(err: BaseException, token: str | None) -> str:
    lines = redact(f"{type(err).__name__}: {err}", token).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def to_error(err: BaseException, *, repo_id: str | None, repo_type: str = "model", revision: str | None = None,
             filename: str | None = None, action: str = "download", token: str | None = None,
             cls: type[QuickTuneError] = HubError, fix: str | None = None) -> QuickTuneError:
    """One paragraph for a failed Hub request, from huggingface_hub's typed errors (never substrings).

    ``action`` says what was being done ("download", "push to", ...); ``fix`` is the caller's alternative,
    said after the advice for the failure (e.g. "Or pass a local prior directory.")."""
    typed = _typed()
    kind = f"{repo_type} repo" if repo_type != "model" else "model repo"
    what = f"{kind} '{repo_id}'" if repo_id else "the Hub"
    status = status_of(err)
    reason = _reason(err, token)
    timeouts, connection = _network_types()

    def make(message: str, default_fix: str, code: str) -> QuickTuneError:
        return cls(f"cannot {action} {what}: {message} ({reason}).", input=repo_id,
                   fix=f"{default_fix} {fix}" if fix else default_fix, code=code, status=status)

    if _first(err, (typed["validation"],)) is not None:
        return make("it is not a valid repo id", "Use the form org/name (letters, digits, '-', '_', '.').",
                    "bad_repo_id")
    if _first(err, (typed["gated"],)) is not None:
        return make("it is gated", f"Accept its conditions on the Hub page of {repo_id} and use a token of that "
                    "account (HF_TOKEN or `hf auth login`).", "gated_repo")
    if _first(err, (typed["revision"],)) is not None:
        return make(f"it has no revision {revision!r}" if revision else "the revision does not exist",
                    "Pass an existing branch, tag or commit with --revision.", "revision_not_found")
    if _first(err, (typed["offline"], typed["local"])) is not None:
        return make("the Hub cannot be reached (offline mode or no connection) and it is not in the local cache",
                    "Connect once to download it (unset HF_HUB_OFFLINE), or use a local copy.", "offline")
    if _first(err, (typed["entry"],)) is not None:
        return make(f"it has no file {filename!r}" if filename else "a file is missing",
                    "Check the repo's files on the Hub.", "file_not_found")
    if status == 401:
        return make("the token was refused (invalid or expired)", LOGIN_FIX, "bad_token")
    if _first(err, (typed["repo"],)) is not None or status == 404:
        return make("not found (it does not exist, or it is private and your token cannot read it)",
                    "Check the repo id, or log in with a token that can read it (HF_TOKEN or `hf auth login`).",
                    "repo_not_found")
    if status == 403:
        return make("the token may not do this (read-only token, or no write access to this namespace)",
                    LOGIN_FIX + " Or push to a namespace you own.", "forbidden")
    if status == 429:
        return make("the Hub is rate-limiting requests", "Wait a few minutes and try again.", "rate_limited")
    if status is not None and status >= 500:
        return make(f"the Hub answered with a server error ({status})", "Try again later.", "hub_unavailable")
    if _first(err, timeouts + connection) is not None:
        return make("the Hub endpoint does not answer (no connection or a timeout)",
                    "Check your network and HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use the local cache only.",
                    "unreachable")
    return make("the Hub refused the request", "Check the repo id and your token.", "hub")


def call(fn: Callable[..., T], *args: Any, repo_id: str | None, repo_type: str = "model", revision: str | None = None,
         filename: str | None = None, action: str = "download", token: str | None = None, retries: int = 3,
         backoff_s: float = 2.0, cls: type[QuickTuneError] = HubError, fix: str | None = None,
         sleep: Callable[[float], Any] | None = None, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` (wrap ``fn`` in a lambda when it takes ``repo_id=`` or ``repo_type=`` itself), retried ``retries`` times in all (backoff ``backoff_s * 2**k``) on transient
    failures only; a Hub failure becomes ``cls`` (see :func:`to_error`); any other exception propagates."""
    sleep = sleep or time.sleep
    for attempt in range(1, max(1, retries) + 1):
        try:
            return fn(*args, **kwargs)
        except Exception as err:
            if not is_hub_failure(err):
                raise
            if is_transient(err) and attempt < retries:
                wait = backoff_s * 2 ** (attempt - 1)
                logger.warning("%s of %s failed (attempt %d/%d): %s; retrying in %.1f s", action, repo_id, attempt,
                               retries, _reason(err, token), wait)
                sleep(wait)
                continue
            raise to_error(err, repo_id=repo_id, repo_type=repo_type, revision=revision, filename=filename,
                           action=action, token=token, cls=cls, fix=fix) from None
    raise AssertionError("unreachable")  # pragma: no cover


def snapshot(repo_id: str, *, repo_type: str = "model", revision: str | None = None,
             allow_patterns: list[str] | None = None, token: str | None = None, endpoint: str | None = None,
             cls: type[QuickTuneError] = HubError, fix: str | None = None, retries: int = 3) -> Path:
    """Local directory of a Hub repo (``snapshot_download``; the cache answers offline)."""
    from huggingface_hub import snapshot_download

    def fetch() -> str:
        return snapshot_download(repo_id, repo_type=repo_type, revision=revision, allow_patterns=allow_patterns,
                                 token=token, endpoint=endpoint)

    return Path(call(fetch, repo_id=repo_id, repo_type=repo_type, revision=revision, token=token, cls=cls, fix=fix,
                     retries=retries))


def download(repo_id: str, filename: str, *, repo_type: str = "model", revision: str | None = None,
             token: str | None = None, cls: type[QuickTuneError] = HubError, fix: str | None = None,
             retries: int = 3) -> Path:
    """Local path of one file of a Hub repo (``hf_hub_download``; the cache answers offline)."""
    from huggingface_hub import hf_hub_download

    def fetch() -> str:
        return hf_hub_download(repo_id, filename, repo_type=repo_type, revision=revision, token=token)

    return Path(call(fetch, repo_id=repo_id, repo_type=repo_type, revision=revision, filename=filename, token=token,
                     cls=cls, fix=fix, retries=retries))


def check_write_access(repo_id: str, *, repo_type: str = "model", private: bool = False, token: str | None = None,
                       retries: int = 3, backoff_s: float = 2.0) -> str:
    """Fail fast, before hours of training, when a push to ``repo_id`` could not succeed. Creates nothing.

    Checks there is a token, that the Hub accepts it (``whoami``), that it is not read-only and that its
    account may write to the repo's namespace (the user or an organisation where it is not a reader; the
    scopes of a fine-grained token); when the repo exists already, ``create_repo(exist_ok=True)`` probes the
    permission on it without changing anything. Returns the repo id, under the token's user when ``repo_id`` names
    no namespace (as the Hub puts it): the card and the push need the whole id."""
    from huggingface_hub import HfApi, constants, get_token

    from hf_quicktune.constants import hub_offline

    if hub_offline() or constants.HF_HUB_OFFLINE:
        raise HubError(f"--push-to-hub {repo_id}: the Hub is switched off (HF_HUB_OFFLINE=1).", input=repo_id,
                       code="offline", fix="Unset HF_HUB_OFFLINE to publish, or drop --push-to-hub (the export stays "
                       "in --output-dir; upload it later with `hf upload`).")
    token = token or get_token()
    if not token:
        raise HubError(f"--push-to-hub {repo_id}: no Hugging Face token found.", input=repo_id, fix=LOGIN_FIX,
                       code="no_token")
    api = HfApi(token=token, library_name="hf-quicktune")
    common: dict[str, Any] = dict(repo_id=repo_id, repo_type=repo_type, token=token, retries=retries,
                                  backoff_s=backoff_s, action="push to")
    who = call(api.whoami, **common) or {}
    access = (who.get("auth") or {}).get("accessToken") or {}
    if access.get("role") == "read":
        raise HubError(f"--push-to-hub {repo_id}: the token '{access.get('displayName', '?')}' is read-only.",
                       input=repo_id, fix=LOGIN_FIX, code="read_only_token", status=403)
    namespace = repo_id.split("/")[0] if "/" in repo_id else who.get("name")
    if "/" not in repo_id and namespace:
        repo_id = f"{namespace}/{repo_id}"
        common["repo_id"] = repo_id
    if _may_write(who, access, namespace) is False:
        raise HubError(f"--push-to-hub {repo_id}: the token of '{who.get('name')}' may not write to the namespace "
                       f"'{namespace}'.", input=repo_id, code="forbidden", status=403,
                       fix=f"Push to your own namespace ({who.get('name')}/...) or an organisation where you have "
                           "write access, or use a token with write access to it.")
    if call(lambda: api.repo_exists(repo_id, repo_type=repo_type), **common):
        # on an existing repo this only checks the permission (the Hub answers 409 or 403; nothing is created)
        call(lambda: api.create_repo(repo_id, private=private, exist_ok=True, repo_type=repo_type), **common)
    logger.info("push target %s is writable (as %s)", repo_id, who.get("name"))
    return repo_id


def _may_write(who: dict[str, Any], access: dict[str, Any], namespace: str | None) -> bool | None:
    """Whether ``whoami``'s account and token may write to ``namespace``; None when whoami does not say."""
    if not namespace or not who.get("name"):
        return None
    if access.get("role") == "fineGrained":
        scoped = (access.get("fineGrained") or {}).get("scoped")
        if not isinstance(scoped, list):
            return None
        return any((item.get("entity") or {}).get("name") in (namespace, None) and any(
            str(perm).startswith("repo.write") for perm in item.get("permissions") or []) for item in scoped)
    orgs = who.get("orgs")
    if not isinstance(orgs, list):
        return None
    writable = {who["name"]} | {o.get("name") for o in orgs if o.get("roleInOrg") not in ("read",)}
    return namespace in writable


def reachable(timeout: float = 3.0) -> bool:
    """False in offline mode (``HF_HUB_OFFLINE=1``) or when the endpoint (``HF_ENDPOINT``) does not answer.

    One cheap request through huggingface_hub's HTTP session, per endpoint: an answer (any HTTP status) is kept
    for the process, no answer for :data:`UNREACHABLE_TTL_S` only, so a long-lived process (the Space) that
    saw the network drop once sees it come back."""
    from huggingface_hub import constants

    from hf_quicktune.constants import hub_offline

    if constants.HF_HUB_OFFLINE or hub_offline():
        return False
    return endpoint_answers(constants.ENDPOINT, timeout)


#: seconds an endpoint that did not answer is taken as unreachable before it is asked again
UNREACHABLE_TTL_S = 60.0
_answers: dict[str, tuple[bool, float]] = {}


def endpoint_answers(endpoint: str, timeout: float, *, fresh: bool = False) -> bool:
    """Does ``endpoint`` answer HTTP? Remembered as :func:`reachable` says; ``fresh`` asks again."""
    known = _answers.get(endpoint)
    if known is not None and not fresh and (known[0] or time.monotonic() - known[1] < UNREACHABLE_TTL_S):
        return known[0]
    from huggingface_hub.utils import get_session

    try:
        get_session().get(f"{endpoint.rstrip('/')}/api/models", params={"limit": 1}, timeout=timeout)
        answered = True
    except Exception as err:  # noqa: BLE001 - any transport failure means "not reachable"
        timeouts, connection = _network_types()
        if not isinstance(err, timeouts + connection + (OSError, ValueError)):
            raise
        answered = False
    _answers[endpoint] = (answered, time.monotonic())
    return answered
