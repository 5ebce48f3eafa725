"""The trials' schedule length when --max-epochs is not given: fitted to the budget (run/schedule.py)."""

from __future__ import annotations

import json
import math

import pytest

from hf_quicktune.run import schedule
from hf_quicktune.run.settings import RunSettings

from .helpers import ZOO


def test_epochs_within_takes_half_of_the_budget_and_clips():
    assert schedule.epochs_within(90, 5.5) == 8  # floor(45 / 5.5)
    assert schedule.epochs_within(90, 5.5, share=1.0) == 16
    assert schedule.epochs_within(1e9, 5.5) == schedule.DEFAULT_MAX_EPOCHS
    assert schedule.epochs_within(3, 5.5) == 1 and schedule.epochs_within(-10, 5.5) == 1
    assert schedule.epochs_within(3, 5.5, least=2) == 2
    assert schedule.epochs_within(90, 0.0) == schedule.DEFAULT_MAX_EPOCHS  # no estimate: the default


class _Candidate:
    name = "m"


def test_fit_max_epochs_prices_an_epoch_from_the_timed_steps(monkeypatch):
    import hf_quicktune.run.cost_prior as cost_prior

    calls = []
    timing = {"per_step": 0.02, "per_sample": 0.0025, "head_share": 0.5, "fraction": {0.0: 1.0}}

    def timed(models, pcts, num_classes, image_size, seed=0, **kw):
        calls.append((list(models), image_size))
        return {"m": timing}

    monkeypatch.setattr(cost_prior, "step_seconds_by_model", timed)
    out = schedule.fit_max_epochs(60.0, _Candidate(), 10, 480, 120, 32)
    # a step of 32 costs 0.02 + 32 x 0.0025 = 0.1 s: 15 training steps + 4 evaluation batches at a third of
    # a step, x1.25 for data loading and evaluation
    assert schedule.OVERHEAD == 1.25
    epoch_s = 1.25 * (15 * 0.1 + 4 * 0.1 / 3)
    assert calls == [(["m"], 32)]
    assert out["epoch_seconds"] == pytest.approx(epoch_s, abs=1e-4)
    assert out["max_epochs"] == math.floor(30 / epoch_s) == 14 and out["search"] is True  # 29.4 epochs affordable
    assert "fitted to the budget" in out["why"] and "--max-epochs" in out["why"]
    # fewer than SEARCH_MIN_EPOCHS affordable: no search, one schedule on 85 % of the budget
    small = schedule.fit_max_epochs(30.0, _Candidate(), 10, 480, 120, 32)
    assert small["search"] is False and small["max_epochs"] == math.floor(0.85 * 30 / epoch_s) == 12
    assert "too few to search" in small["why"]
    assert schedule.fit_max_epochs(1e6, _Candidate(), 10, 480, 120, 32)["max_epochs"] == 50
    none = schedule.fit_max_epochs(None, _Candidate(), 10, 480, 120, 32)
    assert none["max_epochs"] == 50 and none["epoch_seconds"] is None and len(calls) == 3
    # the run's own timings are used when it has them (nothing timed again)
    again = schedule.fit_max_epochs(60.0, _Candidate(), 10, 480, 120, 32, timing=timing)
    assert again["max_epochs"] == 14 and len(calls) == 3


def test_settings_leave_max_epochs_to_the_run_unless_given():
    s = RunSettings(dataset="builtin:digits", budget="2m").validate()
    assert s.max_epochs is None and s.schedule_epochs == 50
    assert RunSettings(dataset="builtin:digits", budget="2m", max_epochs=7).validate().schedule_epochs == 7
    # --initial-epochs is checked against the fitted schedule, not refused before it is known
    assert RunSettings(dataset="builtin:digits", budget="2m", initial_epochs=3).validate().initial_epochs == 3


def test_a_run_without_max_epochs_fits_its_schedule_to_the_budget_and_a_resume_keeps_it(tmp_path, capfd):
    from hf_quicktune.cli import main

    out = tmp_path / "run"
    args = ["run", "--dataset", "builtin:digits", "--zoo", ZOO, "--image-size", "32", "--train-limit", "64",
            "--eval-limit", "48", "--rank-samples", "32", "--pool-size", "6", "--budget", "40s",
            "--max-epochs-total", "1", "--output-dir", str(out)]
    assert main(args) == 0
    fitted = json.loads((out / "schedule.json").read_text())
    stored = json.loads((out / "settings.json").read_text())
    assert stored["max_epochs"] == fitted["max_epochs"] < 50
    assert fitted["model"] == "tf_efficientnet_lite0" and fitted["epoch_seconds"] > 0
    share = schedule.BUDGET_SHARE if fitted["search"] else schedule.FINE_TUNE_SHARE
    assert fitted["max_epochs"] == schedule.epochs_within(fitted["budget_left_s"], fitted["epoch_seconds"], share=share)
    assert fitted["search"] == (fitted["budget_left_s"] / fitted["epoch_seconds"] >= schedule.SEARCH_MIN_EPOCHS)
    assert 0 < fitted["budget_left_s"] < 40
    assert "schedule: " in capfd.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epoch_steps"] == 1
    # a resumed run keeps the trials' schedule (nothing is re-timed)
    before = (out / "schedule.json").stat().st_mtime_ns
    assert main(["run", "--output-dir", str(out), "--resume", "--max-epochs-total", "2"]) == 0
    assert json.loads((out / "settings.json").read_text())["max_epochs"] == fitted["max_epochs"]
    assert (out / "schedule.json").stat().st_mtime_ns == before
