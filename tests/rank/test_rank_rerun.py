"""A time-limited ranking run again (the same `run` command, the Space's second click) reads its features from the
cache instead of drawing another sample size and computing every candidate again."""

from __future__ import annotations

import math

import numpy as np
import pytest

PRETRAINED = "tf_efficientnet_lite0"


@pytest.fixture(scope="module")
def digits():
    from hf_quicktune.data import load

    return load("builtin:digits")


def _no_model(*args, **kwargs):
    raise AssertionError("a model was built: features were computed, not read from the cache")


def test_a_rerun_of_a_time_limited_ranking_computes_nothing(digits, monkeypatch, tmp_path):
    import hf_quicktune.rank.api as api
    from hf_quicktune.rank import rank
    from hf_quicktune.rank.timed_sample import remembered_sample

    monkeypatch.setenv("HF_QUICKTUNE_CACHE", str(tmp_path))
    first = rank(digits, [PRETRAINED], scores="lfc", n=80, image_size=32, seconds=1e-6)
    assert first.n < 80 and first.info["sample_reduced_from"] == 80  # the limit reduced the sample
    monkeypatch.setattr(api, "_model_factory", lambda *a, **k: _no_model)
    again = rank(digits, [PRETRAINED], scores="lfc", n=80, image_size=32, seconds=1e-6)
    assert again.n == first.n and again.info["cached"] == {PRETRAINED: True}
    assert again.table[PRETRAINED]["lfc"] == pytest.approx(first.table[PRETRAINED]["lfc"])
    assert again.info["sample_reduced_from"] == 80
    drawn = np.arange(len(digits.train))  # not the drawn sample: nothing remembered for it
    assert remembered_sample(digits.fingerprint, 0, 32, drawn, 1e-6) is None


def test_the_remembered_sample_is_used_under_a_limit_no_larger_than_its_own(digits, monkeypatch, tmp_path):
    """The images an earlier ranking kept are ranked on again (here 48 of 80, more than this limit's probe would
    afford) while the limit is not more than REDUCE_MIN above the earlier one; a larger limit draws afresh."""
    import hf_quicktune.rank.api as api
    from hf_quicktune.data.columns import column_values
    from hf_quicktune.data.transforms import build_transform
    from hf_quicktune.rank import rank
    from hf_quicktune.rank.features import candidate_features
    from hf_quicktune.rank.sampling import stratified_sample
    from hf_quicktune.rank.timed_sample import REDUCE_MIN, remember_sample, remembered_sample
    from hf_quicktune.train.device import trial_accelerator
    from hf_quicktune.zoo import create_model, get_candidate

    monkeypatch.setenv("HF_QUICKTUNE_CACHE", str(tmp_path))
    labels = np.asarray(column_values(digits.train, digits.label_column))
    drawn = stratified_sample(labels, 80, 0)
    kept = drawn[stratified_sample(labels[drawn], 48, 0)]
    cand = get_candidate(PRETRAINED)
    transform = build_transform(cand.data_config(), train=False, image_size=32)
    candidate_features(digits.train, digits.fingerprint, cand, kept, transform=transform,
                       model_factory=lambda: create_model(cand, num_classes=None), accelerator=trial_accelerator())
    remember_sample(digits.fingerprint, 0, 32, drawn, 1e-3, kept)
    assert remembered_sample(digits.fingerprint, 0, 16, drawn, 1e-3) is None  # another size, another sample
    assert remembered_sample(digits.fingerprint, 0, 32, drawn[:-1], 1e-3) is None  # other images drawn
    assert remembered_sample(digits.fingerprint, 0, 32, drawn, 1e-3 * (1 + 2 * REDUCE_MIN)) is None
    np.testing.assert_array_equal(remembered_sample(digits.fingerprint, 0, 32, drawn, 1e-3), kept)
    monkeypatch.setattr(api, "_model_factory", lambda *a, **k: _no_model)
    res = rank(digits, [PRETRAINED], scores="lfc", n=80, image_size=32, seconds=1e-3)
    assert res.n == 48 and res.info["cached"] == {PRETRAINED: True} and math.isfinite(res.table[PRETRAINED]["lfc"])
    assert res.info["sample_reduced_from"] == 80
    with pytest.raises(AssertionError, match="a model was built"):  # a larger limit: not the remembered images
        rank(digits, [PRETRAINED], scores="lfc", n=80, image_size=32, seconds=1.0)
