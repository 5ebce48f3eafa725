"""The input size a budget too small for the models' own resolution trains at (run/resolution.py)."""

from __future__ import annotations

import json

import pytest

from hf_quicktune.run import resolution
from hf_quicktune.run.resolution import choose_image_size, least_size, size_ladder

from .helpers import ZOO


def test_the_ladder_steps_down_by_32_to_half_the_models_size_or_to_the_images_own():
    assert least_size(224, 8) == 32  # 8x8 digits: nothing below 32 px is tried, and nothing above them is kept
    assert size_ladder(224, 8) == [192, 160, 128, 96, 64, 32]
    assert size_ladder(224, 28) == [192, 160, 128, 96, 64, 32]
    assert least_size(224, 70) == 96 and size_ladder(224, 70) == [192, 160, 128, 96]
    # photos larger than the model's input: at most half of its size is given up
    assert least_size(224, 375) == 112 and size_ladder(224, 375) == [192, 160, 128]
    assert least_size(260, 0) == 130 and size_ladder(260, 0) == [256, 224, 192, 160]  # unknown: as photos
    assert size_ladder(32, 8) == [] and size_ladder(48, 8) == [32]


def _schedule(epochs: int, fraction: float = 1.0, whole_s: float = 240.0, left: float = 90.0, search: bool = False):
    out = {"max_epochs": epochs, "search": search, "budget_left_s": left, "reserve_s": 8.0, "why": "fitted",
           "epoch_seconds": whole_s * fraction}
    if fraction < 1:
        out.update(epoch_fraction=fraction, whole_epoch_seconds=whole_s)
    return out


def test_a_fraction_of_one_epoch_at_the_models_size_trains_at_the_size_whose_pixels_buy_three():
    calls = []

    def fit_at(size):
        calls.append(size)
        return _schedule(5, whole_s=16.0, left=80.0)

    size, fitted = choose_image_size(_schedule(1, 0.34), 224, 8, fit_at)
    # 82 s left at 240 s an epoch of 224 px: (s/224)^2 <= 82 / (3 x 240) holds from 64 px down
    assert calls == [64] and size == 64
    assert fitted["image_size"] == 64 and fitted["native_image_size"] == 224 and fitted["native_epochs"] == 0.34
    assert fitted["max_epochs"] == 5 and fitted["why"].startswith("at 224 px (the model's own size) the budget buys "
                                                                  "0.34 epochs, fewer than 3: it trains at 64 px")
    assert "the images are 8 px" in fitted["why"] and fitted["why"].endswith("fitted")


def test_a_size_still_too_slow_once_timed_steps_down_once_more_from_its_measured_epoch():
    calls = []

    def fit_at(size):
        calls.append(size)
        return _schedule(1, 0.5, whole_s=60.0, left=80.0) if size == 64 else _schedule(6, whole_s=12.0, left=75.0)

    size, fitted = choose_image_size(_schedule(1, 0.34), 224, 8, fit_at)
    # 64 px measured at 60 s an epoch (the pixel count guessed 19 s): 82 / (3 x 60 x (s/64)^2) >= 1 from 32 px
    assert calls == [64, 32] and size == 32 and fitted["max_epochs"] == 6


def test_with_the_timed_exponent_a_size_still_too_slow_steps_down_by_it(monkeypatch):
    monkeypatch.setattr(resolution, "TIMED_EXPONENT", True)
    calls = []

    def fit_at(size):
        calls.append(size)
        return _schedule(1, 0.5, whole_s=60.0, left=80.0) if size == 96 else _schedule(6, whole_s=12.0, left=75.0)

    size, fitted = choose_image_size(_schedule(1, 0.2, left=150.0), 224, 8, fit_at)
    # 0.2 epochs at 224 px, 0.5 at 96 (the pixel count's guess): p = log(2.5) / log(224 / 96) = 1.08; 64 px buys
    # 0.5 x 1.5^1.08 = 0.78, 32 px 1.66: none buys 3, so the smallest, 32, is timed and kept
    assert resolution.size_exponent(224, 0.2, 96, 0.5) == pytest.approx(1.081, abs=1e-3)
    assert calls == [96, 32] and size == 32 and fitted["max_epochs"] == 6


