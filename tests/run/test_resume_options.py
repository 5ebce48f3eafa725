"""--resume never drops an option silently (every one is applied or refused with the reason), and a
run directory is used by one process at a time (a lock the OS releases when its holder dies)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time

import pytest

from hf_quicktune.cli import main
from hf_quicktune.errors import ConfigError
from hf_quicktune.run.session import prepare_state
from hf_quicktune.run.settings import RunSettings
from hf_quicktune.run.state import RunLock, RunLockedError, RunState


def _new_run(out) -> None:
    settings = RunSettings(dataset="builtin:digits", budget="1m", output_dir=str(out)).validate()
    _, state = prepare_state(settings, resume=False)
    state.unlock()


def test_resume_applies_acquisition_horizon_limits_and_gate_and_records_them(tmp_path):
    out = tmp_path / "run"
    _new_run(out)
    cli = RunSettings(dataset="builtin:digits", budget="5m", output_dir=str(out), acquisition="ucb",
                      min_accuracy=0.5, max_trials=3)
    settings, state = prepare_state(cli, resume=True, given={"acquisition", "budget", "min_accuracy", "max_trials",
                                                             "horizon", "dataset", "output_dir"})
    state.unlock()
    assert (settings.acquisition, settings.budget, settings.min_accuracy, settings.max_trials) == ("ucb", "5m", 0.5, 3)
    stored = json.loads((out / "settings.json").read_text())
    assert stored["acquisition"] == "ucb" and stored["budget"] == "5m" and stored["output_dir"] == str(out)


@pytest.mark.parametrize("key,value,reason", [
    ("initial_epochs", 3, "counts new trials' first epochs"),
    ("estimate_cost", False, "cost model"),
    ("seed", 7, "drawn with it"),
    ("image_size", 64, "trained with it"),
    ("pool_size", 9, "pool.json"),
    ("score_features", True, "surrogate was built"),
    ("metric", "macro_f1", "measured in it"),
])
def test_resume_refuses_what_cannot_change_and_says_why(tmp_path, key, value, reason):
    out = tmp_path / "run"
    _new_run(out)
    cli = RunSettings(dataset="builtin:digits", budget="1m", output_dir=str(out), **{key: value})
    with pytest.raises(ConfigError, match=reason) as err:
        prepare_state(cli, resume=True, given={key})
    assert f"{key}=" in str(err.value) and "another --output-dir" in str(err.value)
    assert RunLock(out).holder() is None  # a refusal does not keep the run locked


def test_a_run_stored_before_score_features_existed_resumes_with_the_scores_it_used(tmp_path):
    out = tmp_path / "run"
    _new_run(out)
    assert json.loads((out / "settings.json").read_text())["score_features"] is False  # today's default
    old = json.loads((out / "settings.json").read_text())
    del old["score_features"]  # settings.json of a run from before the option: its surrogate had the scores
    (out / "settings.json").write_text(json.dumps(old))
    settings, state = prepare_state(RunSettings(dataset="builtin:digits", output_dir=str(out)), resume=True,
                                    given={"output_dir"})
    state.unlock()
    assert settings.score_features is True


def _capture(monkeypatch):
    seen = {}

    def fake_execute(settings, resume, given, as_json, started_at):  # the real prepare_state, no training
        seen["settings"], state = prepare_state(settings, resume, given)
        state.unlock()

    monkeypatch.setattr("hf_quicktune.commands.run._execute", fake_execute)
    return seen


def test_cli_resume_passes_every_option_it_was_given(tmp_path, monkeypatch, capfd):
    out = tmp_path / "run"
    _new_run(out)
    seen = _capture(monkeypatch)
    code = main(["run", "--output-dir", str(out), "--resume", "--acquisition", "ucb", "--min-accuracy", "80%",
                 "--budget", "2m"])
    assert code == 0, capfd.readouterr().err
    assert (seen["settings"].acquisition, seen["settings"].min_accuracy, seen["settings"].budget) == ("ucb", 0.8, "2m")
    for args, name in ((["--initial-epochs", "3"], "initial_epochs"), (["--no-estimate-cost"], "estimate_cost"),
                       (["--zoo", "tiny"], "zoo")):
        code = main(["run", "--output-dir", str(out), "--resume", *args])
        err = capfd.readouterr().err
        assert code == 2 and f"has {name}=" in err and "cannot change on resume" in err, err
        assert "Traceback" not in err


def test_cli_resume_with_a_recipe_applies_or_refuses_its_keys(tmp_path, monkeypatch, capfd):
    out = tmp_path / "run"
    _new_run(out)
    seen = _capture(monkeypatch)
    ok = tmp_path / "ok.yaml"
    ok.write_text("budget: 4m\nacquisition: ei\n")
    assert main(["run", "--output-dir", str(out), "--resume", "--recipe", str(ok)]) == 0
    assert (seen["settings"].budget, seen["settings"].acquisition) == ("4m", "ei")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: 5\n")
    assert main(["run", "--output-dir", str(out), "--resume", "--recipe", str(bad)]) == 2
    assert "has seed=0" in capfd.readouterr().err


_HOLD = "import sys, time; from hf_quicktune.run.state import RunLock; lock = RunLock(sys.argv[1]).acquire(); " \
        "print('locked', flush=True); time.sleep(600)"


def test_a_locked_run_dir_is_refused_and_the_lock_dies_with_its_holder(tmp_path, capfd):
    out = tmp_path / "run"
    _new_run(out)
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=f"pid {holder.pid} "):
            prepare_state(RunSettings(dataset="builtin:digits", budget="1m", output_dir=str(out)), resume=True)
        with pytest.raises(RunLockedError, match="in use by another hf-quicktune run"):  # a new run there too
            prepare_state(RunSettings(dataset="builtin:digits", budget="1m", output_dir=str(out)), resume=False)
        assert main(["demo", "--output-dir", str(out)]) == 2  # the demo does not delete a live run
        assert "in use by another hf-quicktune run" in capfd.readouterr().err and (out / "settings.json").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    t0 = time.monotonic()
    _, state = prepare_state(RunSettings(dataset="builtin:digits", budget="1m", output_dir=str(out)), resume=True)
    assert time.monotonic() - t0 < 5  # no stale lock to wait for or clean up
    assert RunLock(out).holder() is not None  # held by this process now ...
    state.unlock()
    assert RunLock(out).holder() is None  # ... and free again


def test_a_new_run_dir_that_only_holds_a_lock_file_is_usable(tmp_path):
    out = tmp_path / "run"
    RunLock(out).acquire().release()
    assert [p.name for p in out.iterdir()] == [".lock"]
    _new_run(out)
    assert RunState(out).exists()


def test_a_new_run_starts_over_a_run_that_stopped_before_training_anything(tmp_path, capfd):
    """A bad --dataset (or a budget spent before the first epoch) leaves the run's first files behind; the
    corrected command used to be refused ("already holds files"). A run that trained nothing is replaced;
    one with a trial's curve, an export or a file that is not the run's own is still refused."""
    out = tmp_path / "run"
    one_class = tmp_path / "one" / "a"
    one_class.mkdir(parents=True)
    from PIL import Image

    for i in range(4):
        Image.new("RGB", (8, 8), (i, 0, 0)).save(one_class / f"{i}.png")
    assert main(["run", "--dataset", str(tmp_path / "one"), "--zoo", "scratch:resnet10t", "--budget", "1m",
                 "--output-dir", str(out)]) == 2
    assert "at least 2 classes" in capfd.readouterr().err
    assert (out / "settings.json").exists() and RunState(out).stopped_before_training()
    settings, state = prepare_state(RunSettings(dataset="builtin:digits", budget="2m", output_dir=str(out)),
                                    resume=False)
    state.unlock()
    assert json.loads((out / "settings.json").read_text())["budget"] == "2m"
    assert not (out / "run.log").exists()  # the stopped run's files are gone: this is a new run
    for keep in ("trials/0000/curve.jsonl", "export/model.safetensors", "notes.txt"):
        (out / keep).parent.mkdir(parents=True, exist_ok=True)
        (out / keep).write_text("{}")
        with pytest.raises(ConfigError, match="already holds files"):
            prepare_state(RunSettings(dataset="builtin:digits", budget="1m", output_dir=str(out)), resume=False)
        assert (out / keep).exists()
        top = out / keep.split("/")[0]
        shutil.rmtree(top) if top.is_dir() else top.unlink()
    assert RunState(out).stopped_before_training()  # as it was before each addition
