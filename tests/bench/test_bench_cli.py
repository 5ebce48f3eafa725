"""The `meta` and `bench` commands end to end on tiny inputs, and the gray-box methods in the harness."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from hf_quicktune.cli import main
from hf_quicktune.meta.synthetic import make_synthetic

FIXTURE = Path(__file__).parents[1] / "meta" / "fixtures" / "qt_json"


def test_meta_import_and_info(tmp_path, capsys):
    out = tmp_path / "qt.parquet"
    assert main(["meta", "import", str(FIXTURE), str(out)]) == 0
    assert "5 runs, 2 datasets, 3 models" in capsys.readouterr().out
    assert main(["meta", "info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["runs"] == 5 and info["max_epochs"] == 4 and "num_classes" in info["meta_features"]


def test_meta_import_bad_source_is_a_user_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["meta", "import", str(tmp_path / "empty"), str(tmp_path / "x.parquet")]) == 2
    assert "curve.csv" in capsys.readouterr().err


def test_bench_cli_baselines(tmp_path, capsys):
    md_path = make_synthetic(n_datasets=2, n_configs=12, max_epochs=5, seed=4).save(tmp_path / "md.parquet")
    out = tmp_path / "out"
    code = main(["bench", "--meta-dataset", str(md_path), "--methods", "random,hyperband,optuna-tpe-hyperband",
                 "--seeds", "2", "--budget-runs", "3", "--folds", "2", "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "Normalised regret" in text and "optuna-tpe-hyperband" in text
    cp = pd.read_csv(out / "checkpoints.csv")
    assert set(cp.method) == {"random", "hyperband", "optuna-tpe-hyperband"}
    assert (out / "regret.png").stat().st_size > 1000
    per_run = pd.read_csv(out / "per_run.csv")
    assert ((per_run.top_trial_share > 0) & (per_run.top_trial_share <= 1.5)).all()


def test_top_trial_share_is_the_most_budget_one_trial_took():
    import numpy as np

    from hf_quicktune.bench.replay import Trace
    from hf_quicktune.bench.runner import top_trial_share

    costs = np.array([[1.0, 2.0, 3.0], [10.0, 10.0, np.nan]])
    trace = Trace(visits=[[0, 1], [1, 1], [0, 3], [1, 2]])  # trial 0: 6 s over 3 epochs, trial 1: 20 s over 2
    assert top_trial_share(trace, costs, 40.0) == pytest.approx(0.5)
    assert top_trial_share(Trace(), costs, 40.0) == 0.0


def test_bench_unknown_method(tmp_path, capsys):
    md_path = make_synthetic(n_datasets=2, n_configs=5, max_epochs=3).save(tmp_path / "md.parquet")
    assert main(["bench", "--meta-dataset", str(md_path), "--methods", "nope", "--out", str(tmp_path / "o")]) == 2
    assert "unknown methods" in capsys.readouterr().err
    # said before the meta-dataset is read (a large one takes a while): this file is not even a parquet
    (tmp_path / "junk.parquet").write_text("not a parquet")
    assert main(["bench", "--meta-dataset", str(tmp_path / "junk.parquet"), "--methods", "random,nope",
                 "--out", str(tmp_path / "o2")]) == 2
    assert "unknown methods ['nope']" in capsys.readouterr().err


@pytest.fixture
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_gray_box_methods_with_fold_priors(tmp_path, one_thread):
    from hf_quicktune.bench.runner import BenchConfig, run_bench

    md = make_synthetic(n_datasets=4, n_configs=10, max_epochs=3, seed=5)
    fast = {"full_refit_steps": 10, "refit_steps": 3, "cost_steps": 3}
    cfg = BenchConfig(methods=["quicktune", "dyhpo"], seeds=1, budget_runs=1.5, folds=2,
                      datasets=["synth_0", "synth_1"], method_options={"quicktune": fast, "dyhpo": fast},
                      meta_train={"steps": 10, "val_every": 5, "val_episodes": 2})
    res = run_bench(md, cfg, tmp_path / "out")
    folds = json.loads((tmp_path / "out" / "config.json").read_text())["folds_datasets"]
    target_folds = [k for k, f in enumerate(folds) if {"synth_0", "synth_1"} & set(f)]
    assert sorted(p.name for p in (tmp_path / "out" / "priors").iterdir()) == [f"fold{k}" for k in target_folds]
    for k in target_folds:
        held_out = folds[k]
        prov = json.loads((tmp_path / "out" / "priors" / f"fold{k}" / "prior.json").read_text())["provenance"]
        seen = set(prov["splits"]["train"]) | set(prov["splits"]["val"]) | set(prov["splits"]["test"])
        assert not seen & set(held_out), "a prior saw its own held-out datasets"
        assert seen == set(md.dataset_names) - set(held_out)
    per_run = pd.read_csv(tmp_path / "out" / "per_run.csv")
    assert set(per_run.method) == {"quicktune", "dyhpo"}
    assert (per_run.overhead_s > 0).all()  # the optimizers' own time is charged
    assert res.checkpoints["regret@1"].notna().all()


def test_meta_train_cli_excludes_datasets(tmp_path, capsys):
    md_path = make_synthetic(n_datasets=4, n_configs=8, max_epochs=3, seed=6).save(tmp_path / "md.parquet")
    out = tmp_path / "prior"
    code = main(["meta", "train", str(md_path), "--out", str(out), "--steps", "6", "--val-every", "3", "--val-episodes", "2",
                 "--exclude", "synth_2"])
    assert code == 0, capsys.readouterr().err
    assert "saved prior" in capsys.readouterr().out
    prov = json.loads((out / "prior.json").read_text())["provenance"]
    used = set(prov["splits"]["train"]) | set(prov["splits"]["val"]) | set(prov["splits"]["test"])
    assert used == {"synth_0", "synth_1", "synth_3"} and prov["excluded"] == ["synth_2"]
    assert main(["meta", "train", str(md_path), "--out", str(out), "--exclude", "nope"]) == 2
    assert json.loads((out / "prior.json").read_text())["surrogate"]["mean"] == "mlp"
    const = tmp_path / "const"
    assert main(["meta", "train", str(md_path), "--out", str(const), "--steps", "4", "--val-every", "2",
                 "--val-episodes", "2", "--mean", "constant", "--extrapolate", "0"]) == 0
    meta = json.loads((const / "prior.json").read_text())
    assert meta["surrogate"]["mean"] == "constant" and meta["provenance"]["config"]["extrapolate"] == 0


def test_bench_help_names_every_method():
    from click.testing import CliRunner

    from hf_quicktune.bench.methods import METHODS
    from hf_quicktune.cli import cli

    out = CliRunner().invoke(cli, ["bench", "--help"], terminal_width=400).output
    listed = " ".join(out.split("--methods", 1)[1].split("--seeds", 1)[0].split())
    missing = [m for m in METHODS if m not in listed]
    assert not missing, f"bench --help does not name {missing}"


def test_bench_preset_fills_unset_options(tmp_path, capsys):
    md_path = make_synthetic(n_datasets=2, n_configs=6, max_epochs=3, seed=8).save(tmp_path / "md.parquet")
    out = tmp_path / "out"
    code = main(["bench", "--meta-dataset", str(md_path), "--preset", "quicktune-extended", "--methods", "random",
                 "--folds", "2", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["budget_seconds"] == 16 * 3600 and cfg["seeds"] == 5 and cfg["space"] == "quicktune"
    assert cfg["meta_train"] == {"steps": 2000, "split": [0.8, 0.2, 0.0]}  # the shipped prior's recipe
    assert cfg["methods"] == ["random"] and len(cfg["folds_datasets"]) == 2  # explicit options win
    assert "16 h of recorded time per dataset" in capsys.readouterr().out