@pytest.mark.parametrize("larger_buys, kept", [(4, 96), (2, 64)])
def test_a_size_that_buys_more_than_it_needs_once_timed_steps_up_where_the_two_timings_say_it_fits(
        larger_buys, kept, monkeypatch):
    """With ``TIMED_EXPONENT`` (off by default, benchmarks/native_bound.py): on a CPU an epoch's cost falls faster
    than the pixel count, so the size guessed from the own size's timing can buy more epochs than the budget needs.
    The two fitted sizes give the exponent (size_exponent); the largest size that then buys 3 epochs is timed, and
    kept only if it really does."""
    monkeypatch.setattr(resolution, "TIMED_EXPONENT", True)
    calls = []

    def fit_at(size):
        calls.append(size)
        return _schedule(12, whole_s=6.0, left=80.0) if size == 64 else _schedule(larger_buys, whole_s=18.0, left=75.0)

    size, fitted = choose_image_size(_schedule(1, 0.34), 224, 8, fit_at)
    # 0.34 epochs at 224 px, 12 at 64: p = log(12 / 0.34) / log(224 / 64) = 2.84; 96 px buys 12 x (64/96)^2.84 = 3.8,
    # 128 px 1.7: 96 is timed
    assert resolution.size_exponent(224, 0.34, 64, 12.0) == pytest.approx(2.844, abs=1e-3)
    assert calls == [64, 96] and size == kept and fitted["image_size"] == kept
    assert fitted["max_epochs"] == (larger_buys if kept == 96 else 12)


def test_by_default_the_guess_is_kept_when_it_buys_enough():
    """The default (``TIMED_EXPONENT`` off): the pixel count's guess, timed, is kept however many epochs it buys."""
    calls = []

    def fit_at(size):
        calls.append(size)
        return _schedule(12, whole_s=6.0, left=80.0)

    assert choose_image_size(_schedule(1, 0.34), 224, 8, fit_at)[0] == 64 and calls == [64]


def test_the_size_exponent_is_bounded_and_falls_back_to_the_pixel_count():
    assert resolution.size_exponent(224, 1.0, 112, 4.0) == pytest.approx(2.0)  # the pixel count: 4x the epochs
    assert resolution.size_exponent(224, 1.0, 112, 1.2) == resolution.EXPONENT_BOUNDS[0]  # noise: barely more
    assert resolution.size_exponent(224, 1.0, 112, 100.0) == resolution.EXPONENT_BOUNDS[1]
    assert resolution.size_exponent(224, 0.0, 112, 4.0) == 2.0 and resolution.size_exponent(112, 1.0, 224, 4.0) == 2.0


@pytest.mark.parametrize("schedule, native, side", [
    (_schedule(1, 0.34, search=True), 224, 8),   # a search keeps the models' own size
    (_schedule(3), 224, 8),                      # three epochs at the models' own size: enough
    (_schedule(1, 0.4), 32, 8),                  # nothing smaller to train at
    ({**_schedule(1, 0.4), "budget_left_s": None}, 224, 8),  # no time budget
])
def test_the_models_own_size_is_kept_when_the_budget_searches_buys_enough_or_cannot_go_lower(schedule, native, side):
    calls = []
    assert choose_image_size(schedule, native, side, lambda s: calls.append(s) or _schedule(9)) == (None, schedule)
    assert calls == []


def test_a_model_that_cannot_train_at_a_smaller_size_keeps_its_own():
    schedule = _schedule(1, 0.34)
    assert choose_image_size(schedule, 224, 8, lambda s: None) == (None, schedule)
    calls = []

    def fit_at(size):  # the first size is too slow once timed; the second cannot be trained at
        calls.append(size)
        return _schedule(1, 0.5, whole_s=60.0) if size == 64 else None

    assert choose_image_size(schedule, 224, 8, fit_at) == (None, schedule) and calls == [64, 32]


