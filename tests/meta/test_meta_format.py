"""Meta-dataset format round trip and the two importers (QuickTuneTool CSV, Quick-Tune JSON)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hf_quicktune.errors import MetaError
from hf_quicktune.meta import import_meta_dataset, load_meta_dataset
from hf_quicktune.meta.synthetic import make_synthetic

FIXTURES = Path(__file__).parent / "fixtures"


def test_parquet_round_trip_keeps_everything(tmp_path):
    md = make_synthetic(n_datasets=3, n_configs=5, max_epochs=6, models=True, zero_cost=True)
    md.curves[2, 4:] = np.nan  # a run that ended early
    md.costs[2, 4:] = np.nan
    path = md.save(tmp_path / "md.parquet")
    back = load_meta_dataset(path)
    np.testing.assert_array_equal(back.curves, md.curves)
    np.testing.assert_array_equal(back.costs, md.costs)
    assert back.configs == md.configs
    assert list(back.models) == list(md.models)
    assert back.lengths[2] == 4
    pd.testing.assert_frame_equal(back.meta_features, md.meta_features, check_names=False)
    assert back.has_zero_cost and back.zero_cost.loc[("synth_1", "tiny_b"), "logme"] == pytest.approx(
        md.zero_cost.loc[("synth_1", "tiny_b"), "logme"]
    )


def test_load_rejects_other_files(tmp_path):
    with pytest.raises(MetaError, match="meta import"):
        load_meta_dataset(tmp_path / "missing.parquet")
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "other.parquet")
    with pytest.raises(MetaError, match="format version"):
        load_meta_dataset(tmp_path / "other.parquet")


def _write_qtt(folder: Path, gz: bool, with_curve_time: bool, dataset_in: str = "config") -> None:
    folder.mkdir()
    suffix = ".csv.gz" if gz else ".csv"

    def write(df: pd.DataFrame, stem: str) -> None:
        path = folder / f"{stem}{suffix}"
        if gz:
            with gzip.open(path, "wt") as fh:
                df.to_csv(fh)
        else:
            df.to_csv(path)

    config = pd.DataFrame({"model": ["m1", "m2", "m1"], "lr": [0.1, 0.01, 0.001], "opt": ["sgd", "adam", "sgd"]})
    meta = pd.DataFrame({"num_classes": [10, 10, 3], "num_samples": [100, 100, 50]})
    ds = ["dA", "dA", "dB"]
    (config if dataset_in == "config" else meta).insert(0, "dataset", ds)
    curve = pd.DataFrame([[10.0, 20.0, 30.0], [50.0, 60.0, np.nan], [5.0, 5.0, 6.0]], columns=["0", "1", "2"])
    cost = pd.DataFrame({"cost": [30.0, 40.0, 9.0]})
    write(config, "config")
    write(meta, "meta")
    write(curve, "curve")
    write(cost, "cost")
    if with_curve_time:
        # cumulative time dips at epoch 2 for run 0: per-epoch cost must use the running maximum
        write(pd.DataFrame([[10.0, 8.0, 30.0], [20.0, 40.0, 60.0], [3.0, 6.0, 9.0]], columns=["0", "1", "2"]), "curve_time")


@pytest.mark.parametrize("gz", [False, True])
def test_qtt_csv_import(tmp_path, gz):
    _write_qtt(tmp_path / "qtt", gz=gz, with_curve_time=True)
    md = import_meta_dataset(tmp_path / "qtt")
    assert md.dataset_names == ["dA", "dB"]
    np.testing.assert_allclose(md.curves[0], [0.1, 0.2, 0.3])  # percent -> fraction
    assert np.isnan(md.curves[1, 2]) and md.lengths.tolist() == [3, 2, 3]
    np.testing.assert_allclose(md.costs[0], [10.0, 0.0, 20.0])  # running max: 10, 10, 30
    np.testing.assert_allclose(md.costs[1, :2], [20.0, 20.0])
    assert np.isnan(md.costs[1, 2])
    assert list(md.models) == ["m1", "m2", "m1"]
    assert md.configs[1] == {"lr": 0.01, "opt": "adam"}
    assert md.meta_features.loc["dB", "num_classes"] == 3


def test_qtt_csv_total_cost_and_dataset_in_meta(tmp_path):
    _write_qtt(tmp_path / "qtt", gz=False, with_curve_time=False, dataset_in="meta")
    md = import_meta_dataset(tmp_path / "qtt", layout="qtt-csv")
    np.testing.assert_allclose(md.costs[0], [10.0, 10.0, 10.0])  # 30 s spread over 3 epochs
    np.testing.assert_allclose(md.costs[1, :2], [20.0, 20.0])  # 40 s over the 2 recorded epochs
    assert md.dataset_names == ["dA", "dB"]


def test_qtt_csv_misaligned_rows_is_a_clear_error(tmp_path):
    _write_qtt(tmp_path / "qtt", gz=False, with_curve_time=False)
    pd.DataFrame({"cost": [1.0, 2.0]}).to_csv(tmp_path / "qtt" / "cost.csv")
    with pytest.raises(MetaError, match="aligned row by row"):
        import_meta_dataset(tmp_path / "qtt")


def test_qt_json_fixture_import(tmp_path):
    md = import_meta_dataset(FIXTURES / "qt_json")
    raw = json.loads((FIXTURES / "qt_json" / "eval_top1.json").read_text())
    assert md.n_runs == sum(len(r) for r in raw.values()) == 5
    i = list(md.run_ids).index("1")
    assert md.lengths[i] == 3 and md.curves[i, 1] == pytest.approx(0.5)
    assert md.costs[i, 0] == pytest.approx(22.0)  # train 20 + eval 2
    j = list(md.run_ids).index("4")
    assert md.lengths[j] == 2  # null values end the run
    assert md.models[j] == "resnet18" and "model" not in md.configs[j]
    assert md.meta_features.loc["mini_textures", "num_classes"] == 47
    # and it survives the parquet format
    back = load_meta_dataset(md.save(tmp_path / "qt.parquet"))
    np.testing.assert_array_equal(back.curves, md.curves)


def test_unknown_layout_explains(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(MetaError, match="curve.csv"):
        import_meta_dataset(tmp_path / "empty")


def test_two_writers_of_one_file_do_not_trip_each_other(tmp_path, monkeypatch):
    """Two processes importing the same meta-dataset side by side (a benchmark run as two shares) each write the
    file whole: a writer that finishes while the other is writing leaves it a complete file and no error (with a
    shared temporary name the later writer's rename failed: FileNotFoundError). Interleaved here by nesting."""
    import pyarrow.parquet as pq

    md = make_synthetic(n_datasets=2, n_configs=3, max_epochs=4)
    path = tmp_path / "md.parquet"
    real = pq.write_table
    nested = {"done": False}

    def write_then_let_the_other_finish(table, where, *a, **kw):
        real(table, where, *a, **kw)
        if not nested["done"]:
            nested["done"] = True
            md.save(path)  # the other writer, start to end, while this one has not renamed yet

    monkeypatch.setattr(pq, "write_table", write_then_let_the_other_finish)
    md.save(path)
    assert nested["done"]
    np.testing.assert_array_equal(load_meta_dataset(path).curves, md.curves)
    assert [p.name for p in tmp_path.iterdir()] == ["md.parquet"]  # no temporary left behind
