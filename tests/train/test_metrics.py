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


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_balanced_accuracy_and_macro_f1_match_scikit_learn():
    import numpy as np
    from sklearn.metrics import balanced_accuracy_score, f1_score

    from hf_quicktune.train.metrics import class_balanced_scores

    rng = np.random.default_rng(0)
    for case in range(60):
        n, c = int(rng.integers(1, 40)), int(rng.integers(2, 7))
        labels = rng.integers(0, c, n)
        predicted = np.zeros(n, dtype=int) if case % 4 == 0 else rng.integers(0, c, n)  # incl. one class only
        ours = class_balanced_scores(torch.tensor(predicted), torch.tensor(labels), c)
        assert ours["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(labels, predicted), abs=1e-12)
        assert ours["macro_f1"] == pytest.approx(f1_score(labels, predicted, average="macro", zero_division=0),
                                                 abs=1e-12)


def test_on_a_skewed_split_the_majority_predictor_scores_one_over_c():
    from hf_quicktune.train.metrics import class_balanced_scores

    labels = torch.tensor([0] * 9 + [1])
    majority = class_balanced_scores(torch.zeros(10, dtype=torch.long), labels, 2)
    assert majority["balanced_accuracy"] == 0.5  # where top-1 says 0.9
    assert majority["macro_f1"] == pytest.approx((2 * 9 / 19) / 2)  # F1 of class 0: 2*9 / (9 + 10); class 1: 0
    assert math.isnan(class_balanced_scores(torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long),
                                            2)["macro_f1"])
    with pytest.raises(ValueError, match="both be"):
        class_balanced_scores(torch.zeros(3, dtype=torch.long), torch.zeros(2, dtype=torch.long), 2)


def test_an_unknown_metric_names_the_known_ones():
    from hf_quicktune.errors import ConfigError
    from hf_quicktune.train.metrics import check_metric

    assert check_metric("macro_f1") == "macro_f1"
    with pytest.raises(ConfigError, match="unknown metric 'f1'") as err:
        check_metric("f1")
    assert "top1, balanced_accuracy, macro_f1" in err.value.fix


def _dense(cells, n):
    out = [[0] * n for _ in range(n)]
    for i, j, count in cells:
        out[i][j] += count
    return out


def test_confusion_cells_and_per_class_rows_agree_with_scikit_learn():
    from sklearn.metrics import confusion_matrix as sk_confusion
    from sklearn.metrics import precision_recall_fscore_support

    from hf_quicktune.report.classes import per_class
    from hf_quicktune.train.metrics import confusion_cells

    gen = torch.Generator().manual_seed(1)
    labels = torch.randint(0, 6, (300,), generator=gen)
    labels[labels == 5] = 4  # class 5 has no image
    predicted = torch.where(torch.rand(300, generator=gen) < 0.6, labels, torch.randint(0, 5, (300,), generator=gen))
    cells = confusion_cells(predicted, labels, 6)
    assert _dense(cells, 6) == sk_confusion(labels.numpy(), predicted.numpy(), labels=list(range(6))).tolist()
    assert all(count > 0 for _, _, count in cells) and cells == sorted(cells)  # non-zero cells, in row order
    rows = per_class(cells, list("abcdef"))
    p, r, f, support = precision_recall_fscore_support(labels.numpy(), predicted.numpy(), labels=list(range(5)),
                                                       zero_division=0)
    for i in range(5):
        assert rows[i]["precision"] == pytest.approx(p[i]) and rows[i]["recall"] == pytest.approx(r[i])
        assert rows[i]["f1"] == pytest.approx(f[i]) and rows[i]["support"] == support[i]
    assert rows[5] == {"class": "f", "support": 0, "predicted": 0, "correct": 0, "precision": None, "recall": None,
                       "f1": None}
    with pytest.raises(ValueError, match=r"must both be \(n,\)"):
        confusion_cells(predicted[:3], labels, 6)


def test_the_confusion_of_many_classes_holds_a_cell_per_image_at_most():
    """ImageNet-21k's classes: the dense matrix would hold 4.6 x 10^8 cells; the cells hold the images' pairs."""
    from hf_quicktune.report.classes import per_class, top_confusions
    from hf_quicktune.train.metrics import confusion_cells

    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 21_841, (2000,), generator=gen)
    predicted = torch.where(torch.rand(2000, generator=gen) < 0.5, labels, torch.randint(0, 21_841, (2000,),
                                                                                           generator=gen))
    cells = confusion_cells(predicted, labels, 21_841)
    assert len(cells) <= 2000 and sum(count for _, _, count in cells) == 2000
    rows = per_class(cells, [f"n{i}" for i in range(21_841)])
    assert sum(r["support"] for r in rows) == 2000 == sum(r["predicted"] for r in rows)
    assert sum(r["correct"] for r in rows) == int((predicted == labels).sum())
    assert len(top_confusions(cells, [f"n{i}" for i in range(21_841)], k=3)) == 3
