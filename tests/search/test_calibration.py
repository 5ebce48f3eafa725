"""The online recalibration of the surrogate's std (hf_quicktune/search/calibration.py)."""

import numpy as np
import pytest

from hf_quicktune.search.calibration import FORECAST_KINDS, Forecast, ForecastCalibration


def test_only_the_asked_epoch_is_scored_and_a_failure_drops_the_forecast():
    cal = ForecastCalibration()
    cal.record(7, epoch=3, mean=0.5, std=0.1, kind="new")  # a new trial asked to train 3 epochs
    cal.observe(7, 1, 0.2)  # epochs before the asked one were not forecast
    cal.observe(7, 2, 0.3)
    assert cal.forecasts == {7: Forecast(3, 0.5, 0.1, "new")} and cal.errors == {"new": [], "continued": []}
    cal.observe(7, 3, 0.8)
    assert cal.errors["new"] == [pytest.approx(3.0)] and not cal.forecasts
    cal.record(7, epoch=4, mean=0.8, std=0.05, kind="continued")
    cal.observe(7, 4, None, ok=False)  # failed: nothing to score, nothing pending
    cal.record(8, epoch=1, mean=0.5, std=0.0, kind="new")  # a zero std cannot be standardized
    cal.observe(8, 1, 0.6)
    cal.record(9, epoch=1, mean=0.5, std=0.1, kind="new")
    cal.discard(9)  # given back unevaluated
    cal.observe(9, 1, 0.9)
    assert not cal.forecasts and cal.errors == {"new": [pytest.approx(3.0)], "continued": []}


def test_the_scale_is_the_rms_of_the_recent_errors_of_its_kind_never_below_one():
    cal = ForecastCalibration(window=4, min_errors=3)
    for z in (10.0, 2.0, -2.0):  # told through observe: mean 0, std 1
        cal.record(1, 1, 0.0, 1.0, "continued")
        cal.observe(1, 1, z)
    assert cal.scale("continued") == pytest.approx(np.sqrt(108 / 3)) and cal.scale("new") == 1.0  # kinds apart
    cal.errors["continued"] += [1.0, 1.0, 1.0, 1.0]  # the window forgets the 10
    assert cal.scale("continued") == 1.0
    cal.errors["new"] = [0.1, 0.1, 0.1, 0.1]  # under-confidence is not corrected
    assert cal.scale("new") == 1.0
    cal.errors["new"] = [4.0, 4.0]  # fewer than min_errors
    assert cal.scale("new") == 1.0
    with pytest.raises(ValueError, match="kind"):
        cal.scale("other")
    with pytest.raises(ValueError, match="kind"):
        cal.record(1, 1, 0.0, 1.0, "other")
    with pytest.raises(ValueError, match="window"):
        ForecastCalibration(window=0)


def test_state_round_trip_and_states_saved_before_calibration():
    cal = ForecastCalibration()
    cal.record(2, 5, 0.7, 0.02, "continued")
    cal.errors["new"] = [1.5, -0.5]
    again = ForecastCalibration()
    again.load_state_dict(cal.state_dict())
    assert again.forecasts == cal.forecasts and again.errors == cal.errors
    old = ForecastCalibration()
    old.load_state_dict({})  # a state saved before the calibration existed
    assert not old.forecasts and old.errors == {k: [] for k in FORECAST_KINDS}
    old.load_state_dict({"standardized_errors": [1.0, 2.0]})  # the one-list form of an earlier build
    assert old.errors == {k: [] for k in FORECAST_KINDS}
