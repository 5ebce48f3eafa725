"""Bad input to `hf-quicktune run`: exit code 2, one clear message, no traceback."""

from __future__ import annotations

import pytest

from hf_quicktune.cli import main


@pytest.mark.parametrize(("args", "needle"), [
    (["run", "--dataset", "builtin:digits", "--budget", "3x"], "invalid budget '3x'"),
    (["run", "--budget", "3m"], "no dataset given"),
    (["run", "--dataset", "builtin:digits"], "no budget given"),
    (["run", "--dataset", "builtin:digits", "--budget", "1m", "--top-k", "0"], "--top-k must be >= 1"),
    (["run", "--dataset", "builtin:digits", "--budget", "1m", "--max-trials", "many"], "'many' is not a valid integer"),
    (["run", "--dataset", "builtin:digits", "--budget", "1m", "--push-to-hub", "x y"], "org/model-name"),
    (["run", "--recipe", "does/not/exist.yaml"], "recipe file 'does/not/exist.yaml' not found"),
    (["run", "--resume"], "--resume needs the --output-dir"),
    (["run", "--resume", "--output-dir", "{tmp}/nothing"], "no run found"),
    (["run", "--dataset", "builtin:digits", "--budget", "1m", "--output-dir", "{tmp}/full"], "already holds files"),
    (["run", "--dataset", "builtin:digits", "--budget", "1m", "--bogus"], "No such option '--bogus'"),
])
def test_bad_input_exit_2_one_message(args, needle, tmp_path, capsys):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "something.txt").write_text("x")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(args) == 2
    out = capsys.readouterr()
    assert needle in out.err
    assert "Traceback" not in out.err + out.out
    assert out.err.strip().count("\n") <= 4, out.err


def test_recipe_with_unknown_key(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("dataset: builtin:digits\nbudget: 1m\nlearning_rate: 3\n")
    assert main(["run", "--recipe", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'learning_rate'" in err and "Traceback" not in err


def test_resume_refuses_to_change_the_dataset(tmp_path, capsys):
    import json

    from hf_quicktune.run.settings import RunSettings

    out = tmp_path / "run"
    out.mkdir()
    (out / "settings.json").write_text(json.dumps(RunSettings(dataset="builtin:digits", budget="1m").to_dict()))
    assert main(["run", "--resume", "--output-dir", str(out), "--dataset", "org/other"]) == 2
    err = capsys.readouterr().err
    assert "dataset='builtin:digits'" in err and "org/other" in err and "Traceback" not in err


def test_command_line_wins_over_recipe_and_unset_flags_keep_recipe_values(tmp_path, monkeypatch):
    import hf_quicktune.commands.run as command

    seen = {}
    monkeypatch.setattr(command, "_execute", lambda settings, *a: seen.setdefault("s", settings))
    recipe = tmp_path / "r.yaml"
    recipe.write_text("dataset: builtin:digits\nbudget: 1m\nprivate: true\nimage-size: 48\ntrain-limit: 100\n")
    assert main(["run", "--recipe", str(recipe), "--image-size", "40", "--budget", "2m"]) == 0
    s = seen["s"]
    assert (s.image_size, s.budget, s.private, s.train_limit, s.dataset) == (40, "2m", True, 100, "builtin:digits")


def test_a_run_that_trains_nothing_says_why_without_an_empty_leaderboard(tmp_path, capsys):
    """A budget spent before the first epoch: exit 2 with the reason; no leaderboard header with no rows under it."""
    from .helpers import SMALL

    code = main(["run", "--dataset", "builtin:digits", *SMALL, "--budget", "1s", "--output-dir", str(tmp_path / "r")])
    captured = capsys.readouterr()
    assert code == 2
    assert "no trial finished an epoch (search stopped: budget used)" in captured.err
    assert not any(line.lstrip().startswith("#") and "trial" in line and "model" in line
                   for line in (captured.out + captured.err).splitlines())
