"""Unit tests of the pure score functions on small synthetic feature matrices."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, stats

from hf_quicktune.errors import QuickTuneError
from hf_quicktune.rank.scores import kernel_alignment, knn, leep, lfc, logme, nce
from hf_quicktune.rank.scores.logme import maximise_evidence


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 120)
    noise = rng.normal(size=(120, 16))
    informative = noise.copy()
    informative[:, :4] += 3.0 * np.eye(4)[y]
    return noise, informative, y


# ---------------------------------------------------------------- LFC
def _lfc_explicit(f, y, centring="mean"):
    """LFC with explicit n x n kernels, the slow way: K = F Fᵀ, L = ±1, centred, Frobenius-normalised."""
    n = len(y)
    k = f @ f.T
    lab = np.where(y[:, None] == y[None, :], 1.0, -1.0)
    if centring == "mean":  # Deshpande et al. 2021: subtract each kernel's scalar mean
        k, lab = k - k.mean(), lab - lab.mean()
    else:
        h = np.eye(n) - np.ones((n, n)) / n
        k, lab = h @ k @ h, h @ lab @ h
    return np.sum(k * lab) / (np.linalg.norm(k) * np.linalg.norm(lab))


@pytest.mark.parametrize("centring", ["mean", "double"])
def test_lfc_matches_explicit_kernel_definition(data, centring):
    noise, informative, y = data
    unbalanced = np.r_[y[:100], np.zeros(20, dtype=int)]  # v != 0: the label mean-direction term
    for f in (noise, informative, np.abs(informative), np.abs(informative) + 3.0):
        for yy in (y, unbalanced):
            assert lfc(f, yy, centring) == pytest.approx(_lfc_explicit(f, yy, centring), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(("a", "b"), [(1.0, -1.0), (1.0, 0.0), (2.0, 1.0), (5.0, 4.5), (-3.0, 1.0)])
def test_lfc_closed_form_two_classes_one_feature(a, b):
    """Balanced 2 classes, one feature equal to a (class 0) or b (class 1). Over the n² kernel
    entries: cov(K, L) = (a-b)²/4, var L = 1, var K = (a²+b²)²/4 - (a+b)⁴/16, so the paper's
    LFC = 1 / sqrt(1 + 2((a+b)/(a-b))²); with double centring the feature is ±(a-b)/2: LFC = 1."""
    y = np.repeat([0, 1], 7)
    f = np.where(y == 0, a, b)[:, None]
    expected = 1.0 / np.sqrt(1.0 + 2.0 * ((a + b) / (a - b)) ** 2)
    assert lfc(f, y) == pytest.approx(expected, rel=1e-12)
    assert lfc(f, y, "double") == pytest.approx(1.0, rel=1e-12)
    assert lfc(f, y) == pytest.approx(_lfc_explicit(f, y), rel=1e-12)  # also the n x n definition


def test_lfc_is_one_for_one_hot_label_features(data):
    _, _, y = data
    assert lfc(np.eye(4)[y], y) == pytest.approx(1.0, abs=1e-12)  # K = same-class indicator, L = 2K - 1
    rot, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(4, 4)))
    rotated = np.eye(4)[y] @ rot
    # double centring (CKA) is invariant to any offset; the paper's centring discounts a mean direction
    assert lfc(rotated + 5.0, y, "double") == pytest.approx(1.0, abs=1e-12)
    assert lfc(rotated + 5.0, y) < 0.9


def test_lfc_offset_double_invariant_mean_discounted(data):
    _, informative, y = data
    relu = np.maximum(informative, 0.0)
    offset = np.random.default_rng(2).normal(size=relu.shape[1]) * 100
    base = lfc(relu, y, "double")
    assert lfc(relu + 7.5, y, "double") == pytest.approx(base, rel=1e-9)
    assert lfc(relu + offset, y, "double") == pytest.approx(base, rel=1e-9)
    # the paper's LFC is CKA x (1 + 2n‖u‖²/‖F̃ᵀF̃‖²)^(-1/2), u = F̃μ (balanced classes): an offset lowers it
    assert lfc(relu + offset, y) < lfc(relu, y) <= base + 1e-12
    balanced = np.concatenate([np.flatnonzero(y == c)[:20] for c in range(4)])
    f, yb = (relu + offset)[balanced], y[balanced]
    centred = f - f.mean(0)
    u = centred @ f.mean(0)
    factor = 1.0 / np.sqrt(1.0 + 2 * len(yb) * (u @ u) / np.sum((centred.T @ centred) ** 2))
    assert 0.0 < factor < 0.5
    assert lfc(f, yb) == pytest.approx(lfc(f, yb, "double") * factor, rel=1e-9)


def test_lfc_in_minus_one_one_and_ordered(data):
    noise, informative, y = data
    rng = np.random.default_rng(3)
    for _ in range(20):
        f = rng.normal(size=(50, rng.integers(1, 80))) * rng.uniform(0.1, 100) + rng.normal() * 10
        yy = rng.integers(0, 3, 50)
        for centring in ("mean", "double"):
            assert -1.0 <= lfc(f, yy, centring) <= 1.0
    assert lfc(informative, y) > lfc(noise, y) + 0.2


def test_lfc_of_constant_features_is_zero(data):
    _, _, y = data
    assert lfc(np.ones((len(y), 3)), y) == 0.0
    assert lfc(np.ones((len(y), 3)), y, "double") == 0.0
    with pytest.raises(ValueError, match="centring"):
        lfc(np.ones((len(y), 3)), y, "spectral")


def test_kernel_alignment_is_symmetric_and_wide_matrices_work():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(10, 50)) + 1.0, rng.normal(size=(10, 3))
    for centring in ("mean", "double"):
        assert kernel_alignment(a, b, centring) == pytest.approx(kernel_alignment(b, a, centring))


# ---------------------------------------------------------------- LogME
def _direct_log_evidence(f, y, alpha, beta):
    """log p(y | α, β) of y = F m + ε, m ~ N(0, I/α), ε ~ N(0, I/β): a Gaussian in y."""
    n = f.shape[0]
    cov = np.eye(n) / beta + f @ f.T / alpha
    return stats.multivariate_normal(mean=np.zeros(n), cov=cov).logpdf(y)


@pytest.mark.parametrize("shape", [(40, 6), (25, 60)])
def test_logme_fixed_point_reaches_the_maximum_of_the_direct_evidence(shape):
    rng = np.random.default_rng(5)
    n, d = shape
    f = rng.normal(size=shape)
    labels = (f[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(int)
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    for c in (0, 1):
        target = (labels == c).astype(float)
        value, alpha, beta = maximise_evidence(s**2, u.T @ target, float(target @ target), n, d)
        # the SVD-based evidence equals the Gaussian marginal likelihood at the returned (α, β)
        assert value == pytest.approx(_direct_log_evidence(f, target, alpha, beta), rel=1e-8)
        # and nothing better exists: maximise the direct formula numerically
        best = optimize.minimize(
            lambda p, t=target: -_direct_log_evidence(f, t, np.exp(p[0]), np.exp(p[1])),
            x0=np.zeros(2),
            method="Nelder-Mead",
            options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000},
        )
        # (when the optimum is at α -> ∞, i.e. no signal, α is capped at 1e12: tiny loss)
        assert -best.fun <= value + 1e-4
        assert -best.fun == pytest.approx(value, abs=1e-4)


def test_logme_is_mean_class_evidence_per_sample(data):
    _, informative, y = data
    f = informative[:40, :6]
    yy = y[:40]
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    per_class = []
    for c in np.unique(yy):
        t = (yy == c).astype(float)
        _, a, b = maximise_evidence(s**2, u.T @ t, float(t @ t), *f.shape)
        per_class.append(_direct_log_evidence(f, t, a, b))
    assert logme(f, yy) == pytest.approx(np.mean(per_class) / len(yy), rel=1e-8)


def test_logme_prefers_informative_features(data):
    noise, informative, y = data
    assert logme(informative, y) > logme(noise, y)


# ---------------------------------------------------------------- kNN
def test_knn_leave_one_out_excludes_the_sample_itself():
    # two far-apart points per class would be perfect with self-matches allowed (k=1);
    # leave-one-out must look at the other point of the pair
    f = np.array([[0.0, 1.0], [0.0, 1.1], [1.0, 0.0], [1.1, 0.0]])
    assert knn(f, np.array([0, 0, 1, 1]), k=1) == 1.0
    assert knn(f, np.array([0, 1, 0, 1]), k=1) == 0.0


def test_knn_matches_sklearn_cosine_loo(data):
    from sklearn.neighbors import KNeighborsClassifier

    _, informative, y = data
    k = 5
    g = informative - informative.mean(axis=0)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    correct = 0
    for i in range(len(y)):
        mask = np.arange(len(y)) != i
        clf = KNeighborsClassifier(n_neighbors=k, metric="cosine").fit(g[mask], y[mask])
        correct += int(clf.predict(g[i : i + 1])[0] == y[i])
    # tie-breaking differs (sklearn: lowest class id); allow a couple of ties
    assert knn(informative, y, k=k) == pytest.approx(correct / len(y), abs=3 / len(y))


def test_knn_scale_invariant_and_ordered(data):
    noise, informative, y = data
    assert knn(informative * 10 + 3, y) == knn(informative, y)
    assert knn(informative, y) > knn(noise, y) + 0.3


# ---------------------------------------------------------------- LEEP / NCE
def test_leep_matches_loop_definition():
    rng = np.random.default_rng(6)
    logits = rng.normal(size=(30, 7))
    y = rng.integers(0, 3, 30)
    theta = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    n = len(y)
    joint = np.zeros((3, 7))
    for i in range(n):
        joint[y[i]] += theta[i] / n
    cond = joint / joint.sum(0, keepdims=True)
    expected = np.mean([np.log(sum(cond[y[i], z] * theta[i, z] for z in range(7))) for i in range(n)])
    assert leep(logits, y) == pytest.approx(expected, rel=1e-10)


def test_nce_is_minus_conditional_entropy():
    y = np.array([0, 0, 1, 1, 1, 0])
    logits = np.eye(3)[[0, 0, 1, 1, 2, 2]] * 10
    # z=0 -> y {0,0}: H=0; z=1 -> {1,1}: 0; z=2 -> {1,0}: log 2; weight 2/6
    assert nce(logits, y) == pytest.approx(-(2 / 6) * np.log(2))
    assert nce(np.eye(2)[y] * 5, y) == pytest.approx(0.0)


def test_source_head_scores_prefer_aligned_heads():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 5, 200)
    random_head = rng.normal(size=(200, 20))
    aligned = random_head.copy()
    aligned[np.arange(200), y * 2] += 4.0
    assert leep(aligned, y) > leep(random_head, y)
    assert nce(aligned, y) > nce(random_head, y)


# ---------------------------------------------------------------- input errors
@pytest.mark.parametrize("fn", [lfc, logme, knn, leep, nce])
def test_scores_reject_bad_inputs_with_clear_errors(fn):
    f = np.zeros((5, 3))
    with pytest.raises(QuickTuneError, match="one entry per sample"):
        fn(f, np.zeros(4, dtype=int))
    bad = np.ones((5, 3))
    bad[0, 0] = np.nan
    with pytest.raises(QuickTuneError, match="NaN"):
        fn(bad, np.zeros(5, dtype=int))
