"""Normalised regret of every optimizer on the shared LCBench table (34 tasks x 1,000 configs x 52 epochs).

Protocol (hf-quicktune bench): each task is a tabular benchmark whose pool is its 1,000 runs; a
step costs the recorded seconds of that epoch plus the optimizer's measured overhead; the budget
per task is ``--budget-runs`` (20) x the median seconds of one full 52-epoch run of that task.
Quick-Tune uses a prior meta-trained without the target's fold of tasks (5 folds).
Prints the regret of every method at 10 / 25 / 50 / 100 % of the budget.

    python benchmarks/lcbench_regret.py                 # the full protocol (all tasks, 5 seeds, every method)
    python benchmarks/lcbench_regret.py --gray-box-subset 5 --gray-box-seeds 1 --max-wall 480
        # affordable on a shared 2-core machine: model-free methods and Optuna on every task x 5 seeds;
        # quicktune / dyhpo (and, paired, every method) on the first task of each fold with 1 seed,
        # each replay capped at --max-wall real seconds (later checkpoints then report n < tasks)

Outputs go under ``bench-out/`` (git-ignored); a rerun resumes from the saved traces.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LCBENCH = ROOT.parent / "shared" / "benchmarks" / "lcbench"
MODEL_FREE = ["random", "sh", "asha", "hyperband", "optuna-tpe-hyperband", "optuna-random-median", "rank-then-tune"]
GRAY_BOX = ["quicktune", "dyhpo"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "bench-out")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--budget-runs", type=float, default=20.0)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--meta-steps", type=int, default=1000)
    p.add_argument("--gray-box-subset", type=int, default=0,
                   help="Run quicktune/dyhpo only on the first task of this many folds (0 = all tasks).")
    p.add_argument("--gray-box-seeds", type=int, default=None, help="Seeds for the gray-box part (default --seeds).")
    p.add_argument("--max-wall", type=float, default=None, help="Real-seconds cap per gray-box replay.")
    args = p.parse_args()

    import pandas as pd
    import torch

    from hf_quicktune.bench.runner import BenchConfig, dataset_folds, run_bench
    from hf_quicktune.meta import import_meta_dataset, load_meta_dataset

    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    parquet = args.out / "lcbench.parquet"
    if not parquet.exists():
        import_meta_dataset(LCBENCH).save(parquet)
    md = load_meta_dataset(parquet)

    if args.gray_box_subset:
        folds = dataset_folds(md.dataset_names, args.folds)
        targets = [f[0] for f in folds[: args.gray_box_subset]]
        seeds = args.gray_box_seeds or args.seeds
        base = run_bench(md, BenchConfig(methods=MODEL_FREE, seeds=args.seeds, budget_runs=args.budget_runs,
                                         folds=args.folds), args.out / "lcbench-baselines")
        paired = run_bench(md, BenchConfig(methods=GRAY_BOX + MODEL_FREE, seeds=seeds, budget_runs=args.budget_runs,
                                           folds=args.folds, datasets=targets, meta_train={"steps": args.meta_steps},
                                           max_wall_per_replay=args.max_wall), args.out / "lcbench-graybox")
        print(f"== model-free methods and Optuna: all {len(md.dataset_names)} tasks x {args.seeds} seeds")
        print(_table(base.checkpoints, pd))
        print(f"\n== paired, every method: tasks {targets} x {seeds} seed(s)")
        print(_table(paired.checkpoints, pd))
        print("\nranks (paired run):\n" + paired.ranks.round(2).to_string())
        for note in base.notes + paired.notes:
            print("note:", note)
    else:
        res = run_bench(md, BenchConfig(methods=GRAY_BOX + MODEL_FREE, seeds=args.seeds, budget_runs=args.budget_runs,
                                        folds=args.folds, meta_train={"steps": args.meta_steps},
                                        max_wall_per_replay=args.max_wall), args.out / "lcbench-full")
        print(_table(res.checkpoints, pd))
        print("\nranks:\n" + res.ranks.round(2).to_string())
        for note in res.notes:
            print("note:", note)
    return 0


def _table(cp, pd) -> str:
    cols = ["method"] + [c for c in cp.columns if c.startswith(("regret@", "n@"))] + ["overhead_per_step_s"]
    return cp[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}")


if __name__ == "__main__":
    sys.exit(main())
