"""Classify an image with a run's export (``run:NAME``), a local export folder or a published model (``org/name``).

Models load as a user of the published model would load them: a timm export through timm (``local-dir:`` /
``hf-hub:``, with the preprocessing stored in its ``config.json``), a transformers export through
``AutoModelForImageClassification`` and its ``AutoImageProcessor``.
"""

from __future__ import annotations

import json
import os
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from hf_quicktune.data.transforms import ToRGB
from hf_quicktune.errors import ConfigError

_LOCK = threading.Lock()


def resolve(model_ref: str) -> str:
    """timm's model name for ``run:NAME`` (a run of this Space), a local export folder or a Hub id."""
    ref = (model_ref or "").strip()
    if ref.startswith("run:"):
        from qt_space.jobs import run_dir

        try:
            export = run_dir(ref[4:]) / "export"
        except ValueError as err:
            raise ConfigError(str(err)) from None
        if not (export / "config.json").is_file():
            raise ConfigError(f"{ref} has no exported model yet: run a search to the end (or press Finish now).")
        return f"local-dir:{export}"
    if ref and os.path.isdir(ref):
        return f"local-dir:{ref}"
    if re.fullmatch(r"[\w.-]+/[\w.-]+", ref):
        return f"hf-hub:{ref}"
    raise ConfigError("no model to classify with: run a search first, or type a model repo id made by "
                      "hf-quicktune (org/name).")


def _config(name: str) -> dict[str, Any]:
    """The ``config.json`` of ``local-dir:PATH`` or ``hf-hub:REPO``."""
    if name.startswith("local-dir:"):
        path = Path(name[len("local-dir:"):]) / "config.json"
    else:
        from hf_quicktune import hub

        path = hub.download(name[len("hf-hub:"):], "config.json")
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _load_transformers(name: str) -> tuple[Any, Any, list[str]]:
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    source = name.split(":", 1)[1]
    model = AutoModelForImageClassification.from_pretrained(source).eval()
    processor = AutoImageProcessor.from_pretrained(source)
    extra = {"interpolate_pos_encoding": True} if (
        getattr(model.config, "hf_quicktune", None) or {}).get("interpolate_pos_encoding") else {}

    def logits(pixels):
        return model(pixel_values=pixels, **extra).logits

    def transform(image):
        return processor(image, return_tensors="pt")["pixel_values"][0]

    id2label = model.config.id2label or {}
    return logits, transform, [str(id2label.get(i, i)) for i in range(model.config.num_labels)]


@lru_cache(maxsize=4)
def _load(name: str, version: str = "") -> tuple[Any, Any, list[str]]:
    """``version`` changes when a local export is rewritten (its weights' mtime), so it is reloaded."""
    import timm
    from timm.data import create_transform, resolve_data_config

    config = _config(name)
    if "architecture" not in config and config.get("architectures"):  # a transformers export
        return _load_transformers(name)
    model = timm.create_model(name, pretrained=True).eval()
    transform = create_transform(**resolve_data_config({}, model=model))
    labels = model.pretrained_cfg.get("label_names") or [str(i) for i in range(model.num_classes)]
    return model, transform, list(labels)


def load(model_ref: str) -> tuple[Any, Any, list[str]]:
    """(model, eval transform, class names); a run's export is reloaded when it changed on disk."""
    name = resolve(model_ref)
    version = ""
    if name.startswith("local-dir:"):
        weights = Path(name[len("local-dir:"):]) / "model.safetensors"
        version = str(weights.stat().st_mtime_ns) if weights.exists() else ""
    with _LOCK:
        return _load(name, version)


def classify(image, model_ref: str, top_k: int = 5) -> dict[str, float]:
    """Probabilities of the ``top_k`` most likely classes (by name) for a PIL image."""
    import torch

    if image is None:
        raise ConfigError("no image given: upload one or click an example.")
    model, transform, labels = load(model_ref)
    with torch.no_grad():
        probs = model(transform(ToRGB()(image)).unsqueeze(0)).softmax(-1)[0]
    values, indices = probs.topk(min(top_k, len(labels)))
    return {labels[i]: float(v) for v, i in zip(values.tolist(), indices.tolist())}


def example_images(dataset_spec: str, out_dir: Path, n: int = 8, seed: int = 0) -> list[tuple[str, str, str]]:
    """``n`` validation images of the run's dataset, one class after another, saved as PNG:
    (image as in the dataset, a copy at least 128 px wide for display, true label)."""
    from hf_quicktune.data import load as load_dataset

    ds = load_dataset(dataset_spec, seed=seed)
    split = ds.test if ds.test is not None else ds.validation
    names = ds.class_names
    out_dir.mkdir(parents=True, exist_ok=True)
    picked: list[tuple[str, str, str]] = []
    seen: set[int] = set()
    for i in range(len(split)):
        label = int(split[i]["label"])
        if label in seen and len(seen) < min(n, len(names)):
            continue
        seen.add(label)
        image = ToRGB()(split[i]["image"])
        path, shown = out_dir / f"example-{len(picked)}.png", out_dir / f"example-{len(picked)}-shown.png"
        image.save(path)
        display_copy(image).save(shown)  # 8x8 digits are unreadable at their own size
        picked.append((str(path), str(shown), names[label]))
        if len(picked) >= n:
            break
    return picked


def display_copy(image, min_side: int = 128):
    """``image`` enlarged (nearest neighbour) so that its short side is at least ``min_side`` pixels."""
    scale = max(1, -(-min_side // max(1, min(image.size))))
    return image.resize((image.width * scale, image.height * scale), resample=0) if scale > 1 else image
