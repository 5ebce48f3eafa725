"""Deep-kernel GP performance surrogate (Quick-Tune §4.2, after DyHPO; Wilson et al. 2016).

A feature extractor maps [encoded configuration, model identity embedding and/or numeric model
features, budget, learning curve so far (Conv1d encoder), dataset meta-features] to a 32-d
vector; an exact GP (scaled RBF kernel) on that vector predicts validation accuracy in [0, 1] at
the target budget. Its prior mean is a constant (the paper, DyHPO) or, for meta-learned priors, a
separate MLP of the same inputs (``mean="mlp"``): the GP then models the residual of the MLP, so the
prior ranks configurations on a new dataset before any observation. Trained by minimising the negative exact marginal
log-likelihood (-mll). Every layer defined is used in ``forward`` (the reference had an unused
one), and the model inputs are not split between encoders (the reference split its model
one-hot columns 23/1 by an off-by-one).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import gpytorch
import numpy as np
import torch
from torch import nn

from hf_quicktune.search.features import FeatureEncoder, SurrogateInputs
from hf_quicktune.search.threads import torch_threads

logger = logging.getLogger(__name__)


class CurveEncoder(nn.Module):
    """Conv1d(1->8, k3) -> ReLU -> Conv1d(8->8, k3) -> ReLU -> global max pool -> Linear(8->out) -> ReLU,
    concatenated with two summaries of the curve: its last observed value and its best value."""

    def __init__(self, max_epochs: int, out_dim: int = 16, channels: int = 8):
        super().__init__()
        self.max_epochs = max_epochs
        self.conv = nn.Sequential(
            nn.Conv1d(1, channels, 3, padding=1), nn.ReLU(),
            nn.Conv1d(channels, channels, 3, padding=1), nn.ReLU(),
            nn.AdaptiveMaxPool1d(1),
        )
        self.proj = nn.Sequential(nn.Linear(channels, out_dim), nn.ReLU())
        self.out_dim = out_dim + 2

    def forward(self, curve: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
        h = self.proj(self.conv(curve.unsqueeze(1)).squeeze(-1))
        n_seen = torch.clamp(torch.round(seen * self.max_epochs).long(), 0, self.max_epochs)
        last_idx = torch.clamp(n_seen - 1, min=0)
        last = curve.gather(1, last_idx.unsqueeze(1)).squeeze(1) * (n_seen > 0)
        best = curve.max(dim=1).values
        return torch.cat([h, last.unsqueeze(1), best.unsqueeze(1)], dim=1)


class FeatureExtractor(nn.Module):
    """Concatenate per-input encoders, then Linear(->hidden) -> LeakyReLU -> Linear(hidden->out)."""

    def __init__(
        self,
        config_dim: int,
        max_epochs: int,
        n_models: int = 0,
        model_feature_dim: int = 0,
        meta_dim: int = 0,
        use_curve: bool = True,
        hidden: int = 32,
        out_dim: int = 32,
        model_dim: int = 8,
    ):
        super().__init__()
        total = config_dim + 2  # configuration + target budget + observed fraction of the curve
        self.model_embedding = nn.Embedding(n_models, model_dim) if n_models else None
        total += model_dim if n_models else 0
        self.model_mlp = nn.Sequential(nn.Linear(model_feature_dim, model_dim), nn.ReLU()) if model_feature_dim else None
        total += model_dim if model_feature_dim else 0
        self.curve_encoder = CurveEncoder(max_epochs) if use_curve else None
        total += self.curve_encoder.out_dim if self.curve_encoder is not None else 0
        self.meta_mlp = nn.Sequential(nn.Linear(meta_dim, 4), nn.ReLU()) if meta_dim else None
        total += 4 if meta_dim else 0
        self.head = nn.Sequential(nn.Linear(total, hidden), nn.LeakyReLU(), nn.Linear(hidden, out_dim))
        self.in_dim = total
        self.out_dim = out_dim

    def forward(self, x: SurrogateInputs) -> torch.Tensor:
        parts = [x.config, x.budget.unsqueeze(1), x.seen.unsqueeze(1)]
        if self.model_embedding is not None:
            parts.append(self.model_embedding(x.model_index))
        if self.model_mlp is not None:
            parts.append(self.model_mlp(x.model_features))
        if self.curve_encoder is not None:
            parts.append(self.curve_encoder(x.curve, x.seen))
        if self.meta_mlp is not None:
            parts.append(self.meta_mlp(x.meta))
        return self.head(torch.cat(parts, dim=1))


def make_feature_extractor(encoder: FeatureEncoder, use_curve: bool, hidden: int, out_dim: int) -> FeatureExtractor:
    return FeatureExtractor(
        encoder.config_dim, encoder.max_epochs, encoder.n_models, encoder.model_feature_dim, encoder.meta_dim,
        use_curve=use_curve, hidden=hidden, out_dim=out_dim,
    )


MEANS = ("constant", "mlp")


class MeanNet(nn.Module):
    """The learned prior mean: its own :class:`FeatureExtractor` -> LeakyReLU -> Linear(-> 1)."""

    def __init__(self, encoder: FeatureEncoder, hidden: int, out_dim: int):
        super().__init__()
        self.features = make_feature_extractor(encoder, True, hidden, out_dim)
        self.out = nn.Sequential(nn.LeakyReLU(), nn.Linear(out_dim, 1))

    def forward(self, x: SurrogateInputs) -> torch.Tensor:
        return self.out(self.features(x)).squeeze(-1)


class _GP(gpytorch.models.ExactGP):
    def __init__(self, likelihood: gpytorch.likelihoods.GaussianLikelihood):
        super().__init__(None, None, likelihood)
        self.mean_module = gpytorch.means.ConstantMean()
        self.covar_module = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel())

    def forward(self, z: torch.Tensor) -> gpytorch.distributions.MultivariateNormal:
        return gpytorch.distributions.MultivariateNormal(self.mean_module(z), self.covar_module(z))


class DeepKernelSurrogate(nn.Module):
    """Deep-kernel GP over :class:`SurrogateInputs`; targets are accuracies in [0, 1].

    Meta-training uses :meth:`loss` on sampled batches; search uses :meth:`fit` (which also
    conditions the GP on the data) and :meth:`predict`. :meth:`reset` returns to the weights
    marked by :meth:`mark_initial` (the meta-learned prior, or the seeded random init).
    """

    def __init__(self, encoder: FeatureEncoder, hidden: int = 32, out_dim: int = 32, seed: int = 0,
                 mean: str = "constant"):
        super().__init__()
        if mean not in MEANS:
            raise ValueError(f"mean must be one of {MEANS}, got {mean!r}")
        self.encoder = encoder
        self.hidden, self.out_dim, self.seed, self.mean = hidden, out_dim, seed, mean
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.feature_extractor = make_feature_extractor(encoder, True, hidden, out_dim)
            self.mean_net = MeanNet(encoder, hidden, out_dim) if mean == "mlp" else None
        likelihood = gpytorch.likelihoods.GaussianLikelihood(noise_constraint=gpytorch.constraints.GreaterThan(1e-4))
        self.gp = _GP(likelihood)
        # Start from hyperparameters on the scale of accuracies in [0, 1] (gpytorch's defaults,
        # noise = outputscale = 0.69, treat every observation as noise and collapse the posterior
        # to the constant mean unless trained for many steps).
        self.gp.mean_module.constant = 0.5
        self.gp.covar_module.outputscale = 0.05
        self.gp.covar_module.base_kernel.lengthscale = 1.0
        likelihood.noise = 1e-3
        self._scale_anchor: tuple[float, float] | None = None  # (log outputscale, width) of its hyperprior
        self._train: tuple[SurrogateInputs, torch.Tensor] | None = None
        self._cache: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self._initial_state = copy.deepcopy(self.state_dict())

    @property
    def likelihood(self) -> gpytorch.likelihoods.GaussianLikelihood:
        return self.gp.likelihood

    # -- config ------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {"hidden": self.hidden, "out_dim": self.out_dim, "seed": self.seed, "mean": self.mean}

    def anchor_scale(self, width: float | None) -> None:
        """Fit the kernel's outputscale by MAP under a log-normal hyperprior centred on its current value (the
        meta-learned one) with ``width`` (std of its log): ``0`` keeps it fixed, None fits it by marginal
        likelihood alone (type-II ML, the paper). A search observes the configurations it chose, not a sample
        of the space: when its first trials all fail alike, type-II ML shrinks the amplitude to their spread,
        and with it every untried configuration's uncertainty (``benchmarks/acquisition_trace.py``)."""
        raw = self.gp.covar_module.raw_outputscale
        if width is None:
            self._scale_anchor = None
            raw.requires_grad_(True)
            return
        if width < 0:
            raise ValueError(f"the outputscale hyperprior's width must be >= 0, got {width}")
        self._scale_anchor = (math.log(float(self.gp.covar_module.outputscale.detach())), float(width))
        raw.requires_grad_(width > 0)

    def mark_initial(self) -> None:
        """Make the current weights the ones :meth:`reset` (a full refit) returns to."""
        self._initial_state = copy.deepcopy(self.state_dict())

    def reset(self) -> None:
        self.load_state_dict(self._initial_state)
        self._cache = None

    # -- training ----------------------------------------------------------------------
    def loss(self, inputs: SurrogateInputs, y: torch.Tensor, mean_weight: float = 0.0, centered: bool = False
             ) -> torch.Tensor:
        """Negative exact marginal log-likelihood (per point) of ``y`` given ``inputs`` (of the
        residual ``y - MLP mean`` with ``mean="mlp"``), plus ``mean_weight`` x the MSE of the prior
        mean alone (meta-training: makes the learned mean predict on a new dataset before any
        observation, instead of leaving all of it to the kernel, which only helps once similar
        points are observed). ``centered``: the MSE of the mean's deviations from its batch average
        against the targets' (a batch = one dataset): the mean then learns what differs between
        configurations and budgets of a dataset, the dataset's level is left to the GP."""
        self.train()
        self._cache = None  # the weights are about to change
        z = self.feature_extractor(inputs)
        y = torch.as_tensor(y, dtype=torch.float32)
        learned = torch.zeros_like(y) if self.mean_net is None else self.mean_net(inputs)
        target = y - learned
        self.gp.set_train_data(z, target, strict=False)
        mll = gpytorch.mlls.ExactMarginalLogLikelihood(self.gp.likelihood, self.gp)
        loss = -mll(self.gp(z), target)
        if self._scale_anchor is not None and self._scale_anchor[1] > 0:
            centre, width = self._scale_anchor
            log_scale = torch.log(self.gp.covar_module.outputscale)
            loss = loss + 0.5 * ((log_scale - centre) / width) ** 2 / len(y)  # -log hyperprior, per point as the mll
        if mean_weight > 0:
            prior_mean = self.gp.mean_module.constant + learned
            err = prior_mean - y
            if centered:
                err = err - err.mean()
            loss = loss + mean_weight * torch.mean(err ** 2)
        return loss

    def fit(self, inputs: SurrogateInputs, y: torch.Tensor | np.ndarray, steps: int = 50, lr: float = 1e-3,
            warm_start: bool = True) -> float:
        """``steps`` Adam steps on -mll (from the current weights if ``warm_start``, else from
        :meth:`reset`), then condition the GP on the data. Returns the final per-point -mll.

        A step whose kernel matrix is not positive definite even with jitter, or whose loss is not finite,
        ends the fit: the weights go back to where it started and NaN is returned (the caller's refit policy
        then restarts from the prior). Seen in a 4-worker replay of the extended meta-dataset (AWA), where
        it had ended the search with ``NotPSDError``. gpytorch's warnings that it added jitter to a kernel
        matrix are not shown (they are handled here, and a run printed them between its progress lines)."""
        from linear_operator.utils.errors import NotPSDError
        from linear_operator.utils.warnings import NumericalWarning

        y = torch.as_tensor(np.asarray(y, dtype=np.float32))
        if not warm_start:
            self.reset()
        start = copy.deepcopy(self.state_dict()) if steps > 0 else None
        last = float("nan")
        with torch_threads(1), warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=NumericalWarning)
            opt = torch.optim.Adam(self.parameters(), lr=lr)
            for _ in range(max(0, steps)):
                opt.zero_grad()
                try:
                    with gpytorch.settings.cholesky_jitter(1e-4):
                        loss: torch.Tensor | None = self.loss(inputs, y)
                except NotPSDError as e:
                    logger.debug("surrogate fit: %s", e)
                    loss = None
                if loss is None or not torch.isfinite(loss):
                    logger.debug("surrogate fit stopped after a failed step; weights restored")
                    assert start is not None
                    self.load_state_dict(start)
                    last = float("nan")
                    break
                loss.backward()
                opt.step()
                last = float(loss.detach())
            self.condition(inputs, y)
            if steps <= 0:
                last = self.evaluate_loss()
        return last

    def evaluate_loss(self) -> float:
        """Per-point -mll of the conditioned data at the current weights (no gradient); NaN when there is none or
        its kernel matrix is not positive definite."""
        from linear_operator.utils.errors import NotPSDError
        from linear_operator.utils.warnings import NumericalWarning

        if self._train is None:
            return float("nan")
        try:
            with torch.no_grad(), gpytorch.settings.cholesky_jitter(1e-4), warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=NumericalWarning)  # jitter added: see fit
                value = float(self.loss(*self._train))
        except NotPSDError:
            value = float("nan")
        self.eval()
        return value

    @property
    def conditioning(self) -> tuple[SurrogateInputs, torch.Tensor] | None:
        """The (inputs, targets) the posterior is conditioned on, or None."""
        return self._train

    def clear_condition(self) -> None:
        """Forget the conditioning data (:meth:`predict` then returns the prior)."""
        self._train = None
        self._cache = None

    def condition(self, inputs: SurrogateInputs, y: torch.Tensor | np.ndarray) -> None:
        """Set the data the posterior is conditioned on (no training)."""
        self._train = (inputs, torch.as_tensor(np.asarray(y, dtype=np.float32)))
        self._cache = None
        self.eval()
        with torch.no_grad():
            target = self._train[1] if self.mean_net is None else self._train[1] - self.mean_net(inputs)
            self.gp.set_train_data(self.feature_extractor(inputs), target, strict=False)

    @contextlib.contextmanager
    def extra_condition(self, inputs: SurrogateInputs, y: torch.Tensor | np.ndarray) -> Iterator[None]:
        """Condition on the current data plus (``inputs``, ``y``) inside the block (e.g. believed
        outcomes of pending evaluations), then restore the previous posterior exactly (the prior, when
        nothing was conditioned on)."""
        saved, cache = self._train, self._cache
        extra_y = torch.as_tensor(np.asarray(y, dtype=np.float32))
        if saved is None:
            self.condition(inputs, extra_y)
        else:
            self.condition(SurrogateInputs.cat([saved[0], inputs]), torch.cat([saved[1], extra_y]))
        try:
            yield
        finally:
            if saved is None:
                self.clear_condition()
            else:
                self.condition(*saved)
                self._cache = cache

    # -- prediction --------------------------------------------------------------------
    def predict(self, inputs: SurrogateInputs, noise: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and std of the accuracy at each input: of a new observation (``noise``,
        the default) or of the latent accuracy f (``noise=False``, what expected improvement is
        defined on: the improvement of the objective, not of one noisy measurement of it).

        The posterior is computed exactly (float64 Cholesky of the conditioning kernel matrix,
        cached until the weights or the conditioning data change). gpytorch's ``fast_pred_var``
        (LOVE) was used before: its low-rank variance cache returned negative latent variances for
        many candidates once a few hundred points were conditioned on. Without conditioning data,
        the prior (constant mean, kernel scale [+ noise]) is returned.
        """
        self.eval()
        with torch_threads(1), torch.no_grad():
            z = self.feature_extractor(inputs).double()
            c = self._mean(inputs, z)
            scale = self.gp.covar_module.outputscale.detach().double()
            nvar = self.likelihood.noise.detach().double().reshape(())
            if self._train is None:
                mean = c
                var = scale.expand(z.shape[0]).clone()
            else:
                zt, L, alpha = self._posterior_cache()
                ks = self._kernel(zt, z)
                mean = c + (ks.T @ alpha).squeeze(1)
                v = torch.linalg.solve_triangular(L, ks, upper=False)
                var = torch.clamp(scale - (v * v).sum(0), min=0.0)
            if noise:
                var = var + nvar
        mean_np, var_np = mean.numpy().astype(np.float64), var.numpy().astype(np.float64)
        return mean_np, np.sqrt(np.clip(var_np, 1e-12, None))

    def _mean(self, inputs: SurrogateInputs, z: torch.Tensor) -> torch.Tensor:
        """The GP's prior mean (float64): the constant, plus the MLP's prediction with ``mean="mlp"``."""
        c = self.gp.mean_module.constant.detach().double().expand(z.shape[0])
        if self.mean_net is None:
            return c
        return c + self.mean_net(inputs).detach().double()

    def _posterior_cache(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(features of the conditioning inputs, Cholesky factor of K + noise I, K^-1 (y - c))."""
        if self._cache is None:
            assert self._train is not None
            zt = self.feature_extractor(self._train[0]).double()
            yt = self._train[1].double()
            c = self._mean(self._train[0], zt)
            nvar = self.likelihood.noise.detach().double().reshape(())
            L = self._cholesky(self._kernel(zt, zt), nvar)
            alpha = torch.cholesky_solve((yt - c).unsqueeze(1), L)
            self._cache = (zt, L, alpha)
        return self._cache

    def _kernel(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """outputscale * exp(-|a - b|^2 / (2 lengthscale^2)), in the dtype of ``a`` (gpytorch's RBF)."""
        ls = self.gp.covar_module.base_kernel.lengthscale.detach().to(a.dtype).reshape(())
        scale = self.gp.covar_module.outputscale.detach().to(a.dtype)
        d2 = torch.cdist(a / ls, b / ls).pow(2)
        return scale * torch.exp(-0.5 * d2)

    @staticmethod
    def _cholesky(K: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        eye = torch.eye(K.shape[0], dtype=K.dtype)
        jitter = 0.0
        for _ in range(6):
            L, info = torch.linalg.cholesky_ex(K + (noise + jitter) * eye)
            if int(info) == 0:
                return L
            jitter = 1e-8 if jitter == 0.0 else jitter * 10
        raise RuntimeError("the surrogate's kernel matrix is not positive definite even with jitter")

    # -- weights -----------------------------------------------------------------------
    def tensors(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone().contiguous() for k, v in self.state_dict().items()}

    def load_tensors(self, tensors: Mapping[str, torch.Tensor], strict: bool = True) -> None:
        self.load_state_dict(dict(tensors), strict=strict)
        self._cache = None
        if self._train is not None:
            self.condition(*self._train)
