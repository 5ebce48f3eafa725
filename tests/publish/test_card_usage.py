"""The card's "Use it" snippet, run as written against an exported model: it must classify an image as the run's
own evaluation did (the same probabilities), an 8-bit photo, a 16-bit image and a transparent one alike."""

from __future__ import annotations

import contextlib
import io
import re

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from hf_quicktune.data.transforms import build_transform
from hf_quicktune.publish import CardInfo, build_model_card
from hf_quicktune.publish.export import export_timm_model

DATA_CONFIG = {"input_size": (3, 32, 32), "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25),
               "interpolation": "bilinear", "crop_pct": 1.0}
LABELS = ["cat", "dog", "owl"]


def _card_code(ref: str, image_mode: str | None, image_format: str | None = None) -> str:
    card = str(build_model_card(CardInfo(
        model_name="org/result", base_model=None, candidate="test_efficientnet", architecture="test_efficientnet",
        dataset="org/data", dataset_is_hub=True, config={"lr": 0.001}, epochs=1, val_top1=0.5, test_top1=None,
        license="apache-2.0", budget="", budget_used_s=1.0, zoo="x", candidates=["test_efficientnet"], num_trials=1, num_steps=1,
        leaderboard=[], model_ref=ref, image_mode=image_mode, image_format=image_format)))
    return re.search(r"## Use it\n\n```python\n(.*?)\n```", card, re.S).group(1)


def _runs_as_evaluated(code: str, model, image: Image.Image, tmp_path, monkeypatch) -> None:
    """The card's ``code``, run as written in ``tmp_path``, gives the run's own evaluation of ``image``."""
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(code, scope)  # noqa: S102 - the card's own code
    with torch.no_grad():
        ours = model(build_transform(DATA_CONFIG, train=False)(image).unsqueeze(0))
    torch.testing.assert_close(scope["probs"], ours.softmax(-1))


@pytest.mark.parametrize(("mode", "image"), [
    ("RGB", lambda rng: Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))),
    ("I;16", lambda rng: Image.fromarray(rng.integers(1000, 4000, (40, 40), dtype=np.uint16))),  # 12 of 16 bits
    ("RGBA", lambda rng: Image.fromarray(rng.integers(0, 256, (40, 40, 4), dtype=np.uint8))),  # random alpha
])
def test_the_cards_snippet_classifies_as_the_runs_evaluation_did(tmp_path, monkeypatch, mode, image):
    torch.manual_seed(0)
    model = timm.create_model("test_efficientnet", num_classes=3).eval()
    out = export_timm_model(model, tmp_path / "export", label_names=LABELS, data_config=DATA_CONFIG)
    picture = image(np.random.default_rng(0))
    assert picture.mode == mode
    picture.save(tmp_path / "image.png")
    code = _card_code(f"local-dir:{out}", mode)
    assert ("np.nanmin" in code) == (mode == "I;16")  # the stretch only where training stretched
    assert ("alpha_composite" in code) == (mode == "RGBA")  # laid on white only where training had transparency
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(code.replace('"image.jpg"', '"image.png"'), scope)  # noqa: S102 - the card's own code
    with torch.no_grad():  # the run's evaluation: its transform (ToRGB stretches) on the trained model
        ours = model(build_transform(DATA_CONFIG, train=False)(Image.open(tmp_path / "image.png")).unsqueeze(0))
    torch.testing.assert_close(scope["probs"], ours.softmax(-1))
    assert printed.getvalue().strip() == LABELS[int(ours.argmax())]


def test_the_cards_transformers_pipeline_classifies_as_the_runs_evaluation_did(tmp_path, monkeypatch):
    """transformers' pipeline reads a timm export through its TimmWrapper: it failed to load ours (num_classes in
    config.json's model_args as well: "got multiple values for keyword argument 'num_classes'"); the card's line,
    run as written, gives the run's probabilities. Not offered for 16-bit images (it would not stretch them)."""
    torch.manual_seed(0)
    model = timm.create_model("test_efficientnet", num_classes=3).eval()
    out = export_timm_model(model, tmp_path / "export", label_names=LABELS, data_config=DATA_CONFIG,
                            model_args={"in_chans": 3})
    assert timm.create_model(f"local-dir:{out}", pretrained=True).num_classes == 3  # timm still builds its head
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "image.png")
    info = dict(model_name="org/result", base_model=None, candidate="test_efficientnet",
                architecture="test_efficientnet", dataset="org/data", dataset_is_hub=True, config={"lr": 0.001},
                epochs=1, val_top1=0.5, test_top1=None, license="apache-2.0", budget="", budget_used_s=1.0, zoo="x",
                candidates=["test_efficientnet"], num_trials=1, num_steps=1, leaderboard=[])
    card = str(build_model_card(CardInfo(**info, model_ref=f"local-dir:{out}", image_mode="RGB")))
    line = re.search(r"`(pipeline\(.*?\))`", card).group(1)
    assert line == f'pipeline("image-classification", model="{out}")("image.jpg")'
    monkeypatch.chdir(tmp_path)
    from transformers import pipeline

    scope: dict = {"pipeline": pipeline}
    result = eval(line.replace('"image.jpg"', '"image.png"'), scope)  # noqa: S307 - the card's own line
    with torch.no_grad():
        ours = model(build_transform(DATA_CONFIG, train=False)(Image.open(tmp_path / "image.png")).unsqueeze(0))
    expected = dict(zip(LABELS, ours.softmax(-1)[0].tolist(), strict=True))
    assert {r["label"]: r["score"] for r in result} == pytest.approx(expected, abs=1e-5)
    assert "pipeline(" not in str(build_model_card(CardInfo(**info, image_mode="I;16")))
    assert 'model="org/result"' in str(build_model_card(CardInfo(**info)))  # pushed: the repo's id


