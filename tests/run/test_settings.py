"""Run settings: budget parsing, recipe precedence, validation messages (no torch needed)."""

from __future__ import annotations

import pytest

from hf_quicktune.errors import ConfigError
from hf_quicktune.run.settings import RunSettings, load_recipe, parse_budget, resolve_settings


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90), ("90s", 90), ("3m", 180), ("2h", 7200), ("1h30m", 5400), ("1.5h", 5400), (" 2 m ", 120),
    (45, 45), ("0.5m", 30), ("2 hours", 7200), ("30 min", 1800), ("1 hour, 30 minutes", 5400), ("1h 30m", 5400),
    ("45mins", 2700), ("2 Hours", 7200), ("1d", 86400), ("90 sec", 90), ("2 hrs", 7200),
    # a job's time as a clock and Slurm's --time write it
    ("1:30:00", 5400), ("01:30:00", 5400), ("0:00:45", 45), ("1-12:00:00", 129600), ("2-0", 172800),
    ("1-06:30", 109800),
])
def test_parse_budget(text, seconds):
    assert parse_budget(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["3x", "", "h", "m5", "-3m", "0", "1h-5m", "abc",
                                  "2 hourz", "1hh",
                                  "1,5h",  # a decimal comma is not "1 second, 5 hours"
                                  "1h30", "1 30",  # which unit has the 30?
                                  "0:00:00", "1:60:00", "1-2x"])
def test_parse_budget_rejects_with_a_hint(text):
    with pytest.raises(ConfigError, match="budget"):
        parse_budget(text)


def test_a_clock_of_two_parts_is_refused_as_ambiguous():
    """1:30 is 1 h 30 min to some and 1 min 30 s to Slurm: the error says both and how to write either."""
    with pytest.raises(ConfigError, match=r"1:30 could be 1 h 30 min or, as Slurm reads it, 1 min 30 s"):
        parse_budget("1:30")


def test_recipe_values_then_cli_wins(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("dataset: builtin:digits\nbudget: 10m\ntop-k: 3\nimage_size: 32\n")
    s = resolve_settings({"budget": "2m", "top_k": None, "seed": 7}, recipe)
    assert (s.dataset, s.budget, s.top_k, s.image_size, s.seed) == ("builtin:digits", "2m", 3, 32, 7)
    assert s.budget_s == 120


def test_a_recipes_clock_budget_is_read_as_written(tmp_path):
    """YAML 1.1 reads 1:30 as the base-60 number 90: a recipe's budget: 1:30 ran 90 seconds; now refused as
    ambiguous, and 1:30:00 is 90 minutes (other numbers stay numbers)."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text("dataset: builtin:digits\nbudget: 1:30:00\nseed: 7\nval_fraction: 0.25\n")
    s = resolve_settings({}, recipe)
    assert (s.budget_s, s.seed, s.val_fraction) == (5400, 7, 0.25)
    recipe.write_text("dataset: builtin:digits\nbudget: 1:30\n")
    with pytest.raises(ConfigError, match="1:30 could be 1 h 30 min"):
        resolve_settings({}, recipe)


def test_recipe_unknown_key_names_key_and_file(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("dataset: x\nbudjet: 3m\n")
    with pytest.raises(ConfigError) as err:
        load_recipe(recipe)
    assert "budjet" in str(err.value) and str(recipe) in str(err.value)


def test_recipe_missing_or_not_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_recipe(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_recipe(tmp_path / "list.yaml")


@pytest.mark.parametrize("name", ["quickstart.yaml", "cpu-small.yaml"])
def test_shipped_recipes_load_and_validate(name):
    values = load_recipe(f"recipes/{name}")
    values.setdefault("dataset", None)
    values["dataset"] = values["dataset"] or "builtin:digits"
    s = RunSettings(**values).validate()
    assert s.budget_s and s.budget_s > 0


@pytest.mark.parametrize(("values", "needle"), [
    ({"budget": "3m"}, "no dataset"),
    ({"dataset": "builtin:digits"}, "no budget"),
    ({"dataset": "d", "budget": "3m", "top_k": 0}, "--top-k must be >= 1"),
    ({"dataset": "d", "max_trials": "x"}, "--max-trials must be an integer"),
    ({"dataset": "d", "budget": "3m", "push_to_hub": "no slash"}, "org/model-name"),
    ({"dataset": "d", "budget": "3m", "acquisition": "pi"}, "--acquisition must be one of"),
    ({"dataset": "d", "budget": "3m", "metric": "f1"}, "--metric must be one of top1, balanced_accuracy, macro_f1"),
    ({"dataset": "d", "budget": "3m", "horizon": "max", "prior": "none"}, "needs a meta-learned --prior"),
    ({"dataset": "d", "budget": "3m", "initial_epochs": 0}, "--initial-epochs must be >= 1"),
    ({"dataset": "d", "budget": "3m", "initial_epochs": 6, "max_epochs": 5}, "more than --max-epochs 5"),
])
def test_validate_messages(values, needle):
    with pytest.raises(ConfigError, match=needle):
        RunSettings(**values).validate()


def test_push_to_hub_takes_the_model_pages_url():
    """Copied from the browser: was "is not a repo id"; a dataset's page is still refused."""
    s = RunSettings(dataset="builtin:digits", budget="1m", push_to_hub="https://huggingface.co/me/best-model/")
    assert s.validate().push_to_hub == "me/best-model"
    with pytest.raises(ConfigError, match="is not a repo id"):
        RunSettings(dataset="builtin:digits", budget="1m", push_to_hub="https://huggingface.co/datasets/me/d").validate()


@pytest.mark.parametrize("ref", ["recipes/spaces/quicktune.yaml", "spaces/quicktune.yaml", "quicktune",
                                 "recipes/cpu-small.yaml", "cpu-small"])
def test_shipped_files_resolve_from_any_working_directory(ref, tmp_path, monkeypatch):
    from hf_quicktune.run.settings import resolve_recipe_file

    monkeypatch.chdir(tmp_path)
    assert resolve_recipe_file(ref).is_file()


def test_missing_space_file_is_reported_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match="search space file 'nope.yaml' not found"):
        RunSettings(dataset="builtin:digits", budget="1m", space="nope.yaml").validate()


