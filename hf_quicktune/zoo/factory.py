"""``create_model(candidate)``: one factory for every candidate source, timm API on the result.

Weights policy: safetensors whenever they exist; pickled checkpoints from the Hub or disk are
refused unless ``allow_pickle=True``; ``trust_remote_code`` is never enabled.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hf_quicktune.errors import ZooError
from hf_quicktune.zoo.availability import PICKLE_FILES, SAFE_FILES
from hf_quicktune.zoo.candidate import Candidate

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

logger = logging.getLogger(__name__)


def _pickle_refused(what: str) -> ZooError:
    return ZooError(
        f"{what} only has pickled PyTorch weights (no model.safetensors). Unpickling can run arbitrary code, "
        "so hf-quicktune refuses it by default; pass --allow-pickle (allow_pickle=True) if you trust the source."
    )


def _hub_weights(repo_id: str, allow_pickle: bool, revision: str | None = None) -> str:
    """Download (or find in cache) the repo's weights file, safetensors first (:func:`hf_quicktune.hub.download`)."""
    from hf_quicktune import hub

    def fetch(filename: str) -> str | None:
        try:
            return str(hub.download(repo_id, filename, revision=revision, cls=ZooError,
                                    fix="Or use the offline zoo (--zoo offline)."))
        except ZooError as err:
            if err.code == "file_not_found":
                return None
            raise

    for filename in SAFE_FILES:
        path = fetch(filename)
        if path is not None:
            return path
    for filename in PICKLE_FILES:
        path = fetch(filename)
        if path is None:
            continue
        if not allow_pickle:
            raise _pickle_refused(f"The Hub repo '{repo_id}'")
        return path
    raise ZooError(f"The Hub repo '{repo_id}' has no weights file ({', '.join(SAFE_FILES + PICKLE_FILES)}).")


def _load_file(path: str, allow_pickle: bool) -> dict[str, Any]:
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path)
    if not allow_pickle:
        raise _pickle_refused(f"The checkpoint {path}")
    import torch

    sd = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
    return sd


def _set_head(model: nn.Module, num_classes: int | None) -> nn.Module:
    if num_classes is not None and num_classes != getattr(model, "num_classes", None):
        model.reset_classifier(num_classes)
    return model


def _timm_with_file(arch: str, file: str, allow_pickle: bool, tag: str | None, timm_kwargs: dict) -> nn.Module:
    import timm

    if not file.endswith(".safetensors") and not allow_pickle:
        raise _pickle_refused(f"The checkpoint {file}")
    name = f"{arch}.{tag}" if tag else arch
    return timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": file}, **timm_kwargs)


def _local_model(cand: Candidate, allow_pickle: bool, timm_kwargs: dict) -> nn.Module:
    import timm

    path = Path(os.path.expanduser(cand.path or ""))
    if not path.exists():
        raise ZooError(f"Local candidate '{cand.name}': {path} does not exist. Pass an existing directory or checkpoint file.")
    arch = cand.architecture
    if path.is_dir():
        config = path / "config.json"
        if config.is_file():
            meta = json.loads(config.read_text())
            arch = meta.get("architecture") or arch
        files = [path / f for f in SAFE_FILES + PICKLE_FILES if (path / f).is_file()]
        if not files:
            raise ZooError(f"Local candidate '{cand.name}': {path} holds no model.safetensors (or pytorch_model.bin).")
        file = str(files[0])
    else:
        file = str(path)
    if not timm.models.is_model(arch):
        raise ZooError(
            f"Local candidate '{cand.name}': unknown timm architecture '{arch}'. Give `architecture` in the zoo "
            "entry or a config.json with an 'architecture' key next to the weights."
        )
    sd = _load_file(file, allow_pickle)
    n_out = None
    for key in ("classifier.weight", "head.fc.weight", "head.weight", "fc.weight"):
        if key in sd:
            n_out = sd[key].shape[0]
            break
    model = timm.create_model(arch, pretrained=False, num_classes=n_out or 1000, **timm_kwargs)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise ZooError(
            f"Local candidate '{cand.name}': the checkpoint does not fit '{arch}' "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]}). Check the architecture name."
        )
    return model


