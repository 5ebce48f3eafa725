"""The Space's "Try it" loads an export as its users would: a transformers winner through transformers (it was
loaded through timm, which cannot read it)."""

from __future__ import annotations

import sys

import torch

from .conftest import SPACE_DIR

sys.path.insert(0, str(SPACE_DIR))
from qt_space import models  # noqa: E402


def _transformers_export(folder, interpolate: bool):
    """An export as hf-quicktune writes a transformers winner (train/export.py): a ViT built for 32 px,
    fine-tuned at 64 px (so its forward needs ``interpolate_pos_encoding``), labels, its image processor."""
    from transformers import BitImageProcessor, ViTConfig, ViTForImageClassification

    torch.manual_seed(0)
    model = ViTForImageClassification(ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1,
                                                num_attention_heads=2, intermediate_size=64, num_labels=3)).eval()
    model.config.id2label = {0: "cat", 1: "dog", 2: "owl"}
    model.config.label2id = {"cat": 0, "dog": 1, "owl": 2}
    model.config.hf_quicktune = {"image_size": 64, "interpolate_pos_encoding": interpolate}
    model.save_pretrained(folder)
    processor = BitImageProcessor(size={"shortest_edge": 73}, crop_size={"height": 64, "width": 64},
                                  image_mean=[0.5] * 3, image_std=[0.5] * 3)
    processor.save_pretrained(folder)
    return model, processor


def test_a_transformers_export_is_classified_with_its_processor_and_labels(tmp_path):
    from PIL import Image

    model, processor = _transformers_export(tmp_path / "export", interpolate=True)
    image = Image.new("RGB", (90, 70), (200, 30, 60))
    probs = models.classify(image, str(tmp_path / "export"), top_k=3)
    assert set(probs) == {"cat", "dog", "owl"} and abs(sum(probs.values()) - 1) < 1e-5
    with torch.no_grad():
        pixels = processor(image, return_tensors="pt")["pixel_values"]
        expected = model(pixel_values=pixels, interpolate_pos_encoding=True).logits.softmax(-1)[0]
    assert [round(probs[n], 5) for n in ("cat", "dog", "owl")] == [round(float(p), 5) for p in expected]


def test_classifying_many_reports_progress_and_the_uploads_own_paths(tmp_path):
    """/predict_many's work (models.classify_many): the bar moves after each batch to all the images; the CSV names
    each image by the upload, a labelled one with its true class."""
    import csv
    import zipfile

    from PIL import Image

    _transformers_export(tmp_path / "export", interpolate=True)
    (tmp_path / "upload").mkdir()
    with zipfile.ZipFile(tmp_path / "upload" / "test.zip", "w") as zf:
        for i in range(40):
            image = tmp_path / f"{i}.png"
            Image.new("RGB", (40, 40), (10 * i % 255, 30, 60)).save(image)
            zf.write(image, f"test/{('cat', 'dog', 'owl')[i % 3]}/{i}.png")
    seen: list[tuple[int, int]] = []
    out, line = models.classify_many(str(tmp_path / "upload" / "test.zip"), str(tmp_path / "export"),
                                     tmp_path / "out", progress=lambda done, total: seen.append((done, total)))
    assert seen == [(32, 40), (40, 40)]
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["path"] for r in rows][:2] == ["test.zip:test/cat/0.png", "test.zip:test/cat/12.png"]
    assert all(r["true"] == r["path"].split("/")[1] for r in rows) and "40 image(s) of `test.zip` classified" in line