def test_a_vit_is_timed_at_a_smaller_size_built_for_it(tmp_path):
    """``plan._fit_image_size`` times the smaller size with a real training step: a ViT (position embeddings
    for 224 px) is built for it (zoo/input_size.py) instead of failing there and keeping its own size. A
    pretrained LeViT still fails it (tests/train/test_input_size.py)."""
    from hf_quicktune.run.schedule import measure_reference
    from hf_quicktune.zoo import get_candidate

    vit = get_candidate("scratch:vit_tiny_patch16_224")
    measured = measure_reference(vit, 3, 32, batch_size=2, repeats=1, scratch_dir=tmp_path)
    assert measured["step_s"] > 0


def test_a_smaller_size_that_buys_no_more_epochs_is_not_taken():
    schedule = _schedule(1, 0.34)
    assert choose_image_size(schedule, 224, 8, lambda s: _schedule(1, 0.3)) == (None, schedule)


def test_a_run_without_image_size_trains_and_exports_at_the_size_its_budget_chose(tmp_path, monkeypatch, capfd):
    """Wired end to end: the chosen size reaches settings.json, schedule.json, the trial and the export."""
    from hf_quicktune.cli import main

    monkeypatch.setattr(resolution, "MIN_EPOCHS", 10_000)  # whatever this machine's speed: the native size is short
    out = tmp_path / "run"
    args = ["run", "--dataset", "builtin:digits", "--zoo", ZOO, "--train-limit", "64", "--eval-limit", "32",
            "--rank-samples", "24", "--pool-size", "4", "--budget", "40s", "--max-epochs-total", "1",
            "--output-dir", str(out)]
    assert main(args) == 0
    fitted = json.loads((out / "schedule.json").read_text())
    stored = json.loads((out / "settings.json").read_text())
    assert fitted["search"] is False and fitted["native_image_size"] == 224
    assert fitted["native_epochs_bound"] is True  # 224 px priced from the ranking's forward passes, not timed
    assert fitted["image_size"] == stored["image_size"] == 32  # the digits are 8 px: down to the least size
    assert json.loads((out / "summary.json").read_text())["image_size"] == 32
    assert json.loads((out / "trials" / "0000" / "trial.json").read_text())["image_size"] == 32
    assert json.loads((out / "export" / "config.json").read_text())["pretrained_cfg"]["input_size"] == [3, 32, 32]
    assert "it trains at 32 px instead; the images are 8 px" in capfd.readouterr().err
    # a resume keeps it (nothing re-timed)
    assert main(["run", "--output-dir", str(out), "--resume", "--max-epochs-total", "2"]) == 0
    assert json.loads((out / "settings.json").read_text())["image_size"] == 32


def test_a_smaller_size_fitted_for_the_fastest_model_still_says_which_model_is_ranked_first(monkeypatch):
    """The no-search fine-tune trains the fastest kept model (schedule._fine_tune_fastest says why); re-fitted at
    a smaller size, the reason printed is the re-fit's, which must still name the best-ranked model."""
    from types import SimpleNamespace

    from hf_quicktune.run import plan
    from hf_quicktune.zoo import get_candidate

    schedule = {**_schedule(1, 0.2), "model": "tf_efficientnet_lite0", "best_ranked": "tf_efficientnet_lite2"}
    refit = {**_schedule(4, 3.0), "model": "tf_efficientnet_lite0", "image_size": 32}
    monkeypatch.setattr(resolution, "choose_image_size", lambda *a: (32, dict(refit)))
    settings = SimpleNamespace(seed=0, initial_epochs=None)
    dataset = SimpleNamespace(meta=SimpleNamespace(median_height=8, median_width=8))
    fitted, fixed = plan._fit_image_size(settings, None, lambda: 30.0, schedule, get_candidate("tf_efficientnet_lite0"),
                                         dataset, 64, 32, 16)
    assert not fixed and fitted["image_size"] == 32 and fitted["best_ranked"] == "tf_efficientnet_lite2"
    assert fitted["why"] == ("fitted (tf_efficientnet_lite0: the fastest kept pretrained candidate, which trains the "
                             "most epochs of this budget; tf_efficientnet_lite2 is ranked first)")
    # the best-ranked model trained itself: nothing to explain
    same = {**schedule, "best_ranked": "tf_efficientnet_lite0"}
    fitted, _ = plan._fit_image_size(settings, None, lambda: 30.0, same, get_candidate("tf_efficientnet_lite0"),
                                     dataset, 64, 32, 16)
    assert fitted["why"] == "fitted" and fitted["best_ranked"] == "tf_efficientnet_lite0"


