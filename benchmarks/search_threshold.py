"""How large must a budget be before a search beats training one configuration? Replayed on the Quick-Tune extended
meta-dataset's real curves.

A run whose budget is small trains one configuration instead of searching (``run/schedule.fit_max_epochs``). This
script measures where a search starts to pay, in the unit the decision can be made in: **full runs** (a dataset's
median seconds of one 50-epoch run, ``bench.runner.full_run_seconds``). Per dataset it replays the run's recipe
(``quicktune-recipe``: the fold's prior meta-trained without the dataset's fold, zero-shot start, learnt
``initial_epochs``; as ``quicktune_extended_regret.py``) for ``max(--runs)`` full runs and reads its incumbent (the
best validation accuracy observed at any epoch) after each budget of ``--runs``; beside it, one configuration
trained for one full run (its best epoch, what the export keeps): the recipe's own first choice (the prior's
zero-shot pick) and the no-prior optimizer's first choice (``dyhpo``: a seeded random pool member; the product's
robust default is not in a replayed pool). Printed per budget: the mean normalised regret ((y_best - y) / (y_best - y_worst), over every epoch
of every run of the dataset) of the search and of the two single configurations, and on how many datasets the
search is below each.

In a run the searched schedule is half the budget, at most 50 epochs (``BUDGET_SHARE``): from 2 full runs up, the
replay's 50-epoch schedule is the run's, so the budgets of 2 full runs and more are read as the run would search.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/search_threshold.py [--runs 1,2,3,4,6,8,10] [--seed 0]
        [--datasets A,B]

Needs the converted meta-dataset (bench-out/quicktune-extended.parquet, converted from ../shared when missing) and
reads or builds the fold priors under bench-out/quicktune-extended/priors.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from extended_tasks import OUT


def incumbent_at(trace, seconds: float) -> float:
    """The best accuracy the replay had observed by ``seconds`` of its clock (-inf before any)."""
    best = float("-inf")
    for t, value in zip(trace.time, trace.incumbent, strict=True):
        if t > seconds:
            break
        best = value
    return best


def first_choice(factory, task, seed: int) -> int:
    """The trial a fresh optimizer asks for first."""
    suggestion = factory(task, seed).ask()
    if suggestion is None:
        raise RuntimeError(f"{task.dataset}: the optimizer suggests nothing")
    return int(suggestion.trial_id)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default="1,2,3,4,6,8,10", help="budgets in full runs")
    p.add_argument("--datasets", default=None, help="comma-separated dataset names (default: all 26)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args()

    from extended_tasks import ExtendedTasks

    from hf_quicktune.bench.methods import METHODS
    from hf_quicktune.bench.regret import is_degenerate, reference_values
    from hf_quicktune.bench.replay import replay
    from hf_quicktune.bench.runner import full_run_seconds

    extended = ExtendedTasks(args.out)
    runs = sorted(float(r) for r in args.runs.split(","))
    targets = args.datasets.split(",") if args.datasets else extended.md.dataset_names
    rows = []
    for dataset in targets:
        t0 = time.perf_counter()
        task, curves, costs = extended.task(dataset)
        best, worst = reference_values(curves)
        if is_degenerate(best, worst):
            print(f"# {dataset}: skipped, its best accuracy equals its worst ({best})", file=sys.stderr)
            continue
        unit = full_run_seconds(curves, costs)

        def regret(value: float, best: float = best, worst: float = worst) -> float:
            return float((best - value) / (best - worst))

        def single(tid: int, curves: np.ndarray = curves, worst: float = worst) -> float:
            row = curves[tid]
            return regret(float(np.nanmax(row)) if np.isfinite(row).any() else worst)

        zero_shot = first_choice(METHODS["quicktune-recipe"], task, args.seed)
        drawn = first_choice(METHODS["dyhpo"], task, args.seed)
        trace = replay(METHODS["quicktune-recipe"](task, args.seed), curves, costs, max(runs) * unit)
        row = {"dataset": dataset, "full_run_s": round(unit, 1), "zero_shot": single(zero_shot),
               "random": single(drawn), "trials": trace.trials, "stop": trace.stop,
               "search": {str(k): regret(incumbent_at(trace, k * unit)) for k in runs}}
        rows.append(row)
        print(json.dumps(row), flush=True)
        print(f"# {dataset}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)

    zs = np.array([r["zero_shot"] for r in rows])
    drawn = np.array([r["random"] for r in rows])
    print(f"\n{len(rows)} datasets, seed {args.seed}; one configuration trained one full run: the prior's zero-shot "
          f"pick regret {zs.mean():.4f}, a random pool member (dyhpo's first) {drawn.mean():.4f}")
    print(f"{'full runs':>9} {'search':>8} {'zero-shot':>10} {'random':>8}  search below zero-shot / random "
          "(datasets)")
    for k in runs:
        s = np.array([r["search"][str(k)] for r in rows])
        s = np.where(np.isfinite(s), s, 1.0)  # nothing observed yet: the worst
        print(f"{k:>9g} {s.mean():>8.4f} {zs.mean():>10.4f} {drawn.mean():>8.4f}  "
              f"{int((s < zs - 1e-12).sum())} / {int((s < drawn - 1e-12).sum())} of {len(rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
