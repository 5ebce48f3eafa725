"""Feature extraction through Accelerate and the on-disk feature cache (tiny timm test model)."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
import timm
import torch

from hf_quicktune.constants import cache_dir
from hf_quicktune.rank.features import cache_key, cache_path, candidate_features
from hf_quicktune.zoo.candidate import Candidate


@pytest.fixture(scope="module")
def split():
    from PIL import Image

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (12, 12), dtype=np.uint8)) for _ in range(20)]  # grayscale
    feats = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b"])})
    return datasets.Dataset.from_dict({"image": images, "label": [i % 2 for i in range(20)]}, features=feats)


@pytest.fixture
def transform():
    from torchvision import transforms as T

    return T.Compose([T.Resize(32), T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)])


class Factory:
    def __init__(self, num_classes=3):
        self.calls = 0
        self.num_classes = num_classes

    def __call__(self):
        self.calls += 1
        torch.manual_seed(0)
        return timm.create_model("test_efficientnet", pretrained=False, num_classes=self.num_classes)


CAND = Candidate(name="tiny", architecture="test_efficientnet", source="scratch")


def _features(split, transform, factory, indices, accelerator, fingerprint="fp-1", **kw):
    return candidate_features(
        split,
        fingerprint,
        CAND,
        indices,
        transform=transform,
        model_factory=factory,
        accelerator=accelerator,
        batch_size=4,
        **kw,
    )


@pytest.fixture(scope="module")
def accelerator():
    from accelerate import Accelerator

    return Accelerator(cpu=True)


def test_features_match_a_direct_forward_and_keep_order(split, transform, accelerator):
    idx = np.array([1, 4, 5, 9, 10, 17])
    fs = _features(split, transform, Factory(), idx, accelerator, cache=False)
    model = Factory()().eval()
    pixels = torch.stack([transform(split[int(i)]["image"].convert("RGB")) for i in idx])
    with torch.no_grad():
        fmap = model.forward_features(pixels)
        expected = model.forward_head(fmap, pre_logits=True).numpy()
        logits = model.forward_head(fmap).numpy()
    assert fs.features.shape == (6, model.num_features)
    np.testing.assert_allclose(fs.features, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fs.logits, logits, rtol=1e-4, atol=1e-5)
    assert fs.labels.tolist() == [int(i) % 2 for i in idx]
    assert fs.num_params == sum(p.numel() for p in model.parameters()) and fs.seconds > 0


def test_second_call_is_served_from_cache_without_building_the_model(split, transform, accelerator):
    idx = np.arange(0, 20, 2)
    factory = Factory()
    first = _features(split, transform, factory, idx, accelerator)
    assert factory.calls == 1 and not first.cached
    key = cache_key(CAND, "fp-1", idx, repr(transform), 0)
    assert cache_path(key).is_file() and cache_dir() in cache_path(key).parents
    second = _features(split, transform, factory, idx, accelerator)
    assert factory.calls == 1 and second.cached
    np.testing.assert_array_equal(first.features, second.features)
    np.testing.assert_array_equal(first.logits, second.logits)
    assert second.seconds == pytest.approx(first.seconds) and second.num_params == first.num_params
    # a subset of the images is read from the entry (rows selected), not computed again
    subset = _features(split, transform, factory, idx[[0, 3, 7]], accelerator)
    assert factory.calls == 1 and subset.cached and subset.reused == 3
    np.testing.assert_array_equal(subset.features, first.features[[0, 3, 7]])
    # other preprocessing, dataset or seed (scratch init) are other families, other sample ids other entries
    keys = {
        key,
        cache_key(CAND, "fp-2", idx, repr(transform), 0),
        cache_key(CAND, "fp-1", idx, repr(transform) + "x", 0),
        cache_key(CAND, "fp-1", idx, repr(transform), 1),
    }
    assert len(keys) == 4


def test_corrupt_cache_entry_is_recomputed(split, transform, accelerator):
    idx = np.arange(1, 20, 3)
    factory = Factory()
    first = _features(split, transform, factory, idx, accelerator)
    for entry in cache_path(cache_key(CAND, "fp-1", idx, repr(transform), 0)).parent.glob("*.safetensors"):
        entry.write_bytes(b"not a safetensors file")  # every entry of the family that could hold these rows
    again = _features(split, transform, factory, idx, accelerator)
    assert factory.calls == 2 and not again.cached
    np.testing.assert_allclose(again.features, first.features, rtol=1e-5)


def test_headless_model_has_no_logits(split, transform, accelerator):
    fs = _features(split, transform, Factory(num_classes=0), np.arange(4), accelerator, cache=False)
    assert fs.logits is None and fs.features.shape[0] == 4


def test_a_sample_reuses_the_rows_of_earlier_entries_and_computes_only_the_new_images(split, transform, accelerator):
    """Rows are shared across samples of one family: a probe and the rest of a sample, a larger sample after a
    smaller one (a time-limited ranking run again, `rank` then `run`): only images no entry holds are computed, and
    the features equal those one pass over the whole sample gives, in the order asked."""
    factory = Factory()
    probe, rest = np.array([2, 7, 11]), np.array([3, 5, 13, 19])
    _features(split, transform, factory, probe, accelerator, fingerprint="fp-rows")
    _features(split, transform, factory, rest, accelerator, fingerprint="fp-rows")
    assert factory.calls == 2
    whole = np.sort(np.concatenate([probe, rest]))
    both = _features(split, transform, factory, whole, accelerator, fingerprint="fp-rows")
    assert factory.calls == 2 and both.cached and both.reused == len(whole)  # two entries cover it
    more = np.concatenate([whole, [0, 16]])[::-1]  # two new images, asked in another order
    grown = _features(split, transform, factory, more, accelerator, fingerprint="fp-rows")
    assert factory.calls == 3 and not grown.cached and grown.reused == len(whole) and grown.computed == 2
    direct = _features(split, transform, Factory(), more, accelerator, fingerprint="fp-rows", cache=False)
    np.testing.assert_allclose(grown.features, direct.features, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(grown.labels, direct.labels)
    np.testing.assert_allclose(grown.logits, direct.logits, rtol=1e-4, atol=1e-5)
    again = _features(split, transform, factory, more, accelerator, fingerprint="fp-rows")  # now all held
    assert factory.calls == 3 and again.cached


def test_features_evicted_by_the_size_limit_are_recomputed_equal(split, transform, accelerator, monkeypatch,
                                                                  tmp_path):
    """With room for one entry, extracting another dataset's features evicts the first's; asking for them again
    builds the model and computes the same features."""
    monkeypatch.setenv("HF_QUICKTUNE_CACHE", str(tmp_path / "qt"))  # the session's cache is not this test's to evict
    idx = np.arange(0, 20, 5)
    factory = Factory()
    first = _features(split, transform, factory, idx, accelerator, fingerprint="fp-evict-a")
    entry = cache_path(cache_key(CAND, "fp-evict-a", idx, repr(transform), 0))
    monkeypatch.setenv("HF_QUICKTUNE_FEATURES_MAX_SIZE", str(entry.stat().st_size + 100))
    _features(split, transform, factory, idx, accelerator, fingerprint="fp-evict-b")
    assert factory.calls == 2 and not entry.exists()
    again = _features(split, transform, factory, idx, accelerator, fingerprint="fp-evict-a")
    assert factory.calls == 3 and not again.cached and entry.exists()
    np.testing.assert_allclose(again.features, first.features, rtol=1e-5)


def test_an_unwritable_cache_costs_later_rankings_their_passes_not_this_one(split, transform, accelerator,
                                                                           monkeypatch, tmp_path, caplog):
    import logging

    from hf_quicktune.rank import feature_cache
    from hf_quicktune.rank.timed_sample import remember_sample, remembered_sample

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("HF_QUICKTUNE_CACHE", str(blocker / "qt"))
    monkeypatch.setattr(feature_cache, "_WARNED", set())
    idx = np.arange(0, 20, 4)
    factory = Factory()
    with caplog.at_level(logging.WARNING, logger="hf_quicktune.rank.feature_cache"):
        first = _features(split, transform, factory, idx, accelerator)
        second = _features(split, transform, factory, idx, accelerator)
        remember_sample("fp-1", 0, 32, idx, 10.0, idx[:3])
    assert factory.calls == 2 and not second.cached  # computed twice: nothing could be kept
    np.testing.assert_allclose(second.features, first.features, rtol=1e-5)
    assert remembered_sample("fp-1", 0, 32, idx, 10.0) is None
    warnings = [r for r in caplog.records if "cannot write the feature cache" in r.getMessage()]
    assert len(warnings) == 1 and "HF_QUICKTUNE_CACHE" in warnings[0].getMessage()  # said once, not per entry
