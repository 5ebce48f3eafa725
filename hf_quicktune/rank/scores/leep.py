"""Scores that use the candidate's *source* classification head.

LEEP (Nguyen et al., ICML 2020, §3): with θ(x) the source-class probabilities,
``P̂(y, z) = (1/N) Σ_{i: y_i = y} θ(x_i)_z`` and ``P̂(y | z) = P̂(y, z) / P̂(z)``;
score = ``(1/N) Σ_i log Σ_z P̂(y_i | z) θ(x_i)_z`` (a log-likelihood, ≤ 0, higher is better).

NCE (Tran et al., ICCV 2019, §3): ``−H(Y | Z)`` with Z the source argmax label, from the
empirical joint of (y, z) counts (≤ 0, higher is better).
"""

from __future__ import annotations

import numpy as np

from hf_quicktune.rank.scores._common import as_features, as_labels, one_hot


def _probabilities(source_logits) -> np.ndarray:
    logits = as_features(source_logits, name="source logits")
    logits = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def leep(source_logits, labels) -> float:
    """LEEP from source-head logits ``(n, Z)`` and target labels ``(n,)``."""
    theta = _probabilities(source_logits)
    y = as_labels(labels, theta.shape[0])
    n = theta.shape[0]
    joint = one_hot(y).T @ theta / n  # (C, Z)
    marginal = joint.sum(axis=0, keepdims=True)  # P(z)
    conditional = np.divide(joint, marginal, out=np.zeros_like(joint), where=marginal > 0)  # P(y | z)
    eep = np.sum(conditional[y] * theta, axis=1)
    return float(np.mean(np.log(np.maximum(eep, 1e-300))))


def nce(source_logits, labels) -> float:
    """Negative conditional entropy −H(Y | Z), Z = argmax of the source head."""
    logits = as_features(source_logits, name="source logits")
    y = as_labels(labels, logits.shape[0])
    z = np.argmax(logits, axis=1)
    n = y.shape[0]
    _, z_idx = np.unique(z, return_inverse=True)
    joint = np.zeros((int(y.max()) + 1, int(z_idx.max()) + 1))
    np.add.at(joint, (y, z_idx), 1.0)
    joint /= n
    p_z = joint.sum(axis=0, keepdims=True)
    mask = joint > 0
    cond = np.divide(joint, p_z, out=np.ones_like(joint), where=mask)
    return float(np.sum(joint[mask] * np.log(cond[mask])))
