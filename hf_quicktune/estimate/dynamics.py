"""Expected training-loss curve of the linearized model under SGD (Zancato et al. 2020, §3-4).

Notation. n subsample size, N training-set size, C outputs, ``K`` the class-traced NTK
(``Theta ~= K (x) I_C``, see :mod:`.jacobian`), ``K / n = U diag(mu) U^T``, residual
``r = f(X) - Y`` (n x C), lr eta, batch B, momentum m (PyTorch heavy ball: v <- m v + g,
w <- w - eta v). Losses are per-sample means: MSE ``L = 1/(2n) sum_i ||r_i||^2``; cross-entropy
``L = 1/n sum_i CE(f_i, y_i)``.

**Gradient-flow / GD part (MSE, paper eq. 4).** For the linear model the residual obeys
``r_{t+1} = r_t + m (r_t - r_{t-1}) - eta (K/n) r_t``; in the eigenbasis each coordinate
``a_k = u_k^T r`` evolves alone. With m = 0 this is the closed form
``L(t) = 1/(2n) sum_k (1 - eta mu_k)^{2t} a_k(0)^2 ~= 1/(2n) sum_k exp(-2 eta mu_k t) a_k(0)^2``
(the paper's continuous-time formula). Momentum: we iterate the exact two-step heavy-ball
recursion per direction; for slow modes (eta mu_k << 1 - m) it reduces to the paper's effective
learning rate eta / (1 - m) (``momentum_model="effective_lr"`` uses that substitution instead).

**SGD-noise part (paper eq. 6-7, linear SDE covariance).** A mini-batch gradient adds zero-mean
noise ``xi_t = -eta J (g_B - g)`` with covariance
``(eta^2 / B) * fpc * [1/n sum_i Theta_:i r_i r_i^T Theta_i: - 1/n^2 Theta r r^T Theta]``,
``fpc = (N - B) / (N - 1)`` (sampling without replacement within an epoch). Two approximations
make it diagonal in the eigenbasis: (i) *isotropic load*, ``E||r_i||^2 ~= tr S / n`` for every
sample, and (ii) the off-diagonal second moments ``E[a_k a_l]`` (k != l) are dropped. The second
moment ``s_k = E[a_k^2]`` then follows the discrete Lyapunov recursion

``s_k(t+1) = c_k^2 s_k - 2 c_k m q_k + m^2 s_k(t-1) + (eta^2/B) fpc mu_k^2 (sum_j s_j - s_k)``,
``q_k(t+1) = c_k s_k - m q_k``,  ``c_k = 1 + m - eta mu_k``,

and the expected loss is ``1/(2n) sum_k s_k`` (mean part + noise part; the mean part alone is
``loss_flow``).

**Subset -> full dataset (paper §5).** The top eigenvalues of ``K_n / n`` are stable in n
(they estimate those of the kernel integral operator), so the full-dataset spectrum is the
subset's rescaled by N/n: ``lambda_k(K_N) ~= (N/n) lambda_k(K_n)``, and the curve is computed with
``mu_k = lambda_k(K_n)/n`` and per-sample energies ``e_k = a_k^2/n`` (both sum-normalised per
sample, so the rescaling is consistent: ``sum_k e_k`` is the mean squared residual for any n).
N enters the SGD-noise term only through ``fpc = (N - B)/(N - 1)`` and the reshuffling factor
(``N // B`` steps per epoch); the noise amplitude itself uses the per-sample ``mu_k``, which is
what a batch of B of the N samples sees. Steps -> epochs: ``epoch = step * B / N``.

What this rescaling cannot see: the N-sample kernel has N directions, the subset's n. Only the
*top* eigenvalues of ``K_n / n`` are stable in n. Two parts of the spectrum are not: (i) the
high-dimensional, sample-specific part of the gradients acts like a diagonal ``sigma^2 I`` (a
kernel matrix ~ low rank + tail trace x identity), whose per-sample eigenvalue is
``sigma^2 / n`` on the subset but ``sigma^2 / N`` on the full set; (ii) residual energy that lives
beyond the n-th direction is folded onto the subset's n directions. Both make the subset model
(equivalently: training on N/n copies of n samples) fit faster than N distinct samples, the more
so the lower the target loss. :func:`finite_size_extrapolate` corrects this
to first order in 1/n from nested halves of the same subsample (no extra Jacobians; our
addition, not in the paper). Offline check on the digits linear probe (N = 1438, exactly linear,
where the full-N curve matches real SGD within 3 %): at loss 1.0 the n = 128 prediction moves from
-35..-18 % to -18..+8 % of the measured steps; at loss 0.3 it stays 3-4x optimistic (n = 256:
2x) -- low targets need n comparable to N, which no rescaling of n directions can replace.

**Cross-entropy (beyond the closed form).** The mean function follows the linearized dynamics
``F_{t+1} = F_t + m (F_t - F_{t-1}) - eta (K/n)(softmax(F_t) - Y)``, integrated numerically
(exact for the linearized model under full-batch heavy ball). The SGD-noise part uses the MSE
recursion above with the softmax curvature replaced by its mean ``h_t = mean_i (1 - ||p_i||^2) / C``
(``c_k = 1 + m - eta mu_k h_t``) and gradient energy ``G_t = 1/n sum_i ||p_i - y_i||^2`` as the
noise source; the expected loss adds ``h_t / 2 * sum_k v_k`` (second-order expansion).

**Random reshuffling.** Trainers shuffle once per epoch rather than sampling with replacement;
:func:`reshuffle_factor` corrects the per-mode noise for that (exact for the stationary variance
of a mode, see there). The with-replacement recursion above matches SGD with replacement on an
exactly linear model to within Monte-Carlo error (tests/estimate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: a curve stops (diverged) when the expected loss exceeds this multiple of its start
DIVERGENCE_FACTOR = 1e3


@dataclass
class Spectrum:
    """Eigen-decomposition of ``K_n / n`` and the initial residual on the subsample."""

    mu: np.ndarray  # (n,) eigenvalues of K/n, descending, clipped at 0
    basis: np.ndarray  # (n, n) eigenvectors as columns
    outputs: np.ndarray  # (n, C) f(X; w0)
    targets: np.ndarray  # (n, C) one-hot (or smoothed) targets
    num_train: int  # N, the full training-set size the curve is rescaled to

    @property
    def n(self) -> int:
        return len(self.mu)

    def mse_energies(self) -> np.ndarray:
        """``e_k = sum_c (u_k^T r0_c)^2 / n``: per-sample residual energy in each eigendirection."""
        a = self.basis.T @ (self.outputs - self.targets)
        return (a**2).sum(axis=1) / self.n


def spectrum(kernel: np.ndarray, outputs: np.ndarray, targets: np.ndarray, num_train: int) -> Spectrum:
    """Eigen-decompose the subset NTK; ``mu_k = lambda_k(K_n) / n`` (the subset -> N rescaling)."""
    kernel = np.asarray(kernel, dtype=np.float64)
    n = kernel.shape[0]
    lam, vec = np.linalg.eigh(0.5 * (kernel + kernel.T))
    order = np.argsort(lam)[::-1]
    mu = np.clip(lam[order], 0.0, None) / n
    return Spectrum(
        mu=mu,
        basis=vec[:, order],
        outputs=np.asarray(outputs, dtype=np.float64),
        targets=np.asarray(targets, dtype=np.float64),
        num_train=max(int(num_train), n),
    )


def within_of_final(steps, loss, eps: float) -> int | None:
    """First ``steps[i]`` with ``loss[i] - loss[-1] <= eps (loss[0] - loss[-1])``: ``steps[0]`` for a flat
    curve (converged at once), None when the loss ends above where it started (training blew up without
    overflowing; the criterion would otherwise hold at step 0 and call it converged)."""
    if not 0.0 < eps < 1.0:
        raise ValueError(f"eps must be in (0, 1), got {eps}")
    loss = np.asarray(loss, dtype=np.float64)
    drop = loss[0] - loss[-1]
    if drop < 0.0:
        return None
    if drop == 0.0:
        return int(steps[0])
    hit = np.nonzero(loss - loss[-1] <= eps * drop)[0]
    return int(steps[hit[0]])


@dataclass
class Curve:
    """Predicted expected training loss after each SGD step (index = step)."""

    loss: np.ndarray  # expected loss (mean + SGD noise)
    loss_flow: np.ndarray  # without the SGD-noise part
    batch_size: int
    num_train: int
    diverged: bool = False

    @property
    def steps(self) -> np.ndarray:
        return np.arange(len(self.loss))

    @property
    def epochs(self) -> np.ndarray:
        return self.steps * self.batch_size / self.num_train

    def steps_to(self, target: float) -> int | None:
        """First step whose expected loss is <= target (None if not reached within the curve)."""
        hit = np.nonzero(self.loss <= target)[0]
        return int(hit[0]) if len(hit) else None

    def steps_to_within(self, eps: float) -> int | None:
        """First step whose loss is within ``eps`` of its final value, relative to the total decrease.

        The supplementary criterion of Zancato et al. (2020): the first t with
        ``L(t) - L(T) <= eps (L(0) - L(T))``, T = the last step of the curve (the training horizon),
        so it is defined even when no absolute target is reached. None when the curve diverged or ends
        above its start.
        """
        if self.diverged or not len(self.loss) or not np.isfinite(self.loss[-1]):
            return None
        return within_of_final(np.arange(len(self.loss)), self.loss, eps)

    def loss_at(self, step: int) -> float:
        if step < len(self.loss):
            return float(self.loss[step])
        return float("inf") if self.diverged else float(self.loss[-1])


def _noise_scale(lr: float, batch_size: int, num_train: int) -> float:
    b = min(batch_size, num_train)
    fpc = (num_train - b) / (num_train - 1) if num_train > 1 else 0.0
    return lr**2 / b * fpc


def reshuffle_factor(decay: np.ndarray, steps_per_epoch: int) -> np.ndarray:
    """Noise reduction of random reshuffling for modes contracting by ``decay`` per step.

    Within an epoch every sample is used once, so the T = N/B batch-noise terms sum to zero
    (exchangeable, ``Cov(xi_s, xi_t) = -sigma^2 / (T - 1)``). The variance a mode accumulates over
    an epoch, ``Var(sum_t w_t xi_t)`` with impulse response ``w_t = decay^t``, is then
    ``sigma^2 [T sum w^2 - (sum w)^2] / (T - 1)`` instead of ``sigma^2 sum w^2``; the ratio
    ``rho`` multiplies the per-step noise (exact for the stationary variance). Slow modes
    (decay -> 1) get almost no noise, fast ones the with-replacement amount. Momentum enters
    through the effective-lr decay ``1 - eta mu / (1 - m)``.
    """
    t = int(steps_per_epoch)
    if t <= 1:
        return np.ones_like(decay)
    c = np.clip(np.asarray(decay, dtype=np.float64), -1.0, 1.0)
    near_one = np.abs(1.0 - c) < 1e-9
    near_minus_one = np.abs(1.0 - c * c) < 1e-9
    safe = np.where(near_one, 0.5, c)
    s1 = np.where(near_one, float(t), (1.0 - safe**t) / (1.0 - safe))
    safe2 = np.where(near_minus_one, 0.5, c)
    s2 = np.where(near_minus_one, float(t), (1.0 - safe2 ** (2 * t)) / (1.0 - safe2**2))
    rho = (t * s2 - s1**2) / ((t - 1) * s2)
    return np.clip(rho, 0.0, 1.0)


def _momentum(lr: float, momentum: float, model: str) -> tuple[float, float]:
    if model == "effective_lr":
        return lr / (1.0 - momentum), 0.0
    if model != "heavy_ball":
        raise ValueError(f"momentum_model must be 'heavy_ball' or 'effective_lr', got {model!r}")
    return lr, momentum


def mse_curve(
    spec: Spectrum,
    *,
    lr: float,
    batch_size: int,
    momentum: float = 0.0,
    max_steps: int = 10_000,
    stop_below: float | None = None,
    noise: bool = True,
    momentum_model: str = "heavy_ball",
    reshuffle: bool = True,
) -> Curve:
    """Expected MSE loss of the linearized model under SGD (module docstring, eq. 4 + eq. 6-7)."""
    eta, m = _momentum(lr, momentum, momentum_model)
    mu = spec.mu
    e0 = spec.mse_energies()
    c = 1.0 + m - eta * mu
    g = _noise_scale(eta, batch_size, spec.num_train) * mu**2 if noise else np.zeros_like(mu)
    if reshuffle:
        g = g * reshuffle_factor(1.0 - eta * mu / (1.0 - m), spec.num_train // max(batch_size, 1))
    s, q, s_prev = e0.copy(), e0.copy(), e0.copy()  # velocity 0: a_{-1} = a_0
    a, a_prev = np.sqrt(e0), np.sqrt(e0)  # mean part per direction (magnitude)
    loss = [0.5 * s.sum()]
    flow = [loss[0]]
    limit = DIVERGENCE_FACTOR * max(loss[0], 1e-12)
    diverged = False
    for _ in range(max_steps):
        total = s.sum()
        s_new = c**2 * s - 2 * c * m * q + m**2 * s_prev + g * (total - s)
        q = c * s - m * q
        s_prev, s = s, np.maximum(s_new, 0.0)
        a, a_prev = c * a - m * a_prev, a
        loss.append(0.5 * s.sum())
        flow.append(0.5 * float((a**2).sum()))
        if not np.isfinite(loss[-1]) or loss[-1] > limit:
            diverged = True
            break
        if stop_below is not None and loss[-1] <= stop_below:
            break
    return Curve(np.asarray(loss), np.asarray(flow), batch_size, spec.num_train, diverged)


def _softmax(f: np.ndarray) -> np.ndarray:
    z = np.exp(f - f.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _cross_entropy(p: np.ndarray, y: np.ndarray) -> float:
    return float(-(y * np.log(np.clip(p, 1e-300, None))).sum(axis=1).mean())


def cross_entropy_curve(
    spec: Spectrum,
    *,
    lr: float,
    batch_size: int,
    momentum: float = 0.0,
    max_steps: int = 10_000,
    stop_below: float | None = None,
    noise: bool = True,
    momentum_model: str = "heavy_ball",
    reshuffle: bool = True,
) -> Curve:
    """Expected cross-entropy loss of the linearized model under SGD (module docstring, last part)."""
    eta, m = _momentum(lr, momentum, momentum_model)
    mu, basis = spec.mu, spec.basis
    y = spec.targets
    num_classes = y.shape[1]
    kn = (basis * mu) @ basis.T  # K / n
    f, f_prev = spec.outputs.copy(), spec.outputs.copy()
    gscale = _noise_scale(eta, batch_size, spec.num_train) * mu**2 if noise else np.zeros_like(mu)
    v = np.zeros_like(mu)
    vq = np.zeros_like(mu)
    v_prev = np.zeros_like(mu)
    steps_per_epoch = spec.num_train // max(batch_size, 1)
    p = _softmax(f)
    flow = [_cross_entropy(p, y)]
    loss = [flow[0]]
    limit = DIVERGENCE_FACTOR * max(flow[0], 1e-12)
    diverged = False
    for _ in range(max_steps):
        grad = p - y
        h = float((1.0 - (p**2).sum(axis=1)).mean()) / num_classes
        energy = float((grad**2).sum(axis=1).mean())
        c = 1.0 + m - eta * mu * h
        rho = reshuffle_factor(1.0 - eta * mu * h / (1.0 - m), steps_per_epoch) if reshuffle else 1.0
        v_new = c**2 * v - 2 * c * m * vq + m**2 * v_prev + gscale * rho * energy
        vq = c * v - m * vq
        v_prev, v = v, np.maximum(v_new, 0.0)
        f, f_prev = f + m * (f - f_prev) - eta * (kn @ grad), f
        if not np.all(np.isfinite(f)):
            diverged = True
            break
        p = _softmax(f)
        mean_loss = _cross_entropy(p, y)
        h_new = float((1.0 - (p**2).sum(axis=1)).mean()) / num_classes
        flow.append(mean_loss)
        loss.append(mean_loss + 0.5 * h_new * float(v.sum()))
        if not np.isfinite(loss[-1]) or loss[-1] > limit:
            diverged = True
            break
        if stop_below is not None and loss[-1] <= stop_below:
            break
    return Curve(np.asarray(loss), np.asarray(flow), batch_size, spec.num_train, diverged)


def half_spectra(kernel: np.ndarray, outputs: np.ndarray, targets: np.ndarray, num_train: int,
                 seed: int = 0) -> list[Spectrum]:
    """Spectra of the two disjoint random halves of the subsample (for :func:`finite_size_extrapolate`).

    Each half is a subsample of n/2 drawn from the same population; averaging the two curves
    halves the variance of the n/2 estimate at no extra Jacobian cost (sub-blocks of ``K_n``).
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    n = kernel.shape[0]
    if n < 8:
        return []
    perm = np.random.default_rng(seed).permutation(n)
    halves = [np.sort(perm[: n // 2]), np.sort(perm[n // 2 : 2 * (n // 2)])]
    outputs, targets = np.asarray(outputs, dtype=np.float64), np.asarray(targets, dtype=np.float64)
    return [spectrum(kernel[np.ix_(h, h)], outputs[h], targets[h], num_train) for h in halves]


def _padded(values: np.ndarray, length: int, diverged: bool) -> np.ndarray:
    if len(values) >= length:
        return values[:length]
    fill = np.inf if diverged else values[-1]
    return np.concatenate([values, np.full(length - len(values), fill)])


def finite_size_extrapolate(curve_n: Curve, curves_half: list[Curve], n: int, num_train: int) -> Curve:
    """First-order finite-size correction of the subset curve, from subsample n to N samples.

    Model: at a fixed step t the expected per-sample loss of the subset dynamics depends on the
    subsample size as ``L(t; n) = L(t; inf) - c(t) / n + O(1/n^2)`` (the 1/n term is the residual
    energy the n-direction kernel folds onto its own directions, see the module docstring). Two
    sizes determine c(t): with ``L_half`` the mean curve of the two n/2 halves,
    ``L(t; n) - L_half(t) = c(t) / n``, hence
    ``L(t; N) = L(t; n) + c(t) (1/n - 1/N) = L(t; n) + (L(t; n) - L_half(t)) * (1 - n / N)``.
    For N = n this is the subset curve itself; the correction only raises the loss where the
    halves fit faster than the full subsample (it is clipped at zero when noise makes it
    negative), and never above the starting loss ``L(0; n)``: when the halves fit much faster
    than the subsample (tiny n, where the 1/n expansion breaks down) the first-order term would
    otherwise predict a loss that *rises* with training. Divergence of the n curve is kept.
    """
    if not curves_half or num_train <= n:
        return curve_n
    length = len(curve_n.loss)
    factor = 1.0 - n / float(num_train)

    def corrected(full: np.ndarray, halves: list[np.ndarray]) -> np.ndarray:
        half = np.mean(halves, axis=0)
        with np.errstate(invalid="ignore"):
            delta = np.where(np.isfinite(half), np.maximum(full - half, 0.0), 0.0)
        return np.minimum(full + delta * factor, np.maximum(full, full[0]))

    loss = corrected(curve_n.loss, [_padded(c.loss, length, c.diverged) for c in curves_half])
    flow = corrected(curve_n.loss_flow, [_padded(c.loss_flow, length, c.diverged) for c in curves_half])
    return Curve(loss, flow, curve_n.batch_size, curve_n.num_train, curve_n.diverged)
