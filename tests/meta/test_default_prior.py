"""The shipped default prior, resolving --prior, descriptor vs one-hot encoders, learnt initial_epochs,
and the robust default configuration."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hf_quicktune.errors import MetaError
from hf_quicktune.meta.priors import DEFAULT, prior_initial_epochs, prior_label, resolve_prior, shipped
from hf_quicktune.meta.synthetic import make_synthetic
from hf_quicktune.meta.train import build_encoder, choose_initial_epochs, fidelity


def test_the_default_prior_ships_and_describes_models_by_features():
    assert DEFAULT in shipped()
    prior, label = resolve_prior("default")
    assert label == DEFAULT
    enc = prior.encoder
    assert enc.n_models == 0  # no vocabulary of the meta-dataset's 24 models ...
    assert enc.model_scaler.names == ["attention", "input_px", "params_m", "pretrain_images_m"]  # ... but descriptors
    assert enc.meta_scaler.names == ["num_classes", "num_train"]
    prov = prior.provenance
    assert prov["command"].endswith("tools/build_default_prior.py") and prov["runs"] == 4665
    assert 1 <= prov["initial_epochs"] <= 10 and str(prov["initial_epochs"]) in prov["fidelity"]


def test_prior_spec_none_label_and_errors(tmp_path):
    assert resolve_prior("none") == (None, None) and resolve_prior(None) == (None, None)
    assert prior_label("none") is None and prior_label("default").startswith(DEFAULT)
    with pytest.raises(MetaError, match="not a shipped prior"):
        resolve_prior("no-such-prior")
    with pytest.raises(MetaError, match="prior.json"):
        resolve_prior(str(tmp_path))  # a folder that is not a prior


def test_the_default_prior_informs_unseen_models_by_their_descriptors():
    from hf_quicktune.search.quicktune import QuickTuneOptimizer

    prior, _ = resolve_prior("default")
    from hf_quicktune.search.space import Space

    base = Space.from_yaml("recipes/spaces/quicktune.yaml").with_choices("model", ["big"]).sample(1, seed=0)[0]
    pool = [dict(base, model="big"), dict(base, model="small")]
    feats = {"big": {"params_m": 80.0, "input_px": 384, "pretrain_images_m": 14.2, "attention": 0.33},
             "small": {"params_m": 1.0, "input_px": 224, "pretrain_images_m": 1.28, "attention": 0.0}}
    opt = QuickTuneOptimizer(pool, max_epochs=50, prior=prior, meta_features={"num_train": 5000, "num_classes": 50},
                             model_features=feats)
    a, b = opt.zero_shot([0, 1])
    assert a != pytest.approx(b)  # two models it never saw get different predictions


def test_initial_epochs_from_the_prior_is_the_same_share_of_the_schedule():
    prior, _ = resolve_prior("default")
    learnt, meta_epochs = prior.provenance["initial_epochs"], prior.encoder.max_epochs
    assert meta_epochs == 50
    assert prior_initial_epochs(prior, 50) == learnt
    assert prior_initial_epochs(prior, 100) == min(2 * learnt, 50)
    assert prior_initial_epochs(prior, 10) == max(1, round(learnt / 5))
    assert prior_initial_epochs(prior, 2) == 1 and prior_initial_epochs(prior, 1) == 1


def test_fidelity_and_the_learnt_initial_epochs():
    md = make_synthetic(n_datasets=3, n_configs=30, max_epochs=8, seed=0)
    table = fidelity(md, md.dataset_names, max_k=8)
    assert set(table) == set(range(1, 9)) and table[8] == pytest.approx(1.0)
    k = choose_initial_epochs(table, 0.8)
    assert table[k] >= 0.8 and all(table[j] < 0.8 for j in range(1, k))
    assert choose_initial_epochs({1: 0.1, 2: 0.3}, 0.9) == 2


def test_encoders_by_descriptors_or_identity():
    md = make_synthetic(n_datasets=3, n_configs=20, max_epochs=5, seed=0, models=True)
    enc = build_encoder(md, md.dataset_names)  # synthetic models have no features: auto -> one-hot
    assert enc.n_models == 4 and enc.model_feature_dim == 0
    import pandas as pd

    md.model_features = pd.DataFrame({"params_m": [1.0, 5.0, 20.0], "attention": [0.0, 0.1, 0.3]},
                                      index=["tiny_a", "tiny_b", "tiny_c"])
    enc = build_encoder(md, md.dataset_names)
    assert enc.n_models == 0 and enc.model_feature_dim == 2
    assert build_encoder(md, md.dataset_names, model_encoding="onehot").n_models == 4
    with pytest.raises(MetaError, match="model_encoding"):
        build_encoder(md, md.dataset_names, model_encoding="names")


def test_robust_default_picks_the_best_marginal_values_and_respects_conditions(tmp_path):
    from hf_quicktune.meta.defaults import robust_default_config
    from hf_quicktune.meta.qt_extended import CONDITIONS, import_qt_extended

    from .test_qt_extended import write_fixture

    md = import_qt_extended(write_fixture(tmp_path / "ext"), describe_models=False)
    cfg = robust_default_config(md, CONDITIONS)
    # dataset AAA: run 11 (adamw after adamp mapping) ends best, run 13 (adamw) worst; BBB has one run (momentum)
    assert cfg["opt"] in ("adamw", "sgd", "momentum")
    parent, active = CONDITIONS["momentum"]
    assert (cfg["momentum"] is None) == (cfg[parent] not in active)
    assert (cfg["opt_betas"] is None) == (cfg["opt"] not in CONDITIONS["opt_betas"][1])


def test_the_shipped_robust_default_fits_the_space():
    from hf_quicktune.run.search_setup import ROBUST_DEFAULT, robust_default
    from hf_quicktune.search.space import Space

    data = json.loads(ROBUST_DEFAULT.read_text())
    assert data["command"].endswith("tools/build_default_prior.py")
    space = Space.from_yaml("recipes/spaces/quicktune.yaml").with_choices("model", ["m"]).with_choices(
        "batch_size", [8, 16, 32])
    cfg = robust_default(space, "m")
    assert cfg["model"] == "m" and cfg["batch_size"] == 8  # 4 is not allowed here: the nearest choice
    assert np.isfinite(space.encode([cfg])).all()


@pytest.mark.hub
def test_the_shipped_prior_round_trips_through_the_hub_with_meta_push_and_prior_repo_id(hub):
    import uuid

    from click.testing import CliRunner

    from hf_quicktune.cli import cli
    from hf_quicktune.meta.priors import SHIPPED_DIR

    repo_id = f"{hub.api.whoami()['name']}/prior-{uuid.uuid4().hex[:6]}"
    res = CliRunner().invoke(cli, ["meta", "push", str(SHIPPED_DIR / DEFAULT), repo_id])
    assert res.exit_code == 0, res.output
    loaded, label = resolve_prior(repo_id)  # what `run --prior org/name` does
    shipped_prior, _ = resolve_prior("default")
    assert label == repo_id and loaded.provenance == shipped_prior.provenance
    for k, v in shipped_prior.surrogate.tensors().items():
        assert np.allclose(loaded.surrogate.tensors()[k].numpy(), v.numpy())