def _bound_case(tmp_path, monkeypatch, forward_s: dict[str, float], n: int = 32):
    """fit_run_schedule's inputs without a real dataset: the timed fit (schedule.fit_schedule) is recorded and
    answers a schedule at the models' own size that buys a tenth of an epoch."""
    from types import SimpleNamespace

    from hf_quicktune.run import plan, schedule
    from hf_quicktune.run.budget import Clock
    from hf_quicktune.run.settings import RunSettings
    from hf_quicktune.run.state import RunState
    from hf_quicktune.zoo import get_candidate

    names = list(forward_s)
    candidates = {name: get_candidate(name) for name in names}
    timed: list = []

    def fit_schedule(kept, num_classes, train_size, val_size, image_size, **kw):
        timed.append(([c.name for c in kept], image_size))
        return {**_schedule(1, 0.1), "model": kept[0].name}

    monkeypatch.setattr(schedule, "fit_schedule", fit_schedule)
    settings = RunSettings(dataset="builtin:digits", budget="2m", max_trials=1).validate()
    split = list(range(300))
    dataset = SimpleNamespace(num_classes=10, test=None, splits={"train": split, "validation": split[:100]},
                              meta=SimpleNamespace(median_height=8, median_width=8))
    ranking = {"n": n, "kept": names, "table": {k: {"feature_seconds": v} for k, v in forward_s.items()}}
    reporter = SimpleNamespace(message=lambda text: None)

    def run() -> None:
        plan.fit_run_schedule(settings, RunState(tmp_path / "run"), Clock(), ranking, candidates, dataset, 1000,
                              reporter)

    return settings, run, timed, ranking


def _steps_down(sizes: list | None = None, epochs: int = 6):
    """A ``choose_image_size`` that always trains at 32 px (``epochs`` epochs), recording the schedule it stepped
    down from."""
    def fit_at_smaller(schedule, native, side, fit_at):
        if sizes is not None:
            sizes.append((schedule["model"], native, schedule.get("native_bound"), schedule.get("best_ranked")))
        return 32, {**_schedule(epochs), "model": schedule["model"], "image_size": 32, "why": "fitted"}

    return fit_at_smaller


def test_a_budget_the_rankings_forward_passes_show_too_small_steps_down_without_timing_the_models_own_size(
        tmp_path, monkeypatch):
    """The ranking timed the loading and forward pass of its images at the models' own size; a training step costs
    at least that per image, so when even that buys fewer than MIN_EPOCHS epochs the own size is not timed (its
    slow training steps would be paid from the budget only to confirm it): the run steps down from the bound."""
    sizes: list = []
    monkeypatch.setattr(resolution, "choose_image_size", _steps_down(sizes))
    # 2 s for 32 images: 62 ms an image, ~25 s an epoch of 400 images (1000 trained + 100 evaluated)
    settings, run, timed, _ = _bound_case(tmp_path, monkeypatch, {"tf_efficientnet_lite2": 4.0,
                                                                  "tf_efficientnet_lite0": 2.0})
    run()
    assert timed == []  # nothing timed at the models' own size
    # the fastest by the forward passes, its epochs at most the bound's, and the best-ranked model named
    assert sizes == [("tf_efficientnet_lite0", 224, True, "tf_efficientnet_lite2")]
    assert settings.image_size == 32 and settings.max_epochs == 6


