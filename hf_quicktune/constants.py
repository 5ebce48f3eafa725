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
