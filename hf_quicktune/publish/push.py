"""Push a complete export directory to the Hub in ONE commit, creating the repo if needed.

The token comes from the argument, ``HF_TOKEN`` or the stored login (``huggingface_hub.get_token``)
and never appears in a message: every error text goes through :func:`redact`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hf_quicktune import faults
from hf_quicktune.errors import HubError
from hf_quicktune.hub import LOGIN_FIX, redact

logger = logging.getLogger(__name__)

__all__ = ["MANIFEST", "push_to_hub", "redact"]

#: the repo file listing what the last push of hf-quicktune wrote (not in the export folder: the push adds it)
MANIFEST = "quicktune/files.json"


def push_to_hub(
    directory: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Add model fine-tuned by hf-quicktune",
    retries: int = 3,
    backoff_s: float = 2.0,
) -> str:
    """Upload every file under ``directory`` to model repo ``repo_id`` in one ``create_commit``.

    A repo pushed to before (a CI job republishing its winner) keeps nothing stale of that push: the files its
    :data:`MANIFEST` lists and this export lacks (the previous winner's ``preprocessor_config.json`` when a timm
    model replaces a transformers one, a plot no longer made) are deleted in the same commit. Files hf-quicktune
    did not push (the owner's own) are never touched.

    Transient failures (HTTP 429/5xx, timeouts, dropped connections) are retried up to ``retries``
    attempts with exponential backoff; a refused token, missing permission or bad repo id fails at
    once (:func:`hf_quicktune.hub.call`). Returns the repo URL. On failure raises :class:`HubError`
    that names the local export directory (nothing is lost) and hides the token.
    """
    import json

    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, get_token

    from hf_quicktune import __version__, hub

    directory = Path(directory)
    token = token or get_token()
    if not token:
        raise HubError(f"cannot push to {repo_id!r}: no Hugging Face token found; the complete export is in "
                       f"{directory}.", input=repo_id, fix=LOGIN_FIX, code="no_token")
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    api = HfApi(token=token, library_name="hf-quicktune")
    attempts = 0

    def commit() -> str:
        nonlocal attempts
        attempts += 1
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        faults.point("push.commit")  # the reliability tests kill here: repo created, commit not made
        paths = [p.relative_to(directory).as_posix() for p in files]
        ops: list = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(p)) for path, p in zip(paths, files)]
        stale = _stale_files(api, url.repo_id, paths)
        if stale:
            logger.info("removing %d file(s) an earlier push wrote and this export does not have: %s", len(stale),
                        ", ".join(stale))
        ops += [CommitOperationDelete(path_in_repo=path) for path in stale]
        manifest = {"tool": "hf-quicktune", "version": __version__, "files": sorted(paths)}
        ops.append(CommitOperationAdd(path_in_repo=MANIFEST, path_or_fileobj=json.dumps(manifest, indent=1).encode()))
        api.create_commit(url.repo_id, ops, commit_message=commit_message, repo_type="model")
        logger.info("pushed %d files to %s", len(paths), url)
        return str(url)

    try:
        return hub.call(commit, repo_id=repo_id, action="push to", token=token, retries=retries, backoff_s=backoff_s)
    except HubError as err:
        raise HubError(
            f"pushing to {repo_id!r} failed after {attempts} attempt{'s' if attempts != 1 else ''}: "
            f"{redact(err.message, token)} The run is not lost: the complete export is in {directory}.",
            input=repo_id, code=err.code, status=err.status,
            fix=f"{err.fix} Then upload that folder, e.g. `hf upload {repo_id} {directory}`.",
        ) from None


def _stale_files(api, repo_id: str, paths: list[str]) -> list[str]:
    """The files the repo's :data:`MANIFEST` (the last push) lists, the repo still holds, and ``paths`` lacks."""
    import json

    remote = set(api.list_repo_files(repo_id, repo_type="model"))
    if MANIFEST not in remote:
        return []
    with open(api.hf_hub_download(repo_id, MANIFEST, repo_type="model"), encoding="utf-8") as fh:
        try:
            pushed = set(json.load(fh).get("files") or [])
        except (ValueError, AttributeError):  # not our manifest after all: touch nothing
            return []
    return sorted((pushed & remote) - set(paths) - {MANIFEST})
