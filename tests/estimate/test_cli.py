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


@pytest.mark.parametrize("extra, message", [(["--target-loss", "0.5", "--within", "0.1"], "--target-loss or --within"),
                                            (["--within", "1.5"], "--within must be a fraction in (0, 1)"),
                                            (["--epochs", "0"], "--epochs must be a positive number"),
                                            (["--target-loss", "-1"], "--target-loss must be a positive")])
def test_within_is_checked_before_any_work(extra, message, capsys):
    assert main(["estimate", "--dataset", "builtin:digits", "--model", "x", *extra]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_within_predicts_and_validates_the_supplementary_criterion(capsys):
    """--within (Zancato et al.'s supplementary criterion) on a linear probe, where the linearization is exact:
    the predicted steps are printed next to the measured ones, which train to the same horizon."""
    args = ["estimate", "--dataset", "builtin:digits", "--model", "tf_efficientnet_lite0", "--linear-probing",
            "--lr", "0.1", "--batch-size", "16", "--epochs", "3", "--within", "0.1", "--image-size", "32",
            "--samples", "32", "--train-samples", "96"]
    assert main([*args, "--validate", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    horizon = 18  # 3 epochs of 96 images at batch 16
    assert out["within"] == 0.1 and 0 < out["steps_to_target"] < horizon
    assert out["measured"]["steps"][-1] == horizon and 0 < out["measured"]["steps_to_target"] < horizon
    assert out["predicted_seconds"] == pytest.approx(out["steps_to_target"] * out["seconds_per_step"])
    assert main(args) == 0
    assert "steps to within 0.1 of the final loss" in capsys.readouterr().out


def test_lr_and_batch_size_have_defaults(monkeypatch, capsys):
    """A first try needs only the dataset and the model: plain SGD at lr 0.01, batch 32."""
    import hf_quicktune.estimate as estimate_pkg
    from hf_quicktune.errors import ConfigError

    seen = {}

    def fake(prepared, candidate, config, **kw):
        seen.update(config, **kw)
        raise ConfigError("stop here")

    monkeypatch.setattr(estimate_pkg, "estimate", fake)
    code = main(["estimate", "--dataset", "builtin:digits", "--model", "scratch:mobilenetv3_small_050"])
    assert code == 2 and "stop here" in capsys.readouterr().err
    assert (seen["lr"], seen["batch_size"], seen["momentum"], seen["opt"]) == (0.01, 32, 0.0, "sgd")
    # and something to predict: without --target-loss or --epochs, the steps to within 0.1 of the final loss
    assert (seen["within"], seen["target_loss"], seen["epochs"]) == (0.1, None, None)
    assert seen["norm_statistics"] == "pretrained"  # cheap, and stable with every layer trained
    seen.clear()
    assert main(["estimate", "--dataset", "builtin:digits", "--model", "scratch:mobilenetv3_small_050",
                 "--norm-statistics", "batch"]) == 2
    assert seen["norm_statistics"] == "batch"
    for extra, within in ((["--target-loss", "0.5"], None), (["--epochs", "2"], None), (["--within", "0.2"], 0.2)):
        seen.clear()
        assert main(["estimate", "--dataset", "builtin:digits", "--model", "scratch:mobilenetv3_small_050",
                     *extra]) == 2
        assert seen["within"] == within, extra


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
