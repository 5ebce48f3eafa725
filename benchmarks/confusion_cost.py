"""What a validation confusion matrix costs with many classes: each epoch's (``train.metrics.confusion_cells``:
the non-zero cells from the images' pairs) against the dense ``C x C`` count it replaced (``torch.bincount`` of
``C^2`` bins, then its non-zero cells: session 55's code, reproduced below as the baseline); and the end's per-class
report (``report.classes.per_class`` + ``top_confusions`` on the cells) against the session-55 way (the cells made
a dense matrix of Python lists, per-class sums over it). The plot is left out of both.

Each arm runs in its own process on the same synthetic evaluation (``--images`` labels, half of them predicted
right, the rest at random, seeded); printed: seconds (best of ``--rounds``) and the process's peak memory growth
(``ru_maxrss`` after the arm less before it).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/confusion_cost.py [--classes 1000 10000] [--images 50000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def _baseline_epoch(predicted, labels, size):  # session 55's train.metrics.confusion_matrix + sparse_confusion
    import torch

    matrix = torch.bincount(labels.long() * size + predicted.long(), minlength=size * size).reshape(size, size)
    cells = torch.nonzero(matrix, as_tuple=False)
    counts = matrix[cells[:, 0], cells[:, 1]].reshape(-1, 1)
    return torch.cat([cells, counts], dim=1).long().tolist()


def _baseline_end(cells, names):  # session 55's dense_confusion + report.classes.per_class + top_confusions
    n = len(names)
    confusion = [[0] * n for _ in range(n)]
    for i, j, c in cells:
        confusion[i][j] += c
    rows = []
    for i, name in enumerate(names):
        support = int(sum(confusion[i]))
        predicted = int(sum(row[i] for row in confusion))
        correct = int(confusion[i][i])
        rows.append({"class": name, "support": support, "predicted": predicted, "correct": correct})
    mistakes = []
    for i, row in enumerate(confusion):
        support = sum(row)
        for j, count in enumerate(row):
            if i != j and count:
                mistakes.append((count, count / support, i, j))
    return rows, sorted(mistakes, reverse=True)[:5]


def _child(arm: str, classes: int, images: int, rounds: int) -> None:
    import torch

    from hf_quicktune.report.classes import per_class, top_confusions
    from hf_quicktune.train.metrics import confusion_cells

    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, classes, (images,), generator=gen)
    predicted = torch.where(torch.rand(images, generator=gen) < 0.5, labels,
                            torch.randint(0, classes, (images,), generator=gen))
    names = [f"class_{i}" for i in range(classes)]
    cells = confusion_cells(predicted, labels, classes)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        if arm == "epoch-baseline":
            out = _baseline_epoch(predicted, labels, classes)
        elif arm == "epoch":
            out = confusion_cells(predicted, labels, classes)
        elif arm == "end-baseline":
            out = _baseline_end(cells, names)
        else:
            out = (per_class(cells, names), top_confusions(cells, names))
        best = min(best, time.perf_counter() - start)
        del out
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024  # KiB -> MiB on Linux
    print(json.dumps({"seconds": best, "peak_mib": grown, "cells": len(cells)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--images", type=int, default=50000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]), args.images, args.rounds)
        return
    print(f"{args.images} validation images, half predicted right; best of {args.rounds}")
    for classes in args.classes:
        for stage in ("epoch", "end"):
            figures = {}
            for arm in (f"{stage}-baseline", stage):
                out = subprocess.run([sys.executable, __file__, "--child", arm, str(classes), "--images",
                                      str(args.images), "--rounds", str(args.rounds)],
                                     capture_output=True, text=True, check=True)
                figures[arm] = json.loads(out.stdout.strip().splitlines()[-1])
            old, new = figures[f"{stage}-baseline"], figures[stage]
            what = "each epoch's confusion" if stage == "epoch" else "the end's per-class report"
            print(f"{classes:6d} classes, {what:27s}: dense (baseline) {old['seconds']:8.3f} s, peak "
                  f"+{old['peak_mib']:7.0f} MiB | cells {new['seconds']:8.3f} s, peak +{new['peak_mib']:5.0f} MiB "
                  f"({new['cells']} cells)")


if __name__ == "__main__":
    main()
