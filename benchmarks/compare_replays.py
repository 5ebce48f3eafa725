"""One method's regret in two bench output folders, paired by dataset: an ablation's variant against its base.

Both folders hold the ``per_run.csv`` that ``bench`` / ``quicktune_extended_regret.py --summary`` /
``lcbench_regret.py`` write. Prints each folder's mean regret at 10/25/50/100 % of the budget and the
variant minus the base per dataset (each dataset's mean over seeds): mean, 95 % interval, datasets
better/worse (hf_quicktune.bench.regret.paired_differences), then the datasets that moved most.

    python benchmarks/compare_replays.py bench-out/quicktune-extended /tmp/qte-lr3 --method quicktune-recipe
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    import pandas as pd

    from hf_quicktune.bench.regret import CHECKPOINTS, paired_text

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("base", type=Path, help="The base's bench output folder (has per_run.csv).")
    p.add_argument("variant", type=Path, help="The variant's bench output folder.")
    p.add_argument("--method", default="quicktune-recipe", help="The method compared (its name in both folders).")
    p.add_argument("--seeds", type=int, default=None, help="Use seeds 0..S-1 only (default: the seeds both have).")
    p.add_argument("--top", type=int, default=8, help="How many of the datasets that moved most to list.")
    p.add_argument("--meta-dataset", type=Path, default=None,
                   help="The replays' meta-dataset (a parquet, e.g. the one beside the folders): also print the first "
                        "trial's normalised regret (its best score over the whole recorded curve) in both folders.")
    args = p.parse_args(argv)

    frames = {}
    for label, folder in (("variant", args.variant), ("base", args.base)):
        path = folder / "per_run.csv"
        if not path.is_file():
            p.error(f"{path} does not exist: run the benchmark's --summary on {folder} first")
        runs = pd.read_csv(path)
        runs = runs[runs.method == args.method]
        if runs.empty:
            p.error(f"{path} has no runs of {args.method!r}; it has {sorted(set(pd.read_csv(path).method))}")
        frames[label] = runs.assign(method=label)
    seeds = set(frames["base"].seed) & set(frames["variant"].seed)
    if args.seeds is not None:
        seeds &= set(range(args.seeds))
    datasets = set(frames["base"].dataset) & set(frames["variant"].dataset)
    both = pd.concat(frames.values())
    both = both[both.seed.isin(seeds) & both.dataset.isin(datasets)]
    if both.empty:
        p.error("the two folders share no (dataset, seed) of that method")
    print(f"== {args.method}: {args.variant} (variant) against {args.base} (base), {len(datasets)} datasets x "
          f"{len(seeds)} seeds")
    means = both.groupby(["method", "dataset"])[[f"regret@{cp:g}" for cp in CHECKPOINTS]].mean().groupby("method").mean()
    means.columns = [f"{cp:.0%}" for cp in CHECKPOINTS]
    print("mean normalised regret (each dataset's mean over seeds, then over datasets)\n" + means.round(4).to_string())
    print(paired_text(both, ["variant", "base"]))
    moved = both.groupby(["dataset", "method"])["regret@1"].mean().unstack("method")
    moved["variant - base"] = moved["variant"] - moved["base"]
    moved = moved.reindex(moved["variant - base"].abs().sort_values(ascending=False).index)
    print(f"\nregret at 100 %, the {args.top} datasets that moved most\n" + moved.head(args.top).round(3).to_string())
    if args.meta_dataset is not None:
        first = first_trials(args.meta_dataset, {"base": args.base, "variant": args.variant}, args.method,
                             sorted(datasets), sorted(seeds))
        print("\nthe first trial's normalised regret (its best score over its whole recorded curve, normalised as the "
              "bench normalises), each dataset's mean over seeds: mean / median over datasets\n"
              + first.agg(["mean", "median"]).round(3).to_string())
        top = list(moved.head(args.top).index)
        print(f"the same for the {args.top} datasets that moved most at 100 %\n" + first.loc[top].round(3).to_string())
    return 0


def first_trials(meta_dataset: Path, folders: dict, method: str, datasets: list, seeds: list):
    """Each folder's first trial's normalised regret per dataset (mean over ``seeds``), read from its traces."""
    import json

    import numpy as np
    import pandas as pd

    from hf_quicktune.bench.regret import reference_values
    from hf_quicktune.meta.format import load_meta_dataset

    md = load_meta_dataset(meta_dataset)
    rows = {}
    for d in datasets:
        curves = md.curves[md.indices(d)]  # the replay's pool is the dataset's runs in this order
        best = np.nanmax(curves, axis=1)
        hi, lo = reference_values(curves)  # the bench's normalisation (hf_quicktune.bench.regret)
        for label, folder in folders.items():
            values = []
            for seed in seeds:
                trace = folder / "traces" / method / f"{d}__seed{seed}.json"
                visits = json.loads(trace.read_text())["visits"] if trace.is_file() else []
                if visits and hi > lo:
                    values.append((hi - best[int(visits[0][0])]) / (hi - lo))
            rows.setdefault(d, {})[label] = float(np.mean(values)) if values else float("nan")
    return pd.DataFrame.from_dict(rows, orient="index")[list(folders)]


if __name__ == "__main__":
    sys.exit(main())
