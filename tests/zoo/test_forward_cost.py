"""The forward cost counted on the meta device against the same model run for real with module hooks."""

from __future__ import annotations

import pytest
import timm
import torch
from torch import nn

from hf_quicktune.zoo.forward_cost import forward_cost


def _hooked_outputs(model: nn.Module, x: torch.Tensor) -> int:
    """Elements written by the model's convolutions and linear layers on ``x``, counted with forward hooks."""
    total = 0

    def count(_module, _args, out) -> None:
        nonlocal total
        total += out.numel()

    handles = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return total


def test_activations_are_the_outputs_of_convolutions_and_linear_layers():
    """A convnet's count is exactly what its Conv2d / Linear modules write, on one image at that size."""
    torch.manual_seed(0)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    cost = forward_cost("tf_efficientnet_lite0", 32)
    assert cost is not None
    assert cost.activations_m * 1e6 == pytest.approx(_hooked_outputs(model, torch.randn(1, 3, 32, 32)), rel=1e-9)
    assert cost.gflops > 0  # torch's FlopCounterMode, on the same traced pass


def test_attention_products_are_counted_too():
    """A ViT writes more than its linear layers: its attention products count (scores and weighted values, or
    the fused kernel's output)."""
    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32).eval()
    cost = forward_cost("vit_tiny_patch16_224", 32, 32)
    assert cost is not None
    assert cost.activations_m * 1e6 > _hooked_outputs(model, torch.randn(1, 3, 32, 32))


def test_resnet50_costs_what_timms_benchmark_tables_publish():
    """timm's results tables: resnet50 at 224 px, infer_gmacs 4.11 / infer_macts 11.11 (its counter also counts the
    batch-norms' multiply-adds; these are the convolutions' and the classifier's)."""
    cost = forward_cost("resnet50", 224)
    assert cost is not None
    assert cost.activations_m == pytest.approx(11.11, abs=0.01)
    assert cost.gflops / 2 == pytest.approx(4.09, abs=0.01)


def test_zoo_list_prints_the_forward_cost_of_every_candidate(capsys):
    from hf_quicktune.cli import main

    assert main(["zoo", "list", "--zoo", "offline"]) == 0
    out = capsys.readouterr().out
    assert "GMACs" in out and "M acts" in out
    lite0 = next(line for line in out.splitlines() if "│ tf_efficientnet_lite0 " in line)
    assert "0.39" in lite0 and "6.7" in lite0
    assert main(["zoo", "list", "--zoo", "offline", "--json"]) == 0
    rows = {r["name"]: r for r in __import__("json").loads(capsys.readouterr().out)}
    assert rows["scratch:resnet10t"]["macts"] == pytest.approx(1.51, abs=0.01)
    assert rows["tf_efficientnet_lite0"]["gmacs"] == pytest.approx(0.385, abs=0.001)


def test_counts_are_kept_on_disk_for_the_next_process(tmp_path, monkeypatch):
    """A second process (the in-memory cache cleared) reads the count from the cache folder without tracing; an
    unreadable cache file is traced again and rewritten; a count that failed is not kept."""
    from hf_quicktune.zoo import forward_cost as fc

    monkeypatch.setenv("HF_QUICKTUNE_CACHE", str(tmp_path))
    fc.forward_cost.cache_clear()
    first = fc.forward_cost("resnet10t", 48)
    assert first is not None and (tmp_path / "forward_cost.json").is_file()
    fc.forward_cost.cache_clear()

    def no_trace(*args):
        raise AssertionError("traced again")

    monkeypatch.setattr(fc, "_trace", no_trace)
    assert fc.forward_cost("resnet10t", 48) == first
    monkeypatch.undo()
    monkeypatch.setenv("HF_QUICKTUNE_CACHE", str(tmp_path))
    (tmp_path / "forward_cost.json").write_text("{not json")
    fc.forward_cost.cache_clear()
    assert fc.forward_cost("resnet10t", 48) == first
    assert fc.forward_cost("no_such_architecture_xyz", 32) is None
    import json

    keys = list(json.loads((tmp_path / "forward_cost.json").read_text()))
    assert len(keys) == 1 and keys[0].startswith("resnet10t|48|None|None|timm ")
    fc.forward_cost.cache_clear()


def test_an_architecture_timm_cannot_build_has_no_cost():
    assert forward_cost("no_such_architecture_xyz", 32) is None
