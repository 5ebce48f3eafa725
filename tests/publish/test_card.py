"""The model card: metadata that huggingface_hub parses back strictly, and the body's content."""

from __future__ import annotations

from huggingface_hub import ModelCard
from huggingface_hub.repocard_data import model_index_to_eval_results

from hf_quicktune.publish import CardInfo, build_model_card


def _info(**kw):
    rows = [{"rank": i + 1, "trial_id": i, "model": f"m{i}", "status": "ok", "epochs": 3,
             "last_val_top1": 0.9 - i / 100, "best_val_top1": 0.91 - i / 100, "config": {"lr": 1e-3, "opt": "adam"}}
            for i in range(12)]
    base = dict(model_name="org/result", base_model="timm/tf_efficientnet_lite0.in1k", candidate="lite0",
                architecture="tf_efficientnet_lite0", dataset="org/digits", dataset_is_hub=True,
                config={"model": "lite0", "lr": 0.001, "opt": "adam", "batch_size": 32}, epochs=3, val_top1=0.875,
                test_top1=0.8625, license="apache-2.0", budget="3m", budget_used_s=170.0, zoo="offline",
                candidates=["lite0", "scratch"], num_trials=12, num_steps=30, leaderboard=rows)
    base.update(kw)
    return CardInfo(**base)


def test_card_metadata_round_trips_strictly(tmp_path):
    card = build_model_card(_info())
    path = tmp_path / "README.md"
    card.save(path)
    loaded = ModelCard.load(path, ignore_metadata_errors=False)
    data = loaded.data
    assert data.library_name == "timm"
    assert data.pipeline_tag == "image-classification"
    assert data.base_model == "timm/tf_efficientnet_lite0.in1k"
    assert data.datasets == ["org/digits"]
    assert data.license == "apache-2.0"
    assert data.tags == ["hf-quicktune", "image-classification", "timm"]
    name, results = model_index_to_eval_results(data.to_dict()["model-index"])
    assert name == "org/result"
    by_split = {r.dataset_split: r.metric_value for r in results}
    assert by_split == {"validation": 0.875, "test": 0.8625}
    assert all(r.metric_type == "accuracy" and r.task_type == "image-classification" for r in results)


def test_card_body_explains_the_search(tmp_path):
    text = str(build_model_card(_info()))
    assert "3m" in text and "170 s used" in text
    assert '"lr": 0.001' in text and '"batch_size": 32' in text
    assert "![learning curves](plots/learning_curves.png)" in text
    table = [line for line in text.splitlines() if line.startswith("| ") and "`m" in line]
    assert len(table) == 10  # top 10 of 12 trials
    assert 'timm.create_model("hf-hub:org/result"' in text
    assert 'create_model("local-dir:/x/export"' in str(build_model_card(_info(model_ref="local-dir:/x/export")))


def test_card_lists_the_models_stats_like_timms_cards():
    text = str(build_model_card(_info(stats={"params_m": 3.42, "gmacs": 0.3851, "macts": 6.74, "image_size": 224.0})))
    assert "## Model stats\n\n- Params (M): 3.4\n- GMACs: 0.39\n- Activations (M): 6.7\n- Image size: 224 x 224\n" in text
    assert text.index("## Model stats") < text.index("## Use it")
    assert "## Model stats" not in str(build_model_card(_info()))  # not counted (a transformers model): no section
    partial = str(build_model_card(_info(stats={"params_m": 86.6, "image_size": 224.0})))
    assert "- Params (M): 86.6\n- Image size: 224 x 224\n" in partial and "GMACs" not in partial


