"""Write a fine-tuned timm model so that ``timm.create_model("hf-hub:org/name", pretrained=True)``
(or ``"local-dir:PATH"``) rebuilds it as it is: ``model.safetensors`` + timm's ``config.json``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def export_timm_model(
    model: Any,
    directory: str | Path,
    *,
    label_names: Sequence[str],
    data_config: Mapping[str, Any],
    extra_config: Mapping[str, Any] | None = None,
    model_args: Mapping[str, Any] | None = None,
) -> Path:
    """Save ``model`` (a timm model) to ``directory`` in timm's Hub format.

    ``data_config`` is the preprocessing the model was fine-tuned and evaluated with
    (``input_size``, ``mean``, ``std``, ``interpolation``, ``crop_pct``); it becomes the
    ``pretrained_cfg`` of the export, so timm's ``resolve_data_config`` reproduces it.
    ``config.json`` holds ``architecture``, ``num_classes``, ``label_names`` and ``pretrained_cfg``;
    ``model_args`` (e.g. the ``img_size`` a ViT was fine-tuned at) go to its ``model_args``, which
    ``timm.create_model`` passes back to the constructor.
    """
    from timm.models import save_for_hf

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if len(label_names) != getattr(model, "num_classes", len(label_names)):
        raise ValueError(f"{len(label_names)} label names for a model with {model.num_classes} classes")
    dc = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data_config.items()
          if k in ("input_size", "mean", "std", "interpolation", "crop_pct", "crop_mode")}
    model_config: dict[str, Any] = {"label_names": list(label_names)}
    model.eval()
    # the preprocessing goes into pretrained_cfg below, not through save_for_hf(data_config=...): timm
    # before 1.0.30 has no such argument (seen on timm 1.0.29: every export failed with a TypeError)
    save_for_hf(model, str(directory), model_config=model_config, safe_serialization=True)
    cfg_path = directory / "config.json"
    cfg = json.loads(cfg_path.read_text())
    # the training preprocessing, not the pretrained model's: timm's resolve_data_config reads these
    pcfg = cfg.setdefault("pretrained_cfg", {})
    for key, value in dc.items():
        pcfg[key] = list(value) if isinstance(value, tuple) else value
    # the pretrained checkpoint's test-time sizes do not hold for this fine-tune (timm's data_config drops them too)
    if "input_size" in dc:
        pcfg.pop("test_input_size", None)
        pcfg.pop("test_pool_size", None)
    if "crop_pct" in dc:
        pcfg.pop("test_crop_pct", None)
    if model_args:  # timm >= 1.0.31 records them itself; older ones do not
        cfg["model_args"] = {**(cfg.get("model_args") or {}), **dict(model_args)}
    # num_classes is the config's own key (timm builds the head from it); in model_args too (timm 1.0.31 puts it
    # there), transformers' TimmWrapper passed it twice and its pipeline could not load the export
    if "model_args" in cfg:
        cfg["model_args"].pop("num_classes", None)
        if not cfg["model_args"]:
            del cfg["model_args"]
    if extra_config:
        cfg.update(dict(extra_config))
    cfg_path.write_text(json.dumps(cfg, indent=2))
    for stale in ("pytorch_model.bin",):
        (directory / stale).unlink(missing_ok=True)
    logger.info("exported %s to %s", cfg.get("architecture"), directory)
    return directory
