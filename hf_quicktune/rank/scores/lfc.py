"""Label-Feature Correlation (Deshpande et al. 2021, arXiv 2102.00084, §3).

LFC correlates the feature kernel ``K = F Fᵀ`` (n target samples, penultimate features) with the
label kernel ``L_ij = +1 if y_i = y_j else -1``: the normalised Frobenius inner product of the
two kernels after centring,

    LFC = <K̃, L̃>_F / (‖K̃‖_F ‖L̃‖_F).

The paper (and its reference code) centres each kernel by its *scalar* mean, ``K̃ = K - mean(K)``:
LFC is then the Pearson correlation of the n² kernel entries (``centring="mean"``, the default).
``centring="double"`` is ``K̃ = H K H`` with ``H = I - 11ᵀ/n`` (centred kernel alignment, CKA), i.e.
the features' column means removed.

The two differ by one interpretable term. Write ``F = F̃ + 1μᵀ`` (μ = mean feature) and
``u = F̃ μ`` (how far each sample moves along the mean feature). Then exactly

    K - mean(K) = F̃F̃ᵀ + u1ᵀ + 1uᵀ,   ‖K - mean(K)‖² = ‖F̃ᵀF̃‖² + 2n‖u‖²,

and the same for the labels (``v = Ỹ ν`` with ν the class frequencies; ``v = 0`` for balanced
classes), so ``<K̃, L̃> = ‖F̃ᵀỸ‖² + 2n uᵀv``. With balanced classes the paper's LFC is CKA times
``(1 + 2n‖u‖² / ‖F̃ᵀF̃‖²)^(-1/2)``: features whose kernel energy sits in a large mean direction
(random-init networks with saturated activations) are discounted. This is also how the gradient
flow of the linearized model sees them: the mean direction adds a large eigenvalue to ``F Fᵀ``
that carries no label information but bounds the usable learning rate. The Gram matrices are
never formed; every term costs O(n d min(n, d)).
"""

from __future__ import annotations

import numpy as np

from hf_quicktune.rank.scores._common import as_features, as_labels, one_hot

CENTRINGS = ("mean", "double")


def _gram_norm2(a: np.ndarray) -> float:
    """‖A Aᵀ‖_F² via the smaller of AᵀA and AAᵀ."""
    g = a.T @ a if a.shape[1] <= a.shape[0] else a @ a.T
    return float(np.sum(g * g))


def kernel_alignment(a: np.ndarray, b: np.ndarray, centring: str = "mean") -> float:
    """Normalised Frobenius inner product of the centred ``A Aᵀ`` and ``B Bᵀ`` (rows = samples), in [-1, 1].

    ``centring="mean"`` subtracts each kernel's scalar mean (Deshpande et al. 2021); ``"double"``
    centres rows and columns (CKA). Returns 0 when either centred kernel is zero (constant features).
    """
    if centring not in CENTRINGS:
        raise ValueError(f"centring must be one of {CENTRINGS}, got {centring!r}")
    n = a.shape[0]
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    a = a - mu_a
    b = b - mu_b
    cross = float(np.sum((a.T @ b) ** 2))
    norm_a, norm_b = _gram_norm2(a), _gram_norm2(b)
    if centring == "mean":
        u, v = a @ mu_a, b @ mu_b
        cross += 2.0 * n * float(u @ v)
        norm_a += 2.0 * n * float(u @ u)
        norm_b += 2.0 * n * float(v @ v)
    if norm_a <= 0.0 or norm_b <= 0.0:
        return 0.0
    return float(np.clip(cross / np.sqrt(norm_a * norm_b), -1.0, 1.0))


def lfc(features, labels, centring: str = "mean") -> float:
    """Label-Feature Correlation of penultimate ``features`` ``(n, d)`` with ``labels`` ``(n,)``.

    Higher is better; 1 when the features are the one-hot labels; 0 for constant features.
    """
    f = as_features(features)
    y = as_labels(labels, f.shape[0])
    return kernel_alignment(f, one_hot(y), centring)