def test_the_bound_is_of_the_model_the_fine_tune_would_train_priced_by_its_whole_loop(tmp_path, monkeypatch):
    """With the models' own forward seconds recorded, the fastest by them is the model bounded (the one the
    no-search fine-tune trains), though its loop with the images' loading reads slower."""
    sizes: list = []
    monkeypatch.setattr(resolution, "choose_image_size", _steps_down(sizes))
    settings, run, timed, ranking = _bound_case(tmp_path, monkeypatch, {"tf_efficientnet_lite2": 4.0,
                                                                        "tf_efficientnet_lite0": 3.0})
    ranking["table"]["tf_efficientnet_lite2"]["model_seconds"] = 1.0
    ranking["table"]["tf_efficientnet_lite0"]["model_seconds"] = 2.0
    run()
    assert timed == [] and [s[:3] for s in sizes] == [("tf_efficientnet_lite2", 260, True)]


def test_the_models_own_size_is_timed_after_all_when_no_smaller_size_buys_more_than_the_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(resolution, "choose_image_size", lambda schedule, *a: (None, schedule))
    settings, run, timed, _ = _bound_case(tmp_path, monkeypatch, {"tf_efficientnet_lite0": 2.0})
    run()
    assert timed == [(["tf_efficientnet_lite0"], None)] and settings.image_size is None


@pytest.mark.parametrize("case", ["buys_enough", "not_timed_by_the_ranking", "accelerator"])
def test_the_forward_passes_bound_is_not_used_where_it_is_no_bound_or_buys_enough(tmp_path, monkeypatch, case):
    """Each case would step down without timing if the bound were taken (the size step here always succeeds, with
    more epochs than any bound, so the fallback to timing the own size would not hide it);
    the own size is timed instead: forward passes fast enough to buy MIN_EPOCHS, a candidate the ranking did
    not time, an accelerator (a short ranking's first-batch costs are no bound there)."""
    from types import SimpleNamespace

    from hf_quicktune.train import device

    monkeypatch.setattr(resolution, "choose_image_size", _steps_down(epochs=10_000))
    if case == "accelerator":
        monkeypatch.setattr(device, "default_accelerator",
                            lambda: SimpleNamespace(device=SimpleNamespace(type="cuda")))
    forward_s = 0.01 if case == "buys_enough" else 2.0
    settings, run, timed, ranking = _bound_case(tmp_path, monkeypatch, {"tf_efficientnet_lite0": forward_s})
    if case == "not_timed_by_the_ranking":
        ranking["table"]["tf_efficientnet_lite0"].pop("feature_seconds")
    run()
    assert timed == [(["tf_efficientnet_lite0"], None)] and settings.image_size == 32


@pytest.mark.parametrize("ratio", [1.0, 2.0])
def test_the_bound_prices_a_training_step_at_twice_the_forward_pass(tmp_path, monkeypatch, ratio):
    """25 ms an image of forward passes buys MIN_EPOCHS epochs when a training step is priced like a forward pass,
    and fewer at TRAIN_OVER_FORWARD x it (the backward pass alone costs about two): the default steps down
    without timing the model's own size, where pricing at 1 x timed it only to step down after."""
    from hf_quicktune.run import plan

    assert plan.TRAIN_OVER_FORWARD == 2.0
    monkeypatch.setattr(plan, "TRAIN_OVER_FORWARD", ratio)
    sizes: list = []
    monkeypatch.setattr(resolution, "choose_image_size", _steps_down(sizes))
    settings, run, timed, _ = _bound_case(tmp_path, monkeypatch, {"tf_efficientnet_lite0": 0.8})
    run()
    if ratio == 2.0:
        assert timed == [] and sizes == [("tf_efficientnet_lite0", 224, True, None)]
    else:
        assert timed == [(["tf_efficientnet_lite0"], None)] and sizes == [("tf_efficientnet_lite0", 224, None, None)]
