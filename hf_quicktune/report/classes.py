"""Per-class results of the exported model: precision, recall and F1 per class, its most frequent confusions
and a confusion-matrix plot, from the top-1 confusion matrix of one evaluation pass (rows: true classes,
columns: predicted).

A top-1 accuracy says how often the model is right, not where it is wrong: which classes it misses and what
it takes them for is what a practitioner looks at next (more images of a class, merged look-alike classes).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hf_quicktune.report import pyplot, save_figure

#: the confusion-matrix plot draws every class up to this many; above it, the classes of its worst recalls
PLOT_CLASSES = 30
#: counts are written in the cells up to this many classes
ANNOTATE_CLASSES = 12
COLUMNS = ("split", "class", "support", "predicted", "correct", "precision", "recall", "f1")


#: a confusion matrix as its non-zero cells: ``[true, predicted, count]`` (``train.metrics.confusion_cells``)
Cells = Sequence[Sequence[int]]


def _totals(cells: Cells, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each class's true images, images predicted as it and correct ones, from the ``cells`` of ``n`` classes."""
    a = np.asarray(cells, dtype=np.int64).reshape(-1, 3)
    count = a[:, 2].astype(float)

    def per(index: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return np.bincount(index, weights=weights, minlength=n)[:n].astype(np.int64)

    diagonal = a[:, 0] == a[:, 1]
    return per(a[:, 0], count), per(a[:, 1], count), per(a[diagonal, 0], count[diagonal])


def per_class(cells: Cells, names: Sequence[str]) -> list[dict[str, Any]]:
    """One row per class: ``support`` (true images), ``predicted`` (images predicted as it), ``correct``,
    ``precision``, ``recall`` and ``f1`` (None where undefined: no image of the class, or none predicted)."""
    supports, predictions, hits = _totals(cells, len(names))
    rows = []
    for name, support, predicted, correct in zip(names, supports.tolist(), predictions.tolist(), hits.tolist()):
        precision = correct / predicted if predicted else None
        recall = correct / support if support else None
        f1 = 2 * correct / (support + predicted) if support + predicted else None
        rows.append({"class": str(name), "support": support, "predicted": predicted, "correct": correct,
                     "precision": precision, "recall": recall, "f1": f1})
    return rows


def top_confusions(cells: Cells, names: Sequence[str], k: int = 5) -> list[dict[str, Any]]:
    """The ``k`` most frequent mistakes: ``true`` class taken for ``predicted``, ``count`` and its ``share`` of the
    true class's images; most frequent first (ties: the larger share)."""
    supports = _totals(cells, len(names))[0]
    out = [{"true": str(names[i]), "predicted": str(names[j]), "count": int(count), "share": count / supports[i]}
           for i, j, count in cells if i != j and count]
    return sorted(out, key=lambda c: (-c["count"], -c["share"]))[:k]


def weakest(rows: Sequence[Mapping[str, Any]], k: int = 5) -> list[Mapping[str, Any]]:
    """The ``k`` classes with the lowest recall (classes without images left out)."""
    scored = [r for r in rows if r["recall"] is not None]
    return sorted(scored, key=lambda r: (r["recall"], -r["support"]))[:k]


def weakest_text(rows: Sequence[Mapping[str, Any]], k: int = 3) -> str:
    """``owl 40 % (2/5), cat 75 % (3/4)``: the lowest recalls, for the terminal."""
    return ", ".join(f"{r['class']} {100 * r['recall']:.0f} % ({r['correct']}/{r['support']})"
                     for r in weakest(rows, k))


def write_per_class(by_split: Mapping[str, Sequence[Mapping[str, Any]]], directory: str | Path,
                    stem: str = "per_class") -> tuple[Path, Path]:
    """``per_class.csv`` (a row per split and class) and ``per_class.json`` (``{split: rows}``)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = directory / f"{stem}.csv", directory / f"{stem}.json"
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for split, rows in by_split.items():
            for r in rows:
                w.writerow([split] + [("" if r[c] is None else round(r[c], 6) if isinstance(r[c], float) else r[c])
                                      for c in COLUMNS[1:]])
    json_path.write_text(json.dumps({s: list(rows) for s, rows in by_split.items()}, indent=2), encoding="utf-8")
    return csv_path, json_path


def plot_confusion(cells: Cells, names: Sequence[str], path: str | Path, *,
                   title: str = "Validation confusion matrix") -> Path:
    """The confusion matrix (its non-zero ``cells``) normalised by row (each true class's images: where they
    went), in %. Above :data:`PLOT_CLASSES` classes only the rows and columns of the classes with the lowest
    recalls are drawn (said in the title)."""
    supports, _, hits = _totals(cells, len(names))
    keep = np.arange(len(names))
    if len(names) > PLOT_CLASSES:
        recall = np.where(supports > 0, hits / np.maximum(supports, 1), np.inf)
        keep = np.sort(np.argsort(recall, kind="stable")[:PLOT_CLASSES])
        title += f" ({PLOT_CLASSES} classes of {len(names)}: the lowest recalls)"
    position = {int(c): k for k, c in enumerate(keep)}
    sub = np.zeros((len(keep), len(keep)))
    for i, j, count in cells:
        if i in position and j in position:
            sub[position[i], position[j]] += count
    totals = supports[keep].astype(float)[:, None]
    share = np.divide(sub, totals, out=np.zeros_like(sub), where=totals > 0)
    labels = [str(names[int(i)]) for i in keep]
    plt = pyplot()
    side = min(11.0, 3.2 + 0.28 * len(keep))
    fig, ax = plt.subplots(figsize=(side + 1.2, side), dpi=110)
    image = ax.imshow(100 * share, cmap="Blues", vmin=0, vmax=100)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="% of the true class's images")
    ax.set_xticks(range(len(keep)), labels, rotation=90 if len(keep) > 6 else 0, fontsize=7 if len(keep) > 12 else 9)
    ax.set_yticks(range(len(keep)), labels, fontsize=7 if len(keep) > 12 else 9)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=10)
    if len(keep) <= ANNOTATE_CLASSES:
        for i in range(len(keep)):
            for j in range(len(keep)):
                if sub[i, j]:
                    ax.text(j, i, f"{int(sub[i, j])}", ha="center", va="center", fontsize=8,
                            color="white" if share[i, j] > 0.5 else "black")
    return save_figure(fig, path)


def markdown(rows: Sequence[Mapping[str, Any]], confusions: Sequence[Mapping[str, Any]], limit: int = 10) -> str:
    """The card's per-class section body: every class (up to ``limit``; above, the ``limit`` lowest recalls) and the
    most frequent confusions."""
    shown = list(rows) if len(rows) <= limit else list(weakest(rows, limit))
    head = ("| class | images | recall | precision | F1 |\n|---|---:|---:|---:|---:|\n" if len(rows) <= limit else
            f"The {limit} classes of {len(rows)} with the lowest recall:\n\n"
            "| class | images | recall | precision | F1 |\n|---|---:|---:|---:|---:|\n")
    lines = [f"| {_cell(r['class'])} | {r['support']} | {_pct(r['recall'])} | {_pct(r['precision'])} | "
             f"{_pct(r['f1'])} |" for r in shown]
    text = head + "\n".join(lines) + "\n"
    if confusions:
        text += "\nMost frequent confusions: " + "; ".join(
            f"{_cell(c['true'])} taken for {_cell(c['predicted'])} {c['count']}x ({100 * c['share']:.0f} % of "
            f"{_cell(c['true'])})" for c in confusions) + ".\n"
    return text


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _cell(name: str) -> str:
    return str(name).replace("|", "\\|")
