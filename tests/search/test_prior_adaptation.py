"""How a search refits its surrogate away from its prior: the outputscale hyperprior (``anchor_scale``;
``QuickTuneOptimizer(scale_anchor=)``), the frozen learned mean (``QuickTuneOptimizer(freeze_mean=True)``) and
a fit step that fails (the weights restored, the refit restarted from the prior)."""

from __future__ import annotations

import numpy as np
import pytest

from hf_quicktune.search.prior import Prior
from hf_quicktune.search.quicktune import QuickTuneOptimizer
from hf_quicktune.search.surrogate import DeepKernelSurrogate

from .simulator import MODEL_FEATURES, CurveSimulator
from .test_surrogate import dataset, encoder


def _flat_data(n: int = 40):
    """Accuracies of one narrow band (every trial failed alike): their spread says nothing of the space's."""
    sim = CurveSimulator(n=n, max_epochs=6)
    enc = encoder()
    X, _ = dataset(sim, enc, range(n))
    y = (0.1 + 0.01 * np.random.default_rng(0).standard_normal(n)).astype(np.float32)
    return enc, X, y


def test_scale_anchor_holds_the_outputscale_to_its_hyperprior():
    enc, X, y = _flat_data()

    def fitted(width):
        sur = DeepKernelSurrogate(enc, seed=1)
        sur.gp.covar_module.outputscale = 0.06
        sur.anchor_scale(width)
        sur.fit(X, y, steps=200, lr=1e-2, warm_start=True)
        return float(sur.gp.covar_module.outputscale.detach())

    ml, held, fixed = fitted(None), fitted(0.5), fitted(0.0)
    assert fixed == pytest.approx(0.06, rel=1e-6)  # width 0: not fitted at all
    assert ml < 0.5 * 0.06  # type-II ML shrinks the amplitude to the narrow band's spread
    assert ml < held < 0.06  # MAP: pulled back towards the anchor, still moved by the data
    with pytest.raises(ValueError, match=">= 0"):
        DeepKernelSurrogate(enc).anchor_scale(-1.0)


def test_optimizer_anchors_on_its_priors_outputscale_through_full_refits():
    """``scale_anchor=0`` keeps the prior's outputscale through warm and full refits and a resume; it needs a
    prior (there is nothing to centre the hyperprior on without one)."""
    sim = CurveSimulator(n=30, max_epochs=6, seed=3)
    prior = Prior.create(encoder())
    X, y = dataset(sim, prior.encoder, range(30))
    prior.surrogate.fit(X, y, steps=5, lr=1e-2)
    prior.surrogate.mark_initial()
    scale = float(prior.surrogate.gp.covar_module.outputscale.detach())
    meta = {"n": 1000, "c": 10}
    # full refits for the first 3 observations, warm ones after (never judged degraded)
    options = {"full_refit_until": 3, "degrade_tol": 1e9, "model_features": MODEL_FEATURES}

    opt = QuickTuneOptimizer(sim.pool, max_epochs=6, prior=prior, meta_features=meta, scale_anchor=0.0,
                             **options)
    sim.run(opt, 6)
    opt.predict([0])  # fits what was told
    assert opt.n_full_refits >= 1 and opt.n_refits > opt.n_full_refits
    assert float(opt.surrogate.gp.covar_module.outputscale.detach()) == pytest.approx(scale, rel=1e-6)
    resumed = QuickTuneOptimizer(sim.pool, max_epochs=6, prior=prior, meta_features=meta, scale_anchor=0.0,
                                 **options)
    resumed.load_state_dict(opt.state_dict())
    sim.run(resumed, 3)
    resumed.predict([0])
    assert float(resumed.surrogate.gp.covar_module.outputscale.detach()) == pytest.approx(scale, rel=1e-6)
    free = QuickTuneOptimizer(sim.pool, max_epochs=6, prior=prior, meta_features=meta, **options)
    sim.run(free, 6)
    free.predict([0])
    assert float(free.surrogate.gp.covar_module.outputscale.detach()) != pytest.approx(scale, rel=1e-3)
    with pytest.raises(ValueError, match="prior"):
        QuickTuneOptimizer(sim.pool, max_epochs=6, scale_anchor=0.5)


