"""The dataset options are defined once and reach data.load from every command, recipes and settings.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from hf_quicktune.cli import COMMANDS, _load, main
from hf_quicktune.data.options import DATASET_OPTIONS, load_kwargs, normalize, parse_split_map
from hf_quicktune.errors import ConfigError, DatasetError
from hf_quicktune.rank import LOAD_ROWS_OVER
from hf_quicktune.run.settings import RunSettings, load_recipe, resolve_settings

SHARED = {(o.key, o.flag) for o in DATASET_OPTIONS}


def _command(path: str):
    group, _, sub = path.partition(" ")
    cmd = _load(COMMANDS[group][0])
    return cmd.commands[sub] if sub else cmd


@pytest.mark.parametrize("path", ["data inspect", "run", "rank", "estimate", "finetune"])
def test_every_data_command_takes_exactly_the_shared_dataset_options(path):
    params = {p.name: p for p in _command(path).params}
    have = {(name, flag) for name, p in params.items() for flag in getattr(p, "opts", []) if name in dict(SHARED)}
    assert have == SHARED
    for opt in DATASET_OPTIONS:  # same help everywhere: one definition
        assert params[opt.key].help == opt.help


def test_run_settings_and_recipes_know_every_dataset_option(tmp_path):
    assert {o.key for o in DATASET_OPTIONS} <= set(RunSettings.keys())
    recipe = tmp_path / "r.yaml"
    recipe.write_text("dataset: data.csv\nbudget: 1m\nlabel-column: kind\nimage_column: pic\n"
                      "split: {validation: dev}\nval_fraction: 0.25\n")
    assert load_recipe(recipe)["label_column"] == "kind"
    settings = resolve_settings({"revision": "v2", "split": ()}, recipe)
    assert (settings.label_column, settings.image_column, settings.revision) == ("kind", "pic", "v2")
    assert settings.split == {"validation": "dev"} and settings.val_fraction == 0.25
    cli = resolve_settings({"dataset": "d", "budget": "1m", "split": ("train=all", "test=holdout")})
    assert cli.split == {"train": "all", "test": "holdout"}
    assert load_kwargs(cli.to_dict()) == {"split_map": {"train": "all", "test": "holdout"}}
    recipe.write_text("dataset: data.csv\nbudget: 1m\nclass-names: [angry, happy]\n")
    assert resolve_settings({}, recipe).class_names == ["angry", "happy"]
    named = resolve_settings({"dataset": "d", "budget": "1m", "class_names": "angry, happy ,sad"})
    assert named.class_names == ["angry", "happy", "sad"]
    assert load_kwargs(named.to_dict()) == {"class_names": ["angry", "happy", "sad"]}


@pytest.mark.parametrize("values, pattern", [
    ({"split": ("validation",)}, "ROLE=NAME"),
    ({"split": ("holdout=dev",)}, "ROLE one of train, validation, test"),
    ({"val_fraction": 0.0}, "--val-fraction must be between 0 and 1"),
    ({"val_fraction": "lots"}, "--val-fraction must be a number"),
    ({"test_fraction": 1.5}, r"--test-fraction must be in \[0, 1\)"),
    ({"val_fraction": 0.6, "test_fraction": 0.5}, "leave nothing to train on"),
    ({"label_column": ""}, "--label-column must be a non-empty name"),
])
def test_bad_dataset_options_are_config_errors(values, pattern):
    with pytest.raises(ConfigError, match=pattern):
        normalize(values)


def test_split_map_from_recipe_mapping_or_pairs():
    assert parse_split_map({"validation": "dev"}) == parse_split_map(["validation=dev"]) == {"validation": "dev"}
    assert parse_split_map(()) is None and parse_split_map(None) is None


@pytest.fixture
def ambiguous_csv(tmp_path: Path) -> Path:
    """Images + two string columns, neither named like a label: detection must be told which one."""
    rows = []
    rng = np.random.default_rng(0)
    for k, kind in enumerate(["cat", "dog"]):
        for i in range(6):
            rel = f"img/{kind}_{i}.png"
            (tmp_path / "img").mkdir(exist_ok=True)
            arr = np.clip(rng.integers(0, 60, (16, 16, 3)) + (k * 150), 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(tmp_path / rel)
            rows.append({"pic": rel, "kind": kind, "colour": ["red", "blue", "green"][i % 3]})
    path = tmp_path / "data.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_run_loads_with_the_label_column_and_stores_it(ambiguous_csv, tmp_path):
    from hf_quicktune.run.session import prepare_state
    from hf_quicktune.run.stages import load_dataset as _load_dataset

    with pytest.raises(DatasetError, match="--label-column"):
        _load_dataset(RunSettings(dataset=str(ambiguous_csv), budget="1m").validate())
    settings = RunSettings(dataset=str(ambiguous_csv), budget="1m", label_column="kind", val_fraction=0.5,
                           output_dir=str(tmp_path / "run")).validate()
    data = _load_dataset(settings)
    assert data.class_names == ["cat", "dog"] and len(data.validation) == 6  # 0.5 of 12
    settings, state = prepare_state(settings, resume=False)
    try:
        stored = json.loads((tmp_path / "run" / "settings.json").read_text())
    finally:
        getattr(state, "unlock", lambda: None)()
    assert stored["label_column"] == "kind" and stored["val_fraction"] == 0.5


def test_data_commands_fail_with_the_label_column_hint_and_accept_it(ambiguous_csv, capsys):
    assert main(["data", "inspect", str(ambiguous_csv)]) == 2
    assert "--label-column" in capsys.readouterr().err
    assert main(["data", "inspect", str(ambiguous_csv), "--label-column", "kind", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["label_column"] == "kind"
    # run takes the option its error names (it failed with "No such option" before)
    assert main(["run", "--dataset", str(ambiguous_csv), "--label-column", "kind", "--max-epochs-total", "1",
                 "--val-fraction", "0"]) == 2
    assert "--val-fraction must be between 0 and 1" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["data", "inspect", "D"],
    ["run", "--dataset", "D", "--budget", "1m", "--zoo", "offline"],
    ["rank", "--dataset", "D", "--zoo", "offline"],
    ["estimate", "--dataset", "D", "--model", "m", "--lr", "0.1", "--batch-size", "8"],
    ["finetune", "-d", "D", "-m", "m"],
], ids=lambda a: a[0] if a[0] != "data" else "inspect")
def test_every_command_hands_the_dataset_options_to_data_load(argv, monkeypatch, tmp_path, capsys):
    import hf_quicktune.data

    seen = {}

    def fake_load(spec, **kwargs):
        seen.update(kwargs, spec=spec)
        raise DatasetError("stop here: the options were recorded.")

    monkeypatch.setattr(hf_quicktune.data, "load", fake_load)
    extra = ["--dataset-config", "small", "--revision", "v2", "--split", "validation=dev", "--image-column", "pic",
             "--label-column", "kind", "--val-fraction", "0.3", "--test-fraction", "0.1"]
    out = ["--output-dir", str(tmp_path / "out")] if argv[0] == "run" else ["-o", str(tmp_path / "ft")] \
        if argv[0] == "finetune" else []
    assert main([*argv, *extra, *out]) == 2
    assert "stop here" in capsys.readouterr().err
    assert seen["spec"] == "D"
    assert {k: seen.get(k) for k in ("config", "revision", "split_map", "image_column", "label_column",
                                     "val_fraction", "test_fraction")} == {
        "config": "small", "revision": "v2", "split_map": {"validation": "dev"}, "image_column": "pic",
        "label_column": "kind", "val_fraction": 0.3, "test_fraction": 0.1}


@pytest.mark.parametrize("argv, limits", [
    (["run", "--dataset", "D", "--budget", "1m", "--zoo", "offline", "--train-limit", "300", "--eval-limit", "50"],
     (300, 50)),
    (["finetune", "-d", "D", "-m", "m", "--train-limit", "300", "--eval-limit", "50"], (300, 50)),
    (["rank", "--dataset", "D", "--zoo", "offline", "--n", "128"], (128, 128)),  # the images it ranks on
    (["data", "inspect", "D", "--limit", "200"], (200, 200)),
    (["data", "inspect", "D"], (None, None)),  # read whole
    (["estimate", "--dataset", "D", "--model", "m", "--train-samples", "64"], (64, 16)),  # validation unused
    (["estimate", "--dataset", "D", "--model", "m"], (None, None)),
], ids=lambda a: " ".join(a[:3]) if isinstance(a, list) else "")
def test_the_limits_reach_data_load(argv, limits, monkeypatch, tmp_path, capsys):
    """--train-limit / --eval-limit: a Hub dataset in many files is read from enough of them (data/file_draw.py)."""
    import hf_quicktune.data

    seen = {}

    def fake_load(spec, **kwargs):
        seen.update(kwargs)
        raise DatasetError("stop here: the options were recorded.")

    monkeypatch.setattr(hf_quicktune.data, "load", fake_load)
    out = ["--output-dir", str(tmp_path / "out")] if argv[0] == "run" else ["-o", str(tmp_path / "ft")] \
        if argv[0] == "finetune" else []
    assert main([*argv, *out]) == 2
    assert (seen["train_limit"], seen["eval_limit"]) == limits
    # a ranking keeps the rows of a split not much larger than its sample (a later run reads its features)
    assert seen.get("cut_rows_over", 1.0) == (LOAD_ROWS_OVER if argv[0] == "rank" else 1.0)


def test_the_search_sees_the_training_set_size_an_epoch_trains_on():
    """With --train-limit an epoch trains on the limit: the prior's curves are of epochs of that many images (a Hub
    dataset read in part loads more than the limit and fewer than the dataset)."""
    from hf_quicktune.run.loop import search_meta

    meta = {"num_train": 3000, "num_classes": 10, "image_size": 64, "num_channels": 3}
    assert search_meta(meta, 500) == {**meta, "num_train": 500}
    assert search_meta(meta, 3000) == meta
