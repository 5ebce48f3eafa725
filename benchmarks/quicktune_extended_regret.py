"""Normalised regret on the Quick-Tune paper's own extended meta-dataset (26 Meta-Album datasets, 24 models).

Protocol (hf-quicktune bench --preset quicktune-extended; Arango et al., ICLR 2024, §5):

* each of the 26 datasets is a tabular benchmark whose pool is its 129-213 recorded fine-tuning runs
  (one-epoch runs replay as trials that fail after epoch 1: hf_quicktune/meta/qt_extended.py);
* budget: **16 hours of recorded fine-tuning time per dataset**, the paper's budget for the extended
  version; a step costs the recorded seconds of its epochs plus the optimizer's own ask + tell time
  (CPU time of this process, torch single-threaded);
* leave-datasets-out: the datasets are split into 5 folds; every meta-learned method uses a prior
  meta-trained (hf_quicktune/bench/priors.py) on the other 4 folds only;
* >= 5 seeds per (method, dataset);
* regret as in hf_quicktune/bench/regret.py: (y_best - incumbent) / (y_best - y_worst), with y_best,
  y_worst and the incumbent (best score so far) all over every epoch of every run of that dataset (the
  paper's y_best is the best *final* accuracy, which made its regret go below 0 where runs peak early).

Prints the regret of every method at 10 / 25 / 50 / 100 % of the budget with 95 % intervals (over
datasets, each dataset's mean over its seeds: a deterministic method's seeds are one replay), mean
ranks, and how many replays ended with the optimizer exhausted (pool used up) before the budget.

    python benchmarks/quicktune_extended_regret.py --priors-only          # meta-train the 5 fold priors once
    python benchmarks/quicktune_extended_regret.py --share 0/2 &          # one process per share ...
    python benchmarks/quicktune_extended_regret.py --share 1/2 &
    python benchmarks/quicktune_extended_regret.py --summary              # tables over what has finished

Seeds run in order (every dataset at seed 0 first, then seed 1, ...), so an interrupted run still
has complete, paired seeds; ``--summary`` replays nothing and prints the tables over the datasets x
seeds that every method finished. Outputs go under ``--out`` (git-ignored ``bench-out/``); a rerun
resumes from the saved traces.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "metadatasets" / "quicktune-extended"


def main() -> int:
    from hf_quicktune.bench.presets import preset

    fields = preset("quicktune-extended")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", type=Path, default=SOURCE, help="The meta-dataset folder (Quick-Tune extended layout).")
    p.add_argument("--out", type=Path, default=ROOT / "bench-out" / "quicktune-extended")
    p.add_argument("--methods", default=",".join(fields["methods"]))
    p.add_argument("--seeds", type=int, default=fields["seeds"])
    p.add_argument("--budget-hours", type=float, default=fields["budget_seconds"] / 3600)
    p.add_argument("--folds", type=int, default=fields["folds"])
    p.add_argument("--datasets", default=None, help="Comma-separated dataset names: run only these.")
    p.add_argument("--share", default=None, help="I/K: run only every K-th dataset starting at the I-th (one "
                   "process per share; build the priors first with --priors-only so shares do not train the same one).")
    p.add_argument("--priors-only", action="store_true", help="Meta-train (or load) every fold's prior and exit.")
    p.add_argument("--summary", action="store_true", help="Replay nothing: tables over the finished replays.")
    p.add_argument("--meta", default=None, help="JSON options of the fold priors' meta-training "
                   "(default: the shipped prior's recipe, hf_quicktune/bench/presets.py).")
    p.add_argument("--per-dataset", action="store_true", help="Also print each dataset's regret at 100 %% of the "
                   "budget per method (mean over seeds) and the largest share of the budget spent on one trial.")
    p.add_argument("--options", default="{}", help='JSON {method: {kwarg: value}} for the gray-box optimizers.')
    args = p.parse_args()

    import torch

    from hf_quicktune.bench.runner import BenchConfig, dataset_folds, run_bench
    from hf_quicktune.meta import import_meta_dataset, load_meta_dataset

    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    parquet = args.out.parent / "quicktune-extended.parquet"
    if not parquet.exists():
        import_meta_dataset(args.source).save(parquet)
    md = load_meta_dataset(parquet)
    meta = json.loads(args.meta) if args.meta else dict(fields.get("meta_train", {}))
    folds = dataset_folds(md.dataset_names, args.folds)
    if args.priors_only:
        from hf_quicktune.bench.priors import fold_prior
        from hf_quicktune.bench.runner import bench_space

        space = bench_space(fields["space"], md)
        for f, held in enumerate(folds):
            train = md.subset([d for d in md.dataset_names if d not in held])
            prior = fold_prior(train, held, args.out / "priors" / f"fold{f}", space=space, **meta)
            print(f"fold {f}: held out {held}; best step {prior.provenance.get('best_step')}, val MSE "
                  f"{prior.provenance.get('val_mse')}")
        return 0
    targets = list(md.dataset_names)
    if args.datasets:
        wanted = set(args.datasets.split(","))
        targets = [d for d in targets if d in wanted]
        if not targets:
            p.error(f"--datasets {args.datasets!r} names none of: {', '.join(md.dataset_names)}")
    if args.share:
        i, k = (int(x) for x in args.share.split("/"))
        targets = targets[i::k]
    methods = [m for m in args.methods.split(",") if m]

    def config(seeds: int, datasets: list[str]) -> BenchConfig:
        return BenchConfig(methods=methods, seeds=seeds, budget_seconds=args.budget_hours * 3600, folds=args.folds,
                           datasets=datasets, meta_train=meta, method_options=json.loads(args.options),
                           space=fields["space"])

    if args.summary:
        res = summarise_finished(md, config, targets, methods, args.seeds, args.out)
        if res is None:
            print("no (dataset, seed) has finished replays of every method yet")
            return 1
    else:
        start = time.time()
        for s in range(1, args.seeds + 1):  # seed-major: every dataset at seed s-1 before the next seed
            res = run_bench(md, config(s, targets), args.out)
            print(f"[{time.time() - start:.0f}s] seeds 0..{s - 1} done on {len(targets)} datasets", flush=True)
    report(res, args)
    return 0


def summarise_finished(md, config, targets, methods, seeds, out):
    """Tables over the largest block of datasets x seeds 0..S-1 that every method has finished."""
    from hf_quicktune.bench.regret import is_degenerate, reference_values
    from hf_quicktune.bench.runner import dataset_budget, make_task, summarise

    def done(d: str, s: int) -> bool:
        return all((out / "traces" / m / f"{d}__seed{s}.json").exists() for m in methods)

    best_block: tuple[int, list[str]] = (0, [])
    for s in range(1, seeds + 1):
        ds = [d for d in targets if all(done(d, j) for j in range(s))]
        if len(ds) * s > len(best_block[1]) * best_block[0]:
            best_block = (s, ds)
    s, ds = best_block
    if not ds:
        return None
    cfg = config(s, ds)
    budgets, refs, notes, kept = {}, {}, [], []
    for d in ds:
        _, curves, costs = make_task(md, d)
        refs[d] = reference_values(curves)
        if is_degenerate(*refs[d]):
            notes.append(f"{d} skipped: best = worst")
            continue
        budgets[d] = dataset_budget(curves, costs, cfg)
        kept.append(d)
    notes.append(f"finished so far: {len(kept)} of {len(targets)} datasets x seeds 0..{s - 1} for every method")
    return summarise(out, md, methods, kept, cfg, budgets, refs, notes)


def report(res, args) -> None:
    import pandas as pd

    from hf_quicktune.bench.regret import paired_text

    per_run = pd.read_csv(res.out / "per_run.csv")
    n_d, n_s = per_run.dataset.nunique(), per_run.seed.nunique()
    print(f"== Quick-Tune extended: {n_d} datasets x {n_s} seeds, budget {args.budget_hours:g} h of recorded "
          f"fine-tuning time per dataset, {args.folds} leave-datasets-out folds")
    print("normalised regret at 10/25/50/100 % of the budget: mean [95 % interval over datasets, each dataset's "
          "mean over its seeds]; exhausted = replays that "
          "used up the pool before the budget")
    rows = []
    for _, r in res.checkpoints.iterrows():
        row = {"method": r["method"]}
        for cp in (0.1, 0.25, 0.5, 1.0):
            m, h = r[f"regret@{cp:g}"], r[f"ci95@{cp:g}"]
            row[f"{int(cp * 100)} %"] = f"{m:.3f} [{m - h:.3f}, {m + h:.3f}]"
        row["exhausted"] = f"{int(r['exhausted'])}/{int(r['replays'])}"
        row["s/step"] = f"{r['overhead_per_step_s']:.4f}"
        rows.append(row)
    print(pd.DataFrame(rows).to_string(index=False))
    print("\nmean rank per checkpoint (1 = best; per dataset x seed, ties averaged):\n" + res.ranks.round(2).to_string())
    print(paired_text(per_run, list(res.checkpoints["method"])))
    print("\nper replay (mean): distinct trials started, suggestions told\n"
          + per_run.groupby("method")[["trials", "steps"]].mean().round(0).to_string())
    for note in res.notes:
        print("note:", note)
    if getattr(args, "per_dataset", False):
        mean = per_run.groupby(["dataset", "method"])[["regret@1", "top_trial_share"]].mean()
        cells = mean.apply(lambda r: f"{r['regret@1']:.3f} ({r['top_trial_share']:.0%})", axis=1).unstack("method")
        print("\nper dataset: regret at 100 % of the budget (largest share of the budget spent on one trial), "
              "mean over seeds\n" + cells.to_string())


if __name__ == "__main__":
    sys.exit(main())