def test_freeze_mean_keeps_the_priors_learned_mean_while_the_kernel_adapts():
    """By default (``freeze_mean=True``) refits leave the prior's mean network as meta-trained (the GP models this
    dataset's residual from it) while the kernel, the feature extractor and the constant level move; with
    ``freeze_mean=False`` the mean is refitted too. Without a prior's learned mean it has nothing to keep."""
    import torch

    sim = CurveSimulator(n=30, max_epochs=6, seed=4)
    prior = Prior.create(encoder(), mean="mlp")
    X, y = dataset(sim, prior.encoder, range(30))
    prior.surrogate.fit(X, y, steps=5, lr=1e-2)
    prior.surrogate.mark_initial()
    before = {k: v.clone() for k, v in prior.surrogate.state_dict().items()}
    options = {"meta_features": {"n": 1000, "c": 10}, "model_features": MODEL_FEATURES, "full_refit_until": 3,
               "degrade_tol": 1e9}

    def after(**kw):
        opt = QuickTuneOptimizer(sim.pool, max_epochs=6, prior=prior, **options, **kw)
        sim.run(opt, 6)
        opt.predict([0])
        return opt.surrogate.state_dict()

    frozen, free = after(), after(freeze_mean=False)  # frozen by default
    mean_keys = [k for k in before if k.startswith("mean_net.")]
    assert mean_keys
    assert all(torch.equal(frozen[k], before[k]) for k in mean_keys)
    assert not all(torch.equal(free[k], before[k]) for k in mean_keys)
    moved = [k for k in before if k.startswith(("feature_extractor.", "gp.")) and not torch.equal(frozen[k], before[k])]
    assert "gp.mean_module.raw_constant" in moved or "gp.mean_module.constant" in moved
    assert any(k.startswith("feature_extractor.") for k in moved)
    assert QuickTuneOptimizer(sim.pool, max_epochs=6, prior=prior, **options).freeze_mean
    constant = QuickTuneOptimizer(sim.pool, max_epochs=6, prior=Prior.create(encoder(), mean="constant"), **options)
    assert not constant.freeze_mean  # nothing to keep: the constant mean is fitted as before
    assert not QuickTuneOptimizer(sim.pool, max_epochs=6, space=sim.space, **options).freeze_mean


def test_a_fit_step_without_a_positive_definite_kernel_restores_the_weights(monkeypatch):
    """A step whose kernel matrix is not positive definite (gpytorch's NotPSDError, seen in a 4-worker replay) or
    whose loss is not finite ends the fit with NaN and the weights it started from; the optimizer's refit then
    restarts from the prior and the search goes on."""
    import torch
    from linear_operator.utils.errors import NotPSDError

    sim = CurveSimulator(n=30, max_epochs=6, seed=5)
    enc = encoder()
    X, y = dataset(sim, enc, range(30))
    sur = DeepKernelSurrogate(enc)
    sur.fit(X, y, steps=3, lr=1e-2)
    start = {k: v.clone() for k, v in sur.state_dict().items()}
    real = DeepKernelSurrogate.loss
    calls = {"n": 0}

    def failing(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            raise NotPSDError("Matrix not positive definite after repeatedly adding jitter up to 1.0e-02.")
        return real(self, *a, **kw)

    monkeypatch.setattr(DeepKernelSurrogate, "loss", failing)
    assert np.isnan(sur.fit(X, y, steps=10, lr=1e-2))
    assert all(torch.equal(start[k], v) for k, v in sur.state_dict().items())
    assert np.all(np.isfinite(sur.predict(X)[0]))  # conditioned again, usable
    monkeypatch.setattr(DeepKernelSurrogate, "loss", lambda self, *a, **kw: real(self, *a, **kw) * float("nan"))
    assert np.isnan(sur.fit(X, y, steps=5, lr=1e-2))  # a NaN loss: the same
    assert all(torch.equal(start[k], v) for k, v in sur.state_dict().items())

    # inside the optimizer: every third step of a fit fails, the search still asks and tells
    monkeypatch.setattr(DeepKernelSurrogate, "loss", failing)
    calls["n"] = 0
    prior = Prior.create(encoder())
    opt = QuickTuneOptimizer(sim.pool, max_epochs=6, prior=prior, meta_features={"n": 1000, "c": 10},
                             model_features=MODEL_FEATURES, full_refit_until=2, degrade_tol=1e9)
    sim.run(opt, 5)
    opt.predict([0])
    # past full_refit_until=2 every refit is due warm; each failed and was redone from the prior
    assert opt.n_refits > 2 and opt.n_full_refits == opt.n_refits


def test_jitter_warnings_of_a_fit_are_not_shown(monkeypatch):
    """gpytorch warns each time it adds jitter to a kernel matrix (a run printed these between its progress lines);
    the fit handles such matrices itself, so they are not shown; other warnings still are."""
    import warnings

    from linear_operator.utils.warnings import NumericalWarning

    sim = CurveSimulator(n=12, max_epochs=6, seed=1)
    enc = encoder()
    X, y = dataset(sim, enc, range(12))
    sur = DeepKernelSurrogate(enc)
    real = DeepKernelSurrogate.loss

    def jittering(self, *a, **kw):
        warnings.warn("A not p.d., added jitter of 1.0e-04 to the diagonal", NumericalWarning, stacklevel=2)
        return real(self, *a, **kw)

    monkeypatch.setattr(DeepKernelSurrogate, "loss", jittering)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sur.fit(X, y, steps=3, lr=1e-2)
        sur.evaluate_loss()
    assert not [w for w in caught if issubclass(w.category, NumericalWarning)]

    def other(self, *a, **kw):
        warnings.warn("something else", UserWarning, stacklevel=2)
        return real(self, *a, **kw)

    monkeypatch.setattr(DeepKernelSurrogate, "loss", other)
    with pytest.warns(UserWarning, match="something else"):
        sur.fit(X, y, steps=1, lr=1e-2)
