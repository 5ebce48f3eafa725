"""Space: YAML loading and errors, sampling, conditionals, encode/decode round trips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hf_quicktune.errors import SpaceError
from hf_quicktune.search.space import INACTIVE_SENTINEL, Space

ROOT = Path(__file__).resolve().parents[2]
QT_YAML = ROOT / "recipes" / "spaces" / "quicktune.yaml"
LC_YAML = ROOT / "recipes" / "spaces" / "lcbench.yaml"

COND = {
    "hyperparameters": {
        "opt": {"type": "categorical", "choices": ["sgd", "adam"]},
        "momentum": {"type": "ordinal", "choices": [0.0, 0.9, 0.99], "when": {"opt": ["sgd"]}},
        "nesterov": {"type": "categorical", "choices": [False, True], "when": {"momentum": [0.9, 0.99]}},
        "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
        "layers": {"type": "int", "low": 1, "high": 5},
        "betas": {"type": "categorical", "choices": [[0.9, 0.999], [0.0, 0.99]], "when": {"opt": ["adam"]}},
    }
}


def write(tmp_path, text: str) -> Path:
    p = tmp_path / "space.yaml"
    p.write_text(text)
    return p


def test_shipped_quicktune_space_loads_and_takes_zoo_models():
    space = Space.from_yaml(QT_YAML)
    expected = ["model", "lr", "batch_size", "opt", "momentum", "opt_betas", "weight_decay", "clip_grad",
                "layer_decay", "sched", "decay_epochs", "decay_rate", "patience_epochs", "warmup_epochs",
                "warmup_lr", "pct_to_freeze", "linear_probing", "sp_reg", "delta_reg", "bss_reg", "mixup", "cutmix",
                "mixup_prob", "smoothing", "drop", "data_augmentation", "ra_num_ops", "ra_magnitude",
                "auto_augment", "amp"]
    assert sorted(space.names) == sorted(expected)
    with pytest.raises(SpaceError, match="with_choices"):
        space.sample(3)
    zoo = space.with_choices("model", ["resnet18.a1_in1k", "tf_efficientnet_lite0"])
    assert space.hps["model"].choices == []  # the original is untouched
    pool = zoo.sample(200, seed=0)
    assert {c["model"] for c in pool} == {"resnet18.a1_in1k", "tf_efficientnet_lite0"}
    for c in pool:
        zoo.validate(c)
        assert (c["momentum"] is None) == (c["opt"] not in ("sgd", "momentum"))
        assert (c["opt_betas"] is None) == (c["opt"] not in ("adam", "adamw"))
        assert (c["patience_epochs"] is None) == (c["sched"] != "plateau")
        assert (c["ra_num_ops"] is None) == (c["data_augmentation"] != "random_augment")
    assert {c["clip_grad"] for c in pool} == {None, 1, 10}
    assert zoo.hps["lr"].choices == [1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2]


def test_shipped_lcbench_space_matches_the_benchmark_readme():
    space = Space.from_yaml(LC_YAML)
    assert space.names == ["batch_size", "learning_rate", "momentum", "weight_decay", "num_layers", "max_units",
                           "max_dropout"]
    hp = space.hps
    assert (hp["batch_size"].type, hp["batch_size"].low, hp["batch_size"].high, hp["batch_size"].log) == ("int", 16, 512, True)
    assert (hp["learning_rate"].low, hp["learning_rate"].high, hp["learning_rate"].log) == (1e-4, 1e-1, True)
    assert (hp["weight_decay"].low, hp["weight_decay"].high, hp["weight_decay"].log) == (1e-5, 1e-1, False)
    assert (hp["max_units"].low, hp["max_units"].high, hp["max_units"].log) == (64, 1024, True)
    assert space.dim == 7


def test_sample_is_seeded_unique_and_inside_the_space():
    space = Space.from_dict(COND)
    a, b, c = space.sample(50, seed=1), space.sample(50, seed=1), space.sample(50, seed=2)
    assert a == b and a != c
    assert len({json.dumps(x, sort_keys=True) for x in a}) == 50
    for cfg in a:
        space.validate(cfg)
        assert 1e-5 <= cfg["lr"] <= 1e-1 and isinstance(cfg["layers"], int)
    lrs = np.log10([cfg["lr"] for cfg in space.sample(2000, seed=0)])
    assert abs(np.mean(lrs) - (-3.0)) < 0.15  # log-uniform: mean of log10 is the midpoint


def test_nested_conditionals_are_inactive_when_a_parent_is():
    space = Space.from_dict(COND)
    pool = space.sample(300, seed=0)
    for cfg in pool:
        if cfg["opt"] == "adam":
            assert cfg["momentum"] is None and cfg["nesterov"] is None and cfg["betas"] is not None
        elif cfg["momentum"] == 0.0:
            assert cfg["nesterov"] is None
        else:
            assert cfg["nesterov"] in (False, True)
    assert any(cfg["nesterov"] is not None for cfg in pool)


def test_encode_layout_one_hot_scaled_and_inactive_indicator():
    space = Space.from_dict(COND)
    assert space.encoded_columns() == [
        "opt='sgd'", "opt='adam'", "momentum", "momentum:inactive", "nesterov=False", "nesterov=True",
        "nesterov:inactive", "lr", "layers", "betas=[0.9, 0.999]", "betas=[0.0, 0.99]", "betas:inactive"]
    X = space.encode([{"opt": "adam", "momentum": None, "nesterov": None, "lr": 1e-3, "layers": 5,
                       "betas": (0.0, 0.99)}])  # a tuple matches the list choice
    np.testing.assert_allclose(X[0], [0, 1, INACTIVE_SENTINEL, 1, 0, 0, 1, 0.5, 1.0, 0, 1, 0], atol=1e-6)
    X = space.encode([{"opt": "sgd", "momentum": 0.99, "nesterov": True, "lr": 1e-5, "layers": 1}])  # betas absent
    np.testing.assert_allclose(X[0], [1, 0, 1.0, 0, 0, 1, 0, 0.0, 0.0, 0, 0, 1], atol=1e-6)
    assert space.encode(space.sample(10)).shape == (10, space.dim)
    assert space.encode(space.sample(10), exclude=["opt"]).shape == (10, space.dim - 2)


def test_encode_decode_round_trip():
    space = Space.from_yaml(QT_YAML).with_choices("model", ["a", "b", "c"])
    pool = space.sample(100, seed=3)
    assert space.decode(space.encode(pool)) == pool
    lc = Space.from_yaml(LC_YAML)
    pool = lc.sample(50, seed=0)
    back = lc.decode(lc.encode(pool))
    for a, b in zip(pool, back):
        assert a["batch_size"] == b["batch_size"] and a["num_layers"] == b["num_layers"]
        assert b["learning_rate"] == pytest.approx(a["learning_rate"], rel=1e-4)
        assert b["max_dropout"] == pytest.approx(a["max_dropout"], abs=1e-5)


def test_encode_rejects_an_unknown_choice():
    space = Space.from_dict(COND)
    with pytest.raises(SpaceError, match="rmsprop"):
        space.encode([{"opt": "rmsprop", "lr": 1e-3, "layers": 2}])


def test_dict_round_trip_keeps_order_through_sorted_json():
    space = Space.from_dict(COND)
    again = Space.from_dict(json.loads(json.dumps(space.to_dict(), sort_keys=True)))
    assert again == space and again.names == space.names


def test_validate_names_the_problem():
    space = Space.from_dict(COND)
    ok = {"opt": "sgd", "momentum": 0.9, "nesterov": False, "lr": 1e-3, "layers": 2}
    space.validate(ok)
    with pytest.raises(SpaceError, match="'betas'.*inactive"):
        space.validate({**ok, "betas": [0.9, 0.999]})
    with pytest.raises(SpaceError, match="'lr'.*outside"):
        space.validate({**ok, "lr": 1.0})
    with pytest.raises(SpaceError, match="unknown keys"):
        space.validate({**ok, "foo": 1})
    with pytest.raises(SpaceError, match="misses a value for 'momentum'"):
        space.validate({**ok, "momentum": None})


@pytest.mark.parametrize(
    "text, match",
    [
        ("hyperparameters:\n  lr: {type: float, low: 1e-5, high: 0.1, log: true}\n", r"hyperparameters\.lr\.low.*1\.0e-5"),
        ("hyperparameters:\n  lr: {type: floaty, low: 0.1, high: 1.0}\n", r"hyperparameters\.lr\.type.*floaty"),
        ("hyperparameters:\n  lr: {type: float, low: 0.0, high: 1.0, log: true}\n", r"hyperparameters\.lr: log scale"),
        ("hyperparameters:\n  lr: {type: float, low: 2.0, high: 1.0}\n", r"low \(2\.0\) is above high"),
        ("hyperparameters:\n  lr: {type: float, lo: 0.1, high: 1.0}\n", r"hyperparameters\.lr has unknown keys \['lo'\]"),
        ("hyperparameters:\n  m: {type: ordinal, choices: [1, 2], when: {opt: [sgd]}}\n", r"unknown hyperparameter 'opt'"),
        ("hyperparameters:\n  o: {type: categorical, choices: [a]}\n  m: {type: ordinal, choices: [1], when: {o: [b]}}\n",
         r"hyperparameters\.m\.when\.o lists \['b'\]"),
        ("hyperparameters:\n  a: {type: ordinal, choices: [1], when: {b: [1]}}\n  b: {type: ordinal, choices: [1], when: {a: [1]}}\n",
         "cycle"),
        ("hyperparameters:\n  w: {type: ordinal, choices: [0, 1e-5]}\n", r"hyperparameters\.w\.choices must be numbers"),
        ("hyperparameters:\n  c: {type: categorical, choices: [x, x]}\n", "duplicates"),
        ("hyperparameters: [lr]\n", "'hyperparameters' mapping"),
        ("hyperparameters:\n  lr: [1, 2]\n", r"hyperparameters\.lr must be a mapping"),
        ("hyperparameters: {a: {type: float, low: 0, high: 1}\n", "not valid YAML"),
    ],
)
def test_yaml_errors_name_the_file_and_the_key(tmp_path, text, match):
    path = write(tmp_path, text)
    with pytest.raises(SpaceError, match=match) as info:
        Space.from_yaml(path)
    assert str(path) in str(info.value)


def test_missing_file_says_what_to_pass(tmp_path):
    with pytest.raises(SpaceError, match="does not exist"):
        Space.from_yaml(tmp_path / "nope.yaml")


def test_from_pool_infers_types():
    pool = [{"lr": 10 ** -(1 + 4 * i / 49), "bs": [16, 32, 64][i % 3], "act": ["relu", "tanh"][i % 2],
             "mom": None if i % 2 else 0.5 + i / 100, "flag": bool(i % 2)} for i in range(50)]
    space = Space.from_pool(pool)
    hp = space.hps
    assert (hp["lr"].type, hp["lr"].log) == ("float", True)
    assert hp["bs"].type == "ordinal" and hp["bs"].choices == [16, 32, 64]
    assert hp["act"].type == "categorical" and hp["flag"].choices == [False, True]
    assert hp["mom"].optional and hp["mom"].type == "float"
    X = space.encode(pool)
    assert X.shape == (50, space.dim) and np.all(X[1::2, space.encoded_columns().index("mom:inactive")] == 1)


def test_one_class_per_distribution_behind_the_hyperparameter_constructor():
    import copy
    import pickle

    from hf_quicktune.search.distributions import Categorical, Float, Hyperparameter, Int, Ordinal

    hps = [Hyperparameter("a", "categorical", choices=["x", "y"]), Hyperparameter("b", "ordinal", choices=[4, 1, 2]),
           Hyperparameter("c", "int", low=1, high=9), Hyperparameter(name="d", type="float", low=0.1, high=1.0)]
    assert [type(h) for h in hps] == [Categorical, Ordinal, Int, Float]
    for h in hps:
        h.check("<test>")
        assert type(copy.deepcopy(h)) is type(h) and pickle.loads(pickle.dumps(h)) == h
    assert hps[1].choices == [1, 2, 4] and hps[1].scale(2) == 0.5  # ordinals sorted, by rank
    assert hps[2].contains(3) and not hps[2].contains(3.5) and hps[3].contains(0.5)
    assert hps[0].column_names() == ["a='x'", "a='y'"] and hps[0].value_width == 2
    with pytest.raises(SpaceError, match="int bounds"):
        Hyperparameter("e", "int", low=0.5, high=2).check("<test>")