def test_card_says_what_each_split_is_and_where_it_came_from():
    """Transformers' Trainer cards have a "Training and evaluation data" section: here the classes and each split's
    size and origin (data/describe.py), so that a reader knows what the validation score measures."""
    from hf_quicktune.data.describe import split_origin

    info = {"source_splits": {"train": "kfold != 0", "validation": "kfold == 0"}, "fold_column": "kfold",
            "made_splits": ["test"], "held": {"test": 0.1}, "seed": 3, "group_column": "patient_id"}
    splits = [(name, n, split_origin(info, name)) for name, n in (("train", 1800), ("validation", 500),
                                                                  ("test", 200))]
    text = str(build_model_card(_info(class_names=[f"c{i}" for i in range(14)], data_splits=splits)))
    section = text.split("## Training and evaluation data\n\n")[1].split("## Use it")[0]
    assert section == ("Dataset: **org/digits**\n\n- 14 classes: `c0`, `c1`, `c2`, `c3`, `c4`, `c5`, `c6`, `c7`, `c8`, "
                       "`c9`, `c10`, `c11` ...\n"
                       "- train: 1,800 images, the other folds of 'kfold' (not 0), less the held-out shares\n"
                       "- validation: 500 images, fold 0 of the table's 'kfold' column\n"
                       "- test: 200 images, held out from train: 10 % of the training images, stratified by class, "
                       "whole groups of 'patient_id', seed 3\n\n")
    assert "## Training and evaluation data" not in str(build_model_card(_info()))  # not given: no section
    assert split_origin({"source_splits": {"validation": "PublicTest"}, "split_column": "Usage"}, "validation") == \
        "the rows whose 'Usage' is 'PublicTest'"


def test_card_gives_the_images_a_capped_run_used_of_each_split():
    """--train-limit / --eval-limit train and score on a fixed random subset: the card's sizes are the subset's."""
    from hf_quicktune.data.describe import used_splits

    info = {"made_splits": ["validation"], "held": {"validation": 0.2}, "seed": 0}
    rows = used_splits(info, {"train": 800, "validation": 200, "test": 30}, train_limit=100, eval_limit=50)
    assert rows == [("train", 100, "the dataset's 'train' split, less the held-out shares; a random 100 of its 800 "
                                    "images (--train-limit 100)"),
                    ("validation", 50, "held out from train: 20 % of the training images, stratified by class, seed 0; "
                                       "a random 50 of its 200 images (--eval-limit 50)"),
                    ("test", 30, "the dataset's 'test' split")]  # under the cap: as it is
    assert used_splits(info, {"train": 800}) == [("train", 800, "the dataset's 'train' split, less the held-out shares")]


def test_card_of_a_run_too_small_to_search_does_not_claim_a_search():
    searched = str(build_model_card(_info(prior="org/prior")))
    assert "chosen by\n**hf-quicktune** (Quick-Tune" in searched and "- searched: 2 candidate models" in searched
    assert "- 12 trials, 30 epoch-steps" in searched and "meta-learned prior: `org/prior`\n" in searched
    text = str(build_model_card(_info(prior="org/prior", searched=False, num_trials=1, num_steps=7)))
    assert "Bayesian optimisation" not in text and "- searched:" not in text and "over models" not in text
    assert "trained by **hf-quicktune**\nwithout a search: the budget bought too few epochs to search" in text
    assert "- ranked: 2 candidate models from zoo `offline`" in text and "- 1 trial, 7 epoch-steps" in text
    assert "meta-learned prior: `org/prior` (loaded; unused: no search)" in text


def test_card_says_when_epochs_trained_a_share_of_the_images():
    line = "epochs of 91 % or more of the training images each (a fresh random subset per epoch)"
    assert line in str(build_model_card(_info(epoch_fraction=0.9137)))
    assert "of the training images each" not in str(build_model_card(_info(epoch_fraction=1.0)))
    assert "of the training images each" not in str(build_model_card(_info()))


def test_card_without_test_split_or_hub_dataset():
    card = build_model_card(_info(test_top1=None, dataset="builtin:digits", dataset_is_hub=False, base_model=None,
                                  license=None))
    data = card.data
    assert data.datasets is None and data.base_model is None
    assert [r.dataset_split for r in data.eval_results] == ["validation"]


def test_scratch_winner_card_is_true():
    """A random-init winner is not 'fine-tuned', has no base model, no colon in the model-index name and
    no freezing / linear-probing hyperparameters."""
    config = {"model": "scratch:resnet10t", "lr": 0.01, "linear_probing": True, "pct_to_freeze": 0.4}
    card = build_model_card(_info(model_name="run-scratch:resnet10t", base_model="timm/resnet10t.c3_in1k",
                                  candidate="scratch:resnet10t", architecture="resnet10t", pretraining="none",
                                  config=config, from_scratch=True, epochs=4, best_epoch=2))
    text = str(card)
    assert "fine-tuned" not in text and "trained from scratch (random initialisation)" in text
    assert "base model" not in text and "(none)" not in text and card.data.base_model is None
    name, _ = model_index_to_eval_results(card.data.to_dict()["model-index"])
    assert ":" not in name and name == "run-scratch-resnet10t"
    chosen = text.split("### Chosen hyperparameters")[1].split("### Leaderboard")[0]
    assert '"lr": 0.01' in chosen and "linear_probing" not in chosen and "pct_to_freeze" not in chosen
    assert "weights of epoch 2, the best validation epoch of the 4 trained" in text


