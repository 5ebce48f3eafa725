"""Environment-driven settings in one place (read at call time, never at import)."""

from __future__ import annotations

import functools
import os
from pathlib import Path


def cache_dir() -> Path:
    """Where hf-quicktune caches features and small artefacts.

    ``HF_QUICKTUNE_CACHE`` wins; otherwise ``$HF_HOME/assets/hf_quicktune`` (the HF assets cache).
    """
    env = os.environ.get("HF_QUICKTUNE_CACHE")
    if env:
        return Path(env).expanduser()
    hf_home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")).expanduser()
    return Path(os.environ.get("HF_ASSETS_CACHE", hf_home / "assets")) / "hf_quicktune"


def hub_offline() -> bool:
    """True when the user asked for no Hub traffic (``HF_HUB_OFFLINE=1``)."""
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}


def hub_reachable(timeout: float = 3.0) -> bool:
    """False in offline mode (``HF_HUB_OFFLINE=1``) or when the Hub endpoint (``HF_ENDPOINT``) does not answer.

    One cheap request, cached per endpoint for the process; any HTTP answer counts as reachable."""
    if hub_offline():
        return False
    from huggingface_hub import constants

    return _endpoint_answers(constants.ENDPOINT, timeout)


@functools.lru_cache(maxsize=8)
def _endpoint_answers(endpoint: str, timeout: float) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{endpoint.rstrip('/')}/api/models?limit=1", timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True  # the server answered
    except (urllib.error.URLError, OSError, ValueError):
        return False


def recipes_dir() -> Path:
    """The shipped recipes (spaces, zoos, run recipes).

    ``HF_QUICKTUNE_RECIPES`` wins; in a source checkout it is the repository's top-level ``recipes/``;
    in an installed wheel the same files are packaged as ``hf_quicktune/recipes`` (pyproject's package-dir).
    """
    env = os.environ.get("HF_QUICKTUNE_RECIPES")
    if env:
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parents[1] / "recipes"
    if checkout.is_dir():
        return checkout
    return Path(__file__).resolve().parent / "recipes"
