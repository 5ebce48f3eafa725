"""Normalised regret of every optimizer on the shared LCBench table (34 tasks x 1,000 configs x 52 epochs).

Protocol (hf-quicktune bench): each task is a tabular benchmark whose pool is its 1,000 runs; a
step costs the recorded seconds of that epoch plus the optimizer's measured overhead (CPU time of
this process, torch single-threaded); the budget per task is ``--budget-runs`` (20) x the median
seconds of one full 52-epoch run of that task. Quick-Tune uses a prior meta-trained without the
target's fold of tasks (5 folds); configurations are encoded with the shipped ``lcbench`` space.
Prints the regret of every method at 10 / 25 / 50 / 100 % of the budget (regret as defined in
hf_quicktune/bench/regret.py: best score so far against the best and worst value over all epochs),
how many replays ended with the optimizer exhausted before the budget was spent, and the rank table.

``quicktune-init5`` / ``dyhpo-init5`` train a new trial 5 epochs before comparing it (epoch 1 of
this table is close to the untrained network). 5 was picked from {3, 5} on the 7 tasks of fold 0
(3 seeds), so ``--folds-only 1,2,3,4`` prints the tables on the 27 tasks that played no part in it.

    python benchmarks/lcbench_regret.py                       # the full protocol: all tasks, 5 seeds, every method
    python benchmarks/lcbench_regret.py --methods quicktune,dyhpo --folds-only 0,1,2 --seeds 1   # a share of
        # the work (e.g. one process per core); replays already in --out are reused, so run the shares
        # side by side, then once more without --folds-only to print the tables over everything

Outputs go under ``--out`` (git-ignored ``bench-out/lcbench``); a rerun resumes from the saved traces.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LCBENCH = ROOT.parent / "shared" / "benchmarks" / "lcbench"
ALL = ["quicktune", "quicktune-no-cost", "quicktune-init5", "dyhpo", "dyhpo-init5", "random", "sh", "asha", "hyperband", "optuna-tpe-hyperband", "optuna-random-median",
       "dehb", "syne-tune-asha", "syne-tune-bohb", "rank-then-tune"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "bench-out" / "lcbench")
    p.add_argument("--methods", default=",".join(ALL))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--budget-runs", type=float, default=20.0)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--folds-only", default=None, help="Comma-separated fold indices: run only their target tasks.")
    p.add_argument("--tasks", default=None, help="Comma-separated task names (e.g. lcbench_3945): run only these.")
    p.add_argument("--share", default=None, help="I/K: run only every K-th task starting at the I-th (one process "
                   "per share; build the priors first with --priors-only so shares do not train the same prior).")
    p.add_argument("--priors-only", action="store_true", help="Meta-train (or load) every fold's prior and exit.")
    p.add_argument("--meta", default='{"steps": 2000}', help="JSON options of the fold priors' meta-training.")
    p.add_argument("--options", default="{}", help='JSON {method: {kwarg: value}} for the gray-box optimizers.')
    p.add_argument("--max-wall", type=float, default=None, help="Real-seconds cap per replay (NaN past it).")
    args = p.parse_args()

    import torch

    from hf_quicktune.bench.runner import BenchConfig, dataset_folds, run_bench
    from hf_quicktune.meta import import_meta_dataset, load_meta_dataset

    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    parquet = args.out.parent / "lcbench.parquet"
    if not parquet.exists():
        import_meta_dataset(LCBENCH).save(parquet)
    md = load_meta_dataset(parquet)
    folds = dataset_folds(md.dataset_names, args.folds)
    if args.priors_only:
        from hf_quicktune.bench.priors import fold_prior
        from hf_quicktune.bench.runner import load_space

        for f, held in enumerate(folds):
            train = md.subset([d for d in md.dataset_names if d not in held])
            prior = fold_prior(train, held, args.out / "priors" / f"fold{f}", space=load_space("lcbench"),
                               **json.loads(args.meta))
            print(f"fold {f}: held out {held}; best step {prior.provenance.get('best_step')}, val MSE "
                  f"{prior.provenance.get('val_mse'):.5f}, test MSE {prior.provenance.get('test_mse')}")
        return 0
    targets = None
    if args.folds_only:
        targets = [d for i in args.folds_only.split(",") for d in folds[int(i)]]
    if args.tasks:
        wanted = set(args.tasks.split(","))
        targets = [d for d in (targets or md.dataset_names) if d in wanted]
        if not targets:
            p.error(f"--tasks {args.tasks!r} names none of the table's tasks: {', '.join(md.dataset_names)}")
    if args.share:
        i, k = (int(x) for x in args.share.split("/"))
        targets = (targets or md.dataset_names)[i::k]
    cfg = BenchConfig(methods=[m for m in args.methods.split(",") if m], seeds=args.seeds,
                      budget_runs=args.budget_runs, folds=args.folds, datasets=targets,
                      meta_train=json.loads(args.meta), method_options=json.loads(args.options),
                      max_wall_per_replay=args.max_wall, space="lcbench")
    res = run_bench(md, cfg, args.out)
    n = len(targets or md.dataset_names)
    print(f"== {n} tasks x {args.seeds} seeds, budget {args.budget_runs:g} full runs; regret (mean, 95 % CI half-width over tasks, each task's mean over its seeds)")
    print(_table(res.checkpoints))
    print("\nranks (mean rank per checkpoint, 1 = best):\n" + res.ranks.round(2).to_string())
    import pandas as pd

    from hf_quicktune.bench.regret import paired_text

    per_run = pd.read_csv(res.out / "per_run.csv")
    print(paired_text(per_run, list(res.checkpoints["method"])))
    print("\nper replay (mean): distinct trials started, suggestions told (one per epoch for the 1-epoch methods)\n"
          + per_run.groupby("method")[["trials", "steps"]].mean().round(0).to_string())
    for note in res.notes:
        print("note:", note)
    return 0


def _table(cp) -> str:
    cols = ["method"] + [c for c in cp.columns if c.startswith(("regret@", "ci95@", "n@"))] + [
        "overhead_per_step_s", "exhausted", "replays"]
    return cp[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}")


if __name__ == "__main__":
    sys.exit(main())
