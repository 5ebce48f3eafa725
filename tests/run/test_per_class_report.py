"""The exported model's per-class results (report/classes.py): the weakest classes, the most frequent confusions,
the CSV, the plot and the card's section."""

from __future__ import annotations

import csv

from PIL import Image

from hf_quicktune.report import classes

NAMES = ["cat", "dog", "owl"]


def _cells(dense):
    """A dense matrix (rows true, columns predicted) as the non-zero ``[true, predicted, count]`` cells."""
    return [[i, j, count] for i, row in enumerate(dense) for j, count in enumerate(row) if count]


# rows true, columns predicted: owls are mostly taken for cats
CONFUSION = _cells([[9, 1, 0], [0, 10, 0], [3, 1, 1]])


def test_weakest_classes_and_confusions_are_counted_from_the_matrix():
    rows = classes.per_class(CONFUSION, NAMES)
    assert [r["class"] for r in classes.weakest(rows, 2)] == ["owl", "cat"]
    assert classes.weakest_text(rows, 2) == "owl 20 % (1/5), cat 90 % (9/10)"
    top = classes.top_confusions(CONFUSION, NAMES, k=2)
    assert [(c["true"], c["predicted"], c["count"]) for c in top] == [("owl", "cat", 3), ("owl", "dog", 1)]
    assert top[0]["share"] == 0.6  # a tie of counts goes to the larger share: owl's 1 of 5 before cat's 1 of 10


def test_csv_json_plot_and_markdown(tmp_path):
    rows = classes.per_class(CONFUSION, NAMES)
    csv_path, json_path = classes.write_per_class({"validation": rows, "test": rows}, tmp_path)
    with csv_path.open() as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 6 and table[2] == {"split": "validation", "class": "owl", "support": "5", "predicted": "1",
                                            "correct": "1", "precision": "1.0", "recall": "0.2",
                                            "f1": "0.333333"}
    assert json_path.exists()
    png = classes.plot_confusion(CONFUSION, NAMES, tmp_path / "cm.png")
    with Image.open(png) as im:
        assert im.width > 300 and im.height > 300
    text = classes.markdown(rows, classes.top_confusions(CONFUSION, NAMES))
    assert "| owl | 5 | 20.0 % | 100.0 % | 33.3 % |" in text
    assert "owl taken for cat 3x (60 % of owl)" in text


def test_many_classes_show_the_lowest_recalls_only(tmp_path):
    n = 40
    names = [f"c{i}" for i in range(n)]
    confusion = [[10 if i == j else 0 for j in range(n)] for i in range(n)]
    confusion[7][7], confusion[7][3] = 2, 8  # c7: recall 20 %
    confusion = _cells(confusion)
    text = classes.markdown(classes.per_class(confusion, names), [], limit=10)
    assert text.startswith("The 10 classes of 40 with the lowest recall")
    shown = [line for line in text.splitlines() if line.startswith("| c") and not line.startswith("| class")]
    assert len(shown) == 10 and shown[0].startswith("| c7 | 10 | 20.0 % |")
    assert classes.plot_confusion(confusion, names, tmp_path / "cm.png").exists()