def test_ci_workflow_example_runs_a_recipe_and_publishes_with_the_secret_token():
    import yaml

    wf = yaml.safe_load(open("recipes/ci/quicktune.yml"))
    steps = wf["jobs"]["search"]["steps"]
    install = [s for s in steps if "pip install hf-quicktune" in s.get("run", "")]
    search = [s for s in steps if "hf-quicktune run" in s.get("run", "")]
    assert install and len(search) == 1
    script = search[0]["run"]
    assert "--recipe" in script and "--push-to-hub" in script and "set -euo pipefail" in script
    assert search[0]["env"]["HF_TOKEN"] == "${{ secrets.HF_TOKEN }}"
    # the quality gate: a model below the threshold fails the job and is not published
    assert '--min-accuracy "${{ inputs.min_accuracy }}"' in script
    inputs = (wf.get("on") or wf[True])["workflow_dispatch"]["inputs"]  # YAML 1.1 reads the key `on` as True
    gate = RunSettings(dataset="builtin:digits", budget="1m", min_accuracy=inputs["min_accuracy"]["default"])
    assert 0 < gate.validate().min_accuracy < 1


def test_make_optimizer_passes_acquisition_horizon_and_initial_epochs():
    from .helpers import make_run_optimizer

    pool = [{"model": "m", "lr": 1e-3}, {"model": "m", "lr": 1e-2}]
    settings = RunSettings(dataset="builtin:digits", max_trials=1, acquisition="ucb", initial_epochs=3).validate()
    opt = make_run_optimizer(settings, pool)
    assert (opt.acquisition, opt.horizon, opt.initial_epochs) == ("ucb", "next", 3)


def test_budget_is_parsed_once_when_set(monkeypatch):
    import hf_quicktune.run.settings as settings_module
    from hf_quicktune.run.budget import Budget

    calls: list[object] = []
    real = settings_module.parse_budget
    monkeypatch.setattr(settings_module, "parse_budget", lambda text: calls.append(text) or real(text))
    s = RunSettings(dataset="builtin:digits", budget="1h30m")
    assert calls == ["1h30m"]
    s.validate()
    assert (s.budget_s, s.budget_s, Budget.from_settings(s).seconds) == (5400, 5400, 5400)
    assert calls == ["1h30m"]  # reading it (and validating) does not parse again
    s.budget = "2m"  # a resume's override: parsed once more, then read as a value
    assert s.budget_s == 120 and s.validate().budget_s == 120
    assert calls == ["1h30m", "2m"]
    s.budget = None
    assert s.budget_s is None


def test_parsed_budget_is_not_a_setting_and_survives_the_round_trips():
    import json
    import pickle

    s = RunSettings(dataset="builtin:digits", budget="90s", max_trials=3).validate()
    stored = json.loads(json.dumps(s.to_dict()))  # what settings.json holds
    assert stored["budget"] == "90s" and "_budget_s" not in stored and "budget_s" not in stored
    assert "_budget_s" not in RunSettings.keys()
    again = RunSettings(**stored).validate()  # a resume reads it back
    assert again == s and again.budget_s == 90
    assert pickle.loads(pickle.dumps(s)).budget_s == 90


def test_an_invalid_budget_is_reported_by_validate_in_its_turn():
    s = RunSettings(dataset="builtin:digits", budget="soon")  # constructing does not raise
    with pytest.raises(ConfigError, match="invalid budget 'soon'"):
        s.validate()
    with pytest.raises(ConfigError, match="invalid budget 'soon'"):
        s.budget_s  # noqa: B018
    with pytest.raises(ConfigError, match="no dataset"):  # checked before the budget, as before
        RunSettings(budget="soon").validate()
