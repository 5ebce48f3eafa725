"""The Quick-Tune extended layout importer, on a small fixture written here in that layout."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hf_quicktune.errors import MetaError
from hf_quicktune.meta import import_meta_dataset, load_meta_dataset
from hf_quicktune.meta.qt_extended import import_qt_extended
from hf_quicktune.search.space import Space

MODELS = ("dla46x_c", "mobilevit_xxs")
GROUPS = {
    "model": MODELS,
    "opt": ("adam", "adamp", "adamw", "momentum", "sgd"),
    "opt_betas": ("None", "[0.9, 0.999]", "[0.0, 0.99]"),
    "sched": ("cosine", "plateau", "step"),
    "data_augmentation": ("None", "auto_augment", "random_augment"),
    "auto_augment": ("None", "v0"),
}
NUMERIC = dict(amp=0, batch_size=32, bss_reg=0.0, clip_grad=-1.0, cotuning_reg=0.0, cutmix=0.0, decay_epochs=90.0,
               decay_rate=0.1, delta_reg=0.0, drop=0.1, layer_decay=-1.0, linear_probing=0, lr=1e-3, mixup=0.0,
               mixup_prob=0.0, momentum=0.9, patience_epochs=10, pct_to_freeze=0.0, ra_magnitude=8, ra_num_ops=2,
               smoothing=0.1, sp_reg=0.0, stoch_norm=0, warmup_epochs=0, warmup_lr=1e-6, weight_decay=1e-4)

RUNS = {  # run id -> (dataset, categorical choices, numeric overrides, curve in %)
    "11": ("AAA", dict(model="dla46x_c", opt="adamp", opt_betas="[0.9, 0.999]", sched="cosine",
                       data_augmentation="None", auto_augment="None"), {}, [10.0, 40.0, 60.0]),
    "12": ("AAA", dict(model="mobilevit_xxs", opt="sgd", opt_betas="None", sched="plateau",
                       data_augmentation="random_augment", auto_augment="None"),
           dict(clip_grad=10.0, layer_decay=0.75, patience_epochs=5, ra_magnitude=17, stoch_norm=1,
                warmup_epochs=5, linear_probing=1, amp=1), [5.0, 7.0, 100.00000036]),
    "13": ("AAA", dict(model="dla46x_c", opt="adamw", opt_betas="[0.0, 0.99]", sched="step",
                       data_augmentation="auto_augment", auto_augment="v0"), dict(decay_epochs=20.0), [3.0]),
    "21": ("BBB", dict(model="mobilevit_xxs", opt="momentum", opt_betas="None", sched="cosine",
                       data_augmentation="None", auto_augment="None"), dict(cotuning_reg=0.5), [20.0, 30.0]),
}


def write_fixture(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = {}
    for rid, (_, cats, nums, _) in RUNS.items():
        row = {f"cat:{g}:{v}": int(cats[g] == v) for g, values in GROUPS.items() for v in values}
        row.update({**NUMERIC, **nums})
        rows[rid] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.to_csv(folder / "configs_onehot.csv.gz")
    top1: dict = {"info": {"metric": "Top1 Accuracy in %"}}
    secs: dict = {}
    for rid, (ds, _, _, curve) in RUNS.items():
        top1.setdefault(ds, {})[rid] = curve
        secs.setdefault(ds, {})[rid] = [2.0 + i for i in range(len(curve))]
    for name, obj in (("eval_top1.json.gz", top1), ("epoch_seconds.json.gz", secs)):
        with gzip.open(folder / name, "wt") as fh:
            json.dump(obj, fh)
    (folder / "dataset_descriptors.json").write_text(json.dumps({"AAA": [1000, 20, 128, 3], "BBB": [500, 5, 128, 3]}))
    return folder


def test_import_decodes_every_mapping(tmp_path):
    md = import_meta_dataset(write_fixture(tmp_path / "ext"))  # auto-detected layout
    assert md.info["layout"] == "qt-extended" and md.n_runs == 4
    by_id = {r: (c, m) for r, c, m in zip(md.run_ids, md.configs, md.models)}
    cfg, model = by_id["11"]
    assert model == "dla46x_c" and cfg["opt"] == "adamw" and cfg["opt_betas"] == [0.9, 0.999]
    assert cfg["momentum"] is None and cfg["clip_grad"] is None and cfg["layer_decay"] is None
    assert cfg["decay_epochs"] is None and cfg["patience_epochs"] is None and cfg["decay_rate"] is None
    assert cfg["data_augmentation"] == "none" and cfg["ra_num_ops"] is None and cfg["auto_augment"] is None
    assert cfg["warmup_lr"] is None and cfg["amp"] is False and "stoch_norm" not in cfg and "cotuning_reg" not in cfg
    cfg, _ = by_id["12"]
    assert cfg["opt"] == "sgd" and cfg["momentum"] == 0.9 and cfg["opt_betas"] is None
    assert cfg["clip_grad"] == 10 and cfg["layer_decay"] == 0.75 and cfg["patience_epochs"] == 5
    assert cfg["decay_rate"] == 0.1 and cfg["ra_magnitude"] == 17 and cfg["warmup_lr"] == 1e-6
    assert cfg["linear_probing"] is True and cfg["amp"] is True
    cfg, _ = by_id["13"]
    assert cfg["decay_epochs"] == 20 and cfg["auto_augment"] == "v0" and cfg["opt_betas"] == [0.0, 0.99]
    assert md.info["adamp_as_adamw"] == 1 and md.info["one_epoch_runs"] == 1
    assert md.info["dropped_hyperparameters"] == {"stoch_norm": 1, "cotuning_reg": 1}
    # percent -> fraction, the 100.00000036 % value clipped; costs per epoch
    i = list(md.run_ids).index("12")
    np.testing.assert_allclose(md.curves[i, :3], [0.05, 0.07, 1.0])
    np.testing.assert_allclose(md.costs[i, :3], [2.0, 3.0, 4.0])
    assert np.isnan(md.curves[list(md.run_ids).index("13"), 1])  # the one-epoch run ends after epoch 1
    assert md.meta_features.loc["AAA"].to_dict() == {"num_train": 600.0, "num_classes": 20.0}
    assert set(md.model_features.index) == set(MODELS)
    assert md.model_features.loc["dla46x_c", "attention"] == 0.0
    assert md.model_features.loc["mobilevit_xxs", "attention"] > 0.0
    assert md.model_features.loc["dla46x_c", "pretrain_images_m"] == pytest.approx(1.28)


def test_configs_fit_the_shipped_space_and_round_trip(tmp_path):
    md = import_qt_extended(write_fixture(tmp_path / "ext"))
    space = Space.from_yaml("recipes/spaces/quicktune.yaml").with_choices("model", list(MODELS))
    encoded = space.encode([dict(c, model=m) for c, m in zip(md.configs, md.models)])
    assert encoded.shape[0] == 4 and np.isfinite(encoded).all()
    back = load_meta_dataset(md.save(tmp_path / "ext.parquet"))
    assert back.configs == md.configs
    assert back.model_feature_rows() == md.model_feature_rows()


def test_missing_config_row_is_a_clear_error(tmp_path):
    folder = write_fixture(tmp_path / "ext")
    frame = pd.read_csv(folder / "configs_onehot.csv.gz", index_col=0).drop(index=[21])
    frame.to_csv(folder / "configs_onehot.csv.gz")
    with pytest.raises(MetaError, match="run 21 of BBB has no row"):
        import_qt_extended(folder)


def test_cli_import(tmp_path):
    from click.testing import CliRunner

    from hf_quicktune.cli import cli

    folder = write_fixture(tmp_path / "ext")
    out = tmp_path / "md.parquet"
    res = CliRunner().invoke(cli, ["meta", "import", str(folder), str(out)])
    assert res.exit_code == 0, res.output
    assert "4 runs, 2 datasets, 2 models" in res.output
    assert load_meta_dataset(out).info["one_epoch_runs"] == 1
