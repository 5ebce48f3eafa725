"""The timm export: the training preprocessing in pretrained_cfg, on every supported timm version."""

from __future__ import annotations

import inspect
import json

import timm
import torch
from timm.data import resolve_data_config

from hf_quicktune.publish.export import export_timm_model

DATA_CONFIG = {"input_size": (3, 32, 32), "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25),
               "interpolation": "bilinear", "crop_pct": 1.0}


def _model() -> torch.nn.Module:
    # a pretrained_cfg with test-time sizes, as many real checkpoints have (e.g. convnext, eva)
    return timm.create_model("test_efficientnet", num_classes=3, pretrained_cfg_overlay={
        "test_input_size": (3, 160, 160), "test_crop_pct": 0.95})


def test_export_keeps_the_training_preprocessing_not_the_checkpoint_test_sizes(tmp_path):
    model = _model()
    out = export_timm_model(model, tmp_path / "export", label_names=["a", "b", "c"], data_config=DATA_CONFIG)
    pcfg = json.loads((out / "config.json").read_text())["pretrained_cfg"]
    assert pcfg["input_size"] == [3, 32, 32] and pcfg["mean"] == [0.5] * 3 and pcfg["crop_pct"] == 1.0
    assert "test_input_size" not in pcfg and "test_crop_pct" not in pcfg
    again = timm.create_model(f"local-dir:{out}", pretrained=True)
    resolved = resolve_data_config({}, model=again, use_test_size=True)  # what timm's eval scripts ask for
    assert resolved["input_size"] == (3, 32, 32) and resolved["crop_pct"] == 1.0
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(again.eval()(x), model.eval()(x))


def test_export_works_with_a_timm_whose_save_for_hf_has_no_data_config(tmp_path, monkeypatch):
    """timm 1.0.29 (seen on a GPU machine's image) has no ``data_config`` argument: every export failed."""
    real = timm.models.save_for_hf
    assert "data_config" in inspect.signature(real).parameters  # the installed timm is the newer one

    def old_save_for_hf(model, save_directory, model_config=None, model_args=None, safe_serialization=False):
        return real(model, save_directory, model_config=model_config, model_args=model_args,
                    safe_serialization=safe_serialization)

    monkeypatch.setattr(timm.models, "save_for_hf", old_save_for_hf)
    out = export_timm_model(_model(), tmp_path / "export", label_names=["a", "b", "c"], data_config=DATA_CONFIG)
    pcfg = json.loads((out / "config.json").read_text())["pretrained_cfg"]
    assert pcfg["input_size"] == [3, 32, 32] and "test_input_size" not in pcfg


def test_a_transformer_fine_tuned_at_another_size_loads_back_at_that_size(tmp_path, monkeypatch):
    """A ViT built for 32 px (zoo/input_size.py) keeps ``model_args.img_size``: ``timm.create_model`` rebuilds
    it at 32 px, not at the 160 px its architecture defaults to (which fails its forward pass at 32)."""
    real = timm.models.save_for_hf

    def save_without_model_args(model, save_directory, **kwargs):  # as a timm before 1.0.31 writes config.json
        real(model, save_directory, **kwargs)
        path = f"{save_directory}/config.json"
        cfg = json.loads(open(path).read())
        cfg.pop("model_args", None)
        open(path, "w").write(json.dumps(cfg))

    monkeypatch.setattr(timm.models, "save_for_hf", save_without_model_args)
    model = timm.create_model("test_vit3", num_classes=3, img_size=32).eval()
    out = export_timm_model(model, tmp_path / "export", label_names=["a", "b", "c"], data_config=DATA_CONFIG,
                            model_args={"img_size": 32})
    assert json.loads((out / "config.json").read_text())["model_args"] == {"img_size": 32}
    again = timm.create_model(f"local-dir:{out}", pretrained=True).eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(again(x), model(x))
