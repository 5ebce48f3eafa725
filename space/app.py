"""Gradio demo for the Hugging Face Space: classify an image with a model published by hf-quicktune.

Run locally with ``pip install "hf-quicktune[space]"`` then ``python space/app.py``; set
``QUICKTUNE_MODEL`` to the model repo (``org/name``) or a local export directory.
"""

from __future__ import annotations

import os
from functools import lru_cache

MODEL = os.environ.get("QUICKTUNE_MODEL", "quicktune-demo/export")


@lru_cache(maxsize=1)
def load(model_ref: str = MODEL):
    """(model, transform, label names) for a Hub id or a local export directory."""
    import timm
    from timm.data import create_transform, resolve_data_config

    name = f"local-dir:{model_ref}" if os.path.isdir(model_ref) else f"hf-hub:{model_ref}"
    model = timm.create_model(name, pretrained=True).eval()
    cfg = resolve_data_config({}, model=model)
    labels = model.pretrained_cfg.get("label_names") or [str(i) for i in range(model.num_classes)]
    return model, create_transform(**cfg), list(labels)


def predict(image, top_k: int = 5) -> dict[str, float]:
    """Class probabilities of the top-k classes for a PIL image."""
    import torch

    model, transform, labels = load()
    with torch.no_grad():
        probs = model(transform(image.convert("RGB")).unsqueeze(0)).softmax(-1)[0]
    values, indices = probs.topk(min(top_k, len(labels)))
    return {labels[i]: float(v) for v, i in zip(values.tolist(), indices.tolist())}


def build_app():
    try:
        import gradio as gr
    except ImportError as err:  # pragma: no cover - optional extra
        raise SystemExit('The Space app needs gradio: pip install "hf-quicktune[space]"') from err
    return gr.Interface(
        fn=predict,
        inputs=gr.Image(type="pil"),
        outputs=gr.Label(num_top_classes=5),
        title="hf-quicktune model",
        description=f"Image classifier found and fine-tuned by hf-quicktune ({MODEL}).",
    )


if __name__ == "__main__":  # pragma: no cover
    build_app().launch()
