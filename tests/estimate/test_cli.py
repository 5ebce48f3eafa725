"""``hf-quicktune estimate`` end to end on the built-in digits with a tiny random-init model."""

from __future__ import annotations

import json

import pytest

from hf_quicktune.cli import main


def test_target_and_epochs_together_is_a_user_error(capsys):
    code = main(["estimate", "--dataset", "builtin:digits", "--model", "x", "--lr", "0.1", "--batch-size", "8",
                 "--target-loss", "0.5", "--epochs", "2"])
    assert code == 2
    assert "either --target-loss or --epochs" in capsys.readouterr().err


@pytest.mark.slow
def test_estimate_validate_json_and_plot(tmp_path, capsys):
    png = tmp_path / "est.png"
    code = main(["estimate", "--dataset", "builtin:digits", "--model", "scratch:mobilenetv3_small_050",
                 "--lr", "0.05", "--batch-size", "16", "--momentum", "0.5", "--opt", "adam", "--epochs", "1",
                 "--image-size", "32", "--samples", "12", "--class-probes", "1", "--projection", "512",
                 "--train-samples", "48", "--validate", "--plot", str(png), "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["num_train"] == 48 and out["subsample"] == 12 and out["projected_dim"] == 512
    assert any("outside the linearized-SGD theory" in w for w in out["warnings"])
    assert 0 < out["loss_after_epochs"] < 10
    assert out["seconds_per_step"] > 0 and out["predicted_seconds"] == pytest.approx(3 * out["seconds_per_step"])
    assert out["measured"]["steps"][-1] == 3 and len(out["measured"]["loss"]) == len(out["measured"]["steps"])
    assert png.stat().st_size > 1000