def test_the_cards_snippet_turns_a_phone_photo_upright_as_training_did(tmp_path, monkeypatch):
    """Training decodes images as datasets does, EXIF orientation applied (data/decoding.py); the snippet read the
    stored pixels, sideways for a phone photo taken upright."""
    from hf_quicktune.data.decoding import decode_image

    torch.manual_seed(0)
    model = timm.create_model("test_efficientnet", num_classes=3).eval()
    out = export_timm_model(model, tmp_path / "export", label_names=LABELS, data_config=DATA_CONFIG)
    pixels = np.zeros((30, 60, 3), dtype=np.uint8)
    pixels[:, :20] = (250, 20, 20)  # a red band on the left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    Image.fromarray(pixels).save(tmp_path / "image.jpg", exif=exif.tobytes(), quality=95)
    upright = decode_image(str(tmp_path / "image.jpg"))
    assert upright.size == (30, 60)  # what training saw: turned upright
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(_card_code(f"local-dir:{out}", "RGB"), scope)  # noqa: S102 - the card's own code
    with torch.no_grad():
        ours = model(build_transform(DATA_CONFIG, train=False)(upright).unsqueeze(0))
    torch.testing.assert_close(scope["probs"], ours.softmax(-1))


@pytest.mark.parametrize("window", [(2000, 3000), None])
def test_the_cards_snippet_opens_a_dicom_scan_as_training_did(tmp_path, monkeypatch, dicom_file, window):
    """A model trained on scans: the snippet opens a ``.dcm`` file through hf-quicktune's plugin, windowed (mode L)
    or stretched (mode F) as training read it."""
    torch.manual_seed(0)
    model = timm.create_model("test_efficientnet", num_classes=3).eval()
    out = export_timm_model(model, tmp_path / "export", label_names=LABELS, data_config=DATA_CONFIG)
    stored = np.random.default_rng(0).integers(500, 3500, (40, 40)).astype(np.uint16)
    scan = Image.open(dicom_file(tmp_path / "image.dcm", stored, window=window, photometric="MONOCHROME1"))
    code = _card_code(f"local-dir:{out}", scan.mode, scan.format)
    assert 'Image.open("image.dcm")' in code and ("np.nanmin" in code) == (window is None)
    _runs_as_evaluated(code, model, scan, tmp_path, monkeypatch)


def test_the_cards_snippet_reads_a_16_bit_colour_tiff_as_training_did(tmp_path, monkeypatch, tiff_bytes):
    """A model trained on 16-bit RGB TIFFs (satellite tiles): the snippet opens one through hf-quicktune's plugin
    (Pillow alone keeps each sample's top byte), and transformers' pipeline, which would not, is not offered."""
    torch.manual_seed(0)
    model = timm.create_model("test_efficientnet", num_classes=3).eval()
    out = export_timm_model(model, tmp_path / "export", label_names=LABELS, data_config=DATA_CONFIG)
    (tmp_path / "image.tif").write_bytes(tiff_bytes(3, side=40, values=np.random.default_rng(0).integers(
        0, 4000, (40, 40, 3))))
    tile = Image.open(tmp_path / "image.tif")
    code = _card_code(f"local-dir:{out}", tile.mode, tile.format)
    assert "import hf_quicktune.data" in code and 'Image.open("image.tif")' in code
    _runs_as_evaluated(code, model, tile, tmp_path, monkeypatch)
    info = CardInfo(model_name="org/result", base_model=None, candidate="x", architecture="x", dataset="org/data",
                    dataset_is_hub=True,
                    config={}, epochs=1, val_top1=0.5, test_top1=None, license=None, budget="", budget_used_s=1.0,
                    zoo="x", candidates=["x"], num_trials=1, num_steps=1, leaderboard=[], image_mode="RGB",
                    image_format="TIFF16")
    assert "pipeline(" not in str(build_model_card(info))
