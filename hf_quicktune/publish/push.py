"""Push a complete export directory to the Hub in ONE commit, creating the repo if needed.

The token comes from the argument, ``HF_TOKEN`` or the stored login (``huggingface_hub.get_token``)
and never appears in a message: every error text goes through :func:`redact`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from hf_quicktune.errors import HubError

logger = logging.getLogger(__name__)


def redact(text: str, token: str | None) -> str:
    """``text`` with every occurrence of ``token`` replaced by ``***``."""
    text = str(text)
    if token:
        text = text.replace(token, "***")
    return text


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

    Retried ``retries`` times with exponential backoff. Returns the repo URL. On final failure raises
    :class:`HubError` that names the local export directory (nothing is lost) and hides the token.
    """
    from huggingface_hub import CommitOperationAdd, HfApi, get_token

    directory = Path(directory)
    token = token or get_token()
    if not token:
        raise HubError(
            f"cannot push to {repo_id!r}: no Hugging Face token found. Set HF_TOKEN or run `hf auth login`; "
            f"the complete export is in {directory}."
        )
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    api = HfApi(token=token, library_name="hf-quicktune")
    last: Exception | None = None
    for attempt in range(1, retries + 1):
        try:
            url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
            ops = [CommitOperationAdd(path_in_repo=p.relative_to(directory).as_posix(), path_or_fileobj=str(p))
                   for p in files]
            api.create_commit(url.repo_id, ops, commit_message=commit_message, repo_type="model")
            logger.info("pushed %d files to %s", len(ops), url)
            return str(url)
        except Exception as err:  # noqa: BLE001 - network/HTTP errors of any kind are retried
            last = err
            if attempt < retries:
                wait = backoff_s * 2 ** (attempt - 1)
                logger.warning("push to %s failed (attempt %d/%d): %s; retrying in %.0f s", repo_id, attempt,
                               retries, redact(f"{type(err).__name__}: {err}", token), wait)
                time.sleep(wait)
    reason = redact(f"{type(last).__name__}: {last}", token).strip().splitlines()
    raise HubError(
        f"pushing to {repo_id!r} failed after {retries} attempts ({reason[0] if reason else 'unknown error'}). "
        f"The run is not lost: the complete export is in {directory}. Fix the cause (token permissions, "
        f"network, repo name) and upload that folder, e.g. `hf upload {repo_id} {directory}`."
    ) from None
