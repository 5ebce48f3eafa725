"""Priors on the Hugging Face Hub: push a prior directory as a model repo, load one by repo id.

A prior repo holds the files of :meth:`hf_quicktune.search.prior.Prior.save` (``prior.json``,
``surrogate.safetensors``, ``cost_model.safetensors``, ``zero_shot.json``) plus a short README (model card).
``load_prior(spec)`` accepts a local directory or ``owner/name[@revision]``.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from hf_quicktune.errors import MetaError

logger = logging.getLogger(__name__)

PRIOR_FILES = ("prior.json", "surrogate.safetensors", "cost_model.safetensors", "zero_shot.json", "README.md")


def _card(prior_dir: Path) -> str:
    meta = json.loads((prior_dir / "prior.json").read_text())
    prov = meta.get("provenance") or {}
    splits = prov.get("splits") or {}
    lines = [
        "---", "library_name: hf-quicktune", "tags:", "- hf-quicktune", "- quick-tune-prior", "---", "",
        "# Quick-Tune prior", "",
        "A meta-learned deep-kernel GP surrogate and cost model for `hf-quicktune` "
        "(Arango et al., *Quick-Tune*, ICLR 2024).", "",
        f"- meta-dataset: `{prov.get('source')}` ({prov.get('runs')} runs)",
        f"- datasets: {len(splits.get('train', []))} train / {len(splits.get('val', []))} validation / "
        f"{len(splits.get('test', []))} held-out",
        f"- validation MSE: {prov.get('val_mse')}, held-out MSE: {prov.get('test_mse')}",
        "", "Use it: `hf-quicktune run ... --prior <this repo id>`", "",
    ]
    return "\n".join(lines)


def push_prior(prior_dir: str | Path, repo_id: str, *, token: str | None = None, private: bool = False,
               endpoint: str | None = None, commit_message: str = "Upload Quick-Tune prior") -> str:
    """Upload a saved prior directory to ``repo_id`` (created if needed); returns the commit URL/oid."""
    from huggingface_hub import HfApi

    from hf_quicktune import hub

    prior_dir = Path(prior_dir)
    if not (prior_dir / "prior.json").is_file():
        raise MetaError(f"{prior_dir} has no prior.json; train a prior with `hf-quicktune meta train` first")
    api = HfApi(endpoint=endpoint, token=token)
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        for name in PRIOR_FILES:
            if (prior_dir / name).is_file():
                (staging / name).write_bytes((prior_dir / name).read_bytes())
        if not (staging / "README.md").exists():
            (staging / "README.md").write_text(_card(prior_dir))
        def upload():
            api.create_repo(repo_id, private=private, exist_ok=True)
            return api.upload_folder(repo_id=repo_id, folder_path=staging, commit_message=commit_message)

        info = hub.call(upload, repo_id=repo_id, action="push the prior to", token=token)
    logger.info("pushed prior %s to %s", prior_dir, repo_id)
    return str(getattr(info, "oid", None) or getattr(info, "commit_url", info))


def load_prior(spec: str | Path, *, token: str | None = None, endpoint: str | None = None) -> Any:
    """A :class:`~hf_quicktune.search.prior.Prior` from a local directory or a Hub repo id."""
    from hf_quicktune.search.prior import Prior

    return Prior.load(prior_files(spec, token=token, endpoint=endpoint))


def prior_files(spec: str | Path, *, token: str | None = None, endpoint: str | None = None) -> Path:
    """The local directory of a prior: ``spec`` itself when it exists, else the Hub repo ``owner/name[@revision]``'s
    prior files, downloaded (or found in the Hub cache)."""
    path = Path(spec)
    if path.exists():
        return path
    text = str(spec)
    repo_id, _, revision = text.partition("@")
    if repo_id.count("/") != 1:
        raise MetaError(f"{spec!r} is neither a prior directory nor a Hub repo id (owner/name[@revision])")
    from hf_quicktune import hub

    local = hub.snapshot(repo_id, revision=revision or None, allow_patterns=list(PRIOR_FILES[:4]), token=token,
                         endpoint=endpoint, fix="Or pass a local prior directory (`hf-quicktune meta train` "
                         "saves one).")
    return Path(local)
