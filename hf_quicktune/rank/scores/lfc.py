"""Label-Feature Correlation (Deshpande et al. 2021, arXiv 2102.00084, §3).

LFC is the alignment between the feature kernel ``K = F Fᵀ`` and the label kernel
``L_ij = +1 if y_i = y_j else -1`` over the n target samples, after centring both:

    LFC = <K̃, L̃>_F / (‖K̃‖_F ‖L̃‖_F),   K̃ = H K H,  L̃ = H L H,  H = I - 11ᵀ/n.

Centring the *columns* of F gives ``F̃ F̃ᵀ = H F Fᵀ H`` exactly, so the score is invariant to
adding any constant vector to every feature (unlike scalar-mean centring, which breaks on
ReLU features with an offset), and the Frobenius normalisation makes it a true correlation
in [-1, 1] (a spectral norm would not). ``L = 2YYᵀ - 11ᵀ`` with Y one-hot, so ``L̃ = 2 Ỹ Ỹᵀ``.

The Gram matrices are never formed: with ``A = F̃``, ``B = Ỹ``,
``<AAᵀ, BBᵀ> = ‖AᵀB‖²``, ``‖AAᵀ‖ = ‖AᵀA‖`` (Frobenius), which costs O(n d min(n, d)).
"""

from __future__ import annotations

import numpy as np

from hf_quicktune.rank.scores._common import as_features, as_labels, one_hot


def kernel_alignment(a: np.ndarray, b: np.ndarray) -> float:
    """Centred kernel alignment of ``A Aᵀ`` and ``B Bᵀ`` (rows = samples), in [-1, 1].

    Columns are centred here. Returns 0 when either centred kernel is zero (constant features).
    """
    a = a - a.mean(axis=0, keepdims=True)
    b = b - b.mean(axis=0, keepdims=True)
    cross = np.linalg.norm(a.T @ b) ** 2
    norm_a = np.linalg.norm(a.T @ a) if a.shape[1] <= a.shape[0] else np.linalg.norm(a @ a.T)
    norm_b = np.linalg.norm(b.T @ b) if b.shape[1] <= b.shape[0] else np.linalg.norm(b @ b.T)
    if norm_a == 0.0 or norm_b == 0.0:
        return 0.0
    return float(cross / (norm_a * norm_b))


def lfc(features, labels) -> float:
    """Label-Feature Correlation of penultimate ``features`` ``(n, d)`` with ``labels`` ``(n,)``.

    Higher is better. 1 when the features are the one-hot labels; 0 for constant features.
    """
    f = as_features(features)
    y = as_labels(labels, f.shape[0])
    return kernel_alignment(f, one_hot(y))
