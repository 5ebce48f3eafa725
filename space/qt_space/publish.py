"""Push a run's export to the Hub with the *visitor's* token (gradio's OAuth login), never the Space's.

The card written at the end of the run shows how to load the model from where it was exported; the pushed copy
loads it from the repo instead (:func:`hf_quicktune.publish.card.retarget_card`).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from hf_quicktune.errors import ConfigError, HubError

#: the access token gradio's *local* (not on a Space) login mock hands out instead of a real one
LOCAL_MOCK_TOKEN = "mock-oauth-token-for-local-dev"


def visitor_token(oauth_token) -> str:
    """The logged-in visitor's token. Running locally (not on a Space), gradio's login is a mock that
    stands for the developer's own login, so their local token is used."""
    token = getattr(oauth_token, "token", None)
    if not token:
        raise HubError("log in with the Hugging Face button first: the model is pushed to your account with "
                       "your own token.")
    if token == LOCAL_MOCK_TOKEN and not os.environ.get("SPACE_ID"):
        from huggingface_hub import get_token

        token = get_token()
        if not token:
            raise HubError("running locally, the login button stands for your local Hugging Face login, and "
                           "there is none: run `hf auth login` or set HF_TOKEN.")
    return token


def push_export(export_dir: Path, repo_id: str, oauth_token, private: bool = False) -> str:
    """Push ``export_dir`` to model repo ``repo_id`` in one commit; returns its URL."""
    from hf_quicktune.publish import push_to_hub

    repo_id = (repo_id or "").strip()
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo_id):
        raise ConfigError(f"{repo_id!r} is not a repo id; use your-name/model-name.")
    if not (export_dir / "config.json").is_file():
        raise ConfigError("there is no exported model to push yet: run a search to the end first.")
    token = visitor_token(oauth_token)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(shutil.copytree(export_dir, Path(tmp) / "export"))
        card = copy / "README.md"
        if card.exists():
            from hf_quicktune.publish.card import retarget_card

            card.write_text(retarget_card(card.read_text(), repo_id))
        return push_to_hub(copy, repo_id, private=private, token=token,
                           commit_message="Add model fine-tuned by hf-quicktune (from the hf-quicktune Space)")
