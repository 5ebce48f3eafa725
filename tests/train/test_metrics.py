"""Top-k accuracy from ranked class indices (hf_quicktune/train/metrics.py)."""

import math

import pytest
import torch
from timm.utils import accuracy

from hf_quicktune.train.metrics import topk_accuracy


def test_known_answers_and_a_k_beyond_the_ranking_is_left_out():
    ranked = torch.tensor([[2, 0, 1], [0, 1, 2], [1, 2, 0], [1, 0, 2]])
    labels = torch.tensor([2, 1, 0, 2])
    # hits: sample 0 at rank 1, sample 1 at rank 2, sample 2 at rank 3, sample 3 at rank 3
    assert topk_accuracy(ranked, labels, ks=(1, 2, 3, 5)) == {"top1": 0.25, "top2": 0.5, "top3": 1.0}


def test_agrees_with_timm_accuracy_on_random_logits():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(257, 12, generator=gen)
    labels = torch.randint(0, 12, (257,), generator=gen)
    ours = topk_accuracy(logits.topk(5, dim=-1).indices, labels, ks=(1, 5))
    top1, top5 = accuracy(logits, labels, topk=(1, 5))  # timm's, in percent
    assert ours["top1"] == pytest.approx(float(top1) / 100, abs=1e-6)
    assert ours["top5"] == pytest.approx(float(top5) / 100, abs=1e-6)
    assert 0 < ours["top1"] < ours["top5"] < 1


def test_no_samples_gives_nan_and_a_shape_mismatch_is_refused():
    out = topk_accuracy(torch.zeros(0, 5, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    assert set(out) == {"top1", "top5"} and all(math.isnan(v) for v in out.values())
    with pytest.raises(ValueError, match="one row per label"):
        topk_accuracy(torch.zeros(3, 5, dtype=torch.long), torch.zeros(4, dtype=torch.long))