def test_pretrained_winner_card_names_base_model_epoch_quality_and_prior():
    text = str(build_model_card(_info(best_epoch=2, quality="validation top-1 87.50 % vs chance 10.00 %",
                                      prior="org/prior", pretraining="in1k")))
    assert "`tf_efficientnet_lite0` fine-tuned on **org/digits**" in text
    assert "- base model: `timm/tf_efficientnet_lite0.in1k` (pretrained on in1k)" in text
    assert "weights of epoch 2, the best validation epoch of the 3 trained" in text
    assert "quality check: validation top-1 87.50 % vs chance 10.00 %" in text
    assert "meta-learned prior: `org/prior`" in text


def test_local_dataset_card_names_the_file_marked_local():
    card = build_model_card(_info(dataset="digits.csv", dataset_is_hub=False, dataset_is_local=True))
    text = str(card)
    assert "`digits.csv` (local file)" in text and card.data.datasets is None
    results = card.data.eval_results
    assert {r.dataset_name for r in results} == {"digits.csv (local)"}
    assert {r.dataset_type for r in results} == {"digits.csv"}
    folder = str(build_model_card(_info(dataset="data.v2", dataset_is_hub=False, dataset_is_local=True,
                                        dataset_local_kind="folder")))
    assert "`data.v2` (local folder)" in folder


def test_card_says_how_to_load_the_model_in_its_own_library():
    timm_card = str(build_model_card(_info()))
    assert 'timm.create_model("hf-hub:org/result", pretrained=True)' in timm_card
    card = str(build_model_card(_info(library_name="transformers", image_size=64, interpolate_pos_encoding=True)))
    assert "timm.create_model" not in card and "library_name: transformers" in card
    assert 'AutoModelForImageClassification.from_pretrained("org/result")' in card
    assert ', return_tensors="pt"), interpolate_pos_encoding=True).logits' in card and "fine-tuned at 64 px" in card
    plain = str(build_model_card(_info(library_name="transformers")))
    assert "interpolate_pos_encoding" not in plain and 'AutoImageProcessor.from_pretrained("org/result")' in plain


def test_a_card_written_for_an_export_on_disk_is_retargeted_to_the_repo_it_is_pushed_to():
    from hf_quicktune.publish.card import retarget_card

    timm_card = str(build_model_card(_info(model_ref="local-dir:run/export")))
    assert 'timm.create_model("hf-hub:me/model", pretrained=True)' in retarget_card(timm_card, "me/model")
    card = retarget_card(str(build_model_card(_info(library_name="transformers", model_ref="run/export"))), "me/model")
    assert 'AutoImageProcessor.from_pretrained("me/model")' in card and "run/export" not in card
    assert 'AutoModelForImageClassification.from_pretrained("me/model")' in card


def test_card_pins_a_hub_datasets_configuration_and_commit(tmp_path):
    """What reproduces the data: the configuration and the commit read (the model-index's dataset revision too)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    card = build_model_card(_info(dataset_config="full", dataset_revision="v2", dataset_commit=commit))
    assert "fine-tuned on **org/digits** (configuration `full`, commit `0123456789` of `v2`)" in card.text
    card.save(tmp_path / "README.md")
    _, results = model_index_to_eval_results(ModelCard.load(tmp_path / "README.md").data.to_dict()["model-index"])
    assert {(r.dataset_config, r.dataset_revision) for r in results} == {("full", commit)}
    assert "fine-tuned on **org/digits**" in build_model_card(_info()).text
    assert "(configuration" not in build_model_card(_info()).text  # nothing known: nothing said


def test_card_says_how_a_trial_that_failed_after_its_best_epoch_ended():
    text = str(build_model_card(_info(best_epoch=2, epochs=2, failed_after="diverged (a non-finite loss) at epoch 3")))
    assert ("(weights of epoch 2, the best validation epoch of the 2 trained; training then diverged (a non-finite "
            "loss) at epoch 3)") in text
    assert "training then" not in str(build_model_card(_info()))