def _transformers_model(cand: Candidate, allow_pickle: bool) -> nn.Module:
    from transformers import AutoModelForImageClassification

    from hf_quicktune.zoo.transformers_adapter import TimmStyleAdapter

    try:
        model = AutoModelForImageClassification.from_pretrained(
            cand.hub_id or cand.path, use_safetensors=None if allow_pickle else True, trust_remote_code=False
        )
    except OSError as err:
        msg = str(err)
        if "safetensors" in msg.lower() and not allow_pickle:
            raise _pickle_refused(f"The transformers model '{cand.hub_id}'") from err
        raise ZooError(f"Could not load the transformers model '{cand.hub_id}': {msg}") from err
    return TimmStyleAdapter(model)


def create_model(
    candidate: Candidate | str, num_classes: int | None = None, *, allow_pickle: bool | None = None,
    image_size: int | None = None, **timm_kwargs: Any
) -> nn.Module:
    """Build ``candidate`` with its weights; ``num_classes`` replaces the head (None keeps it).

    Pickled checkpoints are refused unless ``allow_pickle`` is True, or it is None and the
    candidate was marked with :func:`allow_pickle` (what ``--allow-pickle`` does on the CLI).
    ``image_size``: the input size it will see; a transformer built for another one is built for it, its
    pretrained position embeddings resampled by timm (:mod:`~hf_quicktune.zoo.input_size`).

    The result has timm's ``forward_features`` / ``forward_head(x, pre_logits=True)`` API and
    ``pretrained_cfg``. ``timm_kwargs`` go to ``timm.create_model`` (``drop_rate`` ...).
    """
    from hf_quicktune.zoo.input_size import size_args
    from hf_quicktune.zoo.registry import get_candidate

    cand = get_candidate(candidate) if isinstance(candidate, str) else candidate
    if allow_pickle is None:
        allow_pickle = bool(cand.extra.get("allow_pickle", False))
    sized = size_args(cand, image_size)
    if not sized:
        return _build(cand, num_classes, allow_pickle, timm_kwargs)
    try:
        return _build(cand, num_classes, allow_pickle, {**sized, **timm_kwargs})
    except (RuntimeError, ZooError) as err:  # load_state_dict: a pretrained tensor timm does not resample
        mismatch = next((line.strip() for line in str(err).splitlines() if "size mismatch" in line), None)
        if mismatch is None:
            raise
        raise ZooError(
            f"{cand.name} is built for {cand.input_size[-1]} px and timm cannot resample its pretrained weights to "
            f"{image_size} px ({mismatch[:200]})",
            input=cand.name, code="fixed_input_size",
            fix="Train it at its own size (leave out --image-size), or leave it out of the zoo.",
        ) from err


def _build(cand: Candidate, num_classes: int | None, allow_pickle: bool, timm_kwargs: dict[str, Any]) -> nn.Module:
    import timm

    if cand.library == "transformers":
        model = _transformers_model(cand, allow_pickle)
    elif cand.source == "scratch":
        model = timm.create_model(cand.architecture, pretrained=False, **timm_kwargs)
    elif cand.source == "package":
        from hf_quicktune.zoo.package_weights import package_spec, package_state_dict

        spec = package_spec(cand.architecture)
        if cand.extra.get("package") not in (None, spec.package):
            raise ZooError(
                f"Candidate '{cand.name}' names package '{cand.extra['package']}', but the weights of "
                f"{cand.architecture} come from '{spec.package}'. Fix the zoo entry."
            )
        model = timm.create_model(f"{cand.architecture}.in1k", pretrained=False, **timm_kwargs)
        model.load_state_dict(package_state_dict(cand.architecture), strict=True)
    elif cand.source == "local":
        model = _local_model(cand, allow_pickle, timm_kwargs)
    elif cand.source == "hf-hub":
        if not cand.hub_id:
            raise ZooError(f"Candidate '{cand.name}' comes from the Hub but names no hub_id; set hub_id: org/name.")
        _hub_weights(cand.hub_id, allow_pickle)
        try:
            model = timm.create_model(f"hf-hub:{cand.hub_id}", pretrained=True, **timm_kwargs)
        except Exception as err:
            raise ZooError(f"Could not build the timm model 'hf-hub:{cand.hub_id}': {type(err).__name__}: {err}") from err
    else:  # timm name with pretrained tag, weights on the Hub (timm/ org) or in the HF cache
        if not cand.hub_id:
            raise ZooError(f"timm has no downloadable weights for '{cand.name}'. Use another tag or a scratch:{cand.architecture} baseline.")
        file = _hub_weights(cand.hub_id, allow_pickle)
        model = _timm_with_file(cand.architecture, file, allow_pickle, cand.pretrained_tag, timm_kwargs)
    return _set_head(model, num_classes)

