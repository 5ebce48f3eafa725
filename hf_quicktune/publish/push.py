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

__all__ = ["push_to_hub", "redact"]


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

    Transient failures (HTTP 429/5xx, timeouts, dropped connections) are retried up to ``retries``
    attempts with exponential backoff; a refused token, missing permission or bad repo id fails at
    once (:func:`hf_quicktune.hub.call`). Returns the repo URL. On failure raises :class:`HubError`
    that names the local export directory (nothing is lost) and hides the token.
    """
    from huggingface_hub import CommitOperationAdd, HfApi, get_token

    from hf_quicktune import hub

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
        ops = [CommitOperationAdd(path_in_repo=p.relative_to(directory).as_posix(), path_or_fileobj=str(p))
               for p in files]
        api.create_commit(url.repo_id, ops, commit_message=commit_message, repo_type="model")
        logger.info("pushed %d files to %s", len(ops), url)
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
