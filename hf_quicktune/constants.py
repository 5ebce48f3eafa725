"""Environment-driven settings in one place (read at call time, never at import)."""

from __future__ import annotations

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

    One cheap request (:func:`hf_quicktune.hub.reachable`), remembered per endpoint (no answer for a minute)."""
    if hub_offline():
        return False
    from hf_quicktune.hub import reachable

    return reachable(timeout)


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
