"""A run option on and off in real searches, side by side: regret against wall-clock (issue 17, items 4 and 5).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/run_ablation.py --flag score-features [--datasets
        builtin:digits,variant:digits-fewshot --seeds 3 --budget 2m]
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/run_ablation.py --flag estimate-cost --prior default

Each (dataset, seed) runs ``hf-quicktune run --zoo offline --image-size 32 --train-limit 128 --eval-limit 128
--prior P --budget B`` twice, with ``--FLAG`` and ``--no-FLAG``, in alternating order so machine load hits both
arms alike (128 images per epoch and per evaluation: a 2-minute budget buys enough epochs for a search of a
dozen trials or more, run/schedule.py; with 256 + the full validation set digits got 2-3 trials). The runs' summaries say whether
they searched; the script prints each run's trial count.

* ``--flag score-features`` (item 4, zero-cost scores as model features of the surrogate; off by default since
  this ablation measured no gain): with ``--prior none`` (the default here), the surrogate's model features are
  the pool's own (``search_setup.model_features``: descriptors, plus LFC/LogME/kNN with the flag on); with a prior they are the prior's, which has no scores, so
  this is the only place the scores can matter.
* ``--flag estimate-cost`` (item 5): timed training steps as the optimizer's cost prior, or not.

Regret per dataset as in hf_quicktune/bench/regret.py: y_best and y_worst over every epoch of every
run of that dataset (both arms, all seeds), the incumbent is the best validation top-1 seen by wall-clock
time t (``steps.jsonl``: ``elapsed_s``, ``score``; 1 before the first epoch). Prints mean regret at
10/25/50/100 % of the budget per arm (over datasets x seeds) with the number of runs, and the mean
validation top-1 of the exported models. ``variant:NAME`` datasets are written by benchmarks/rank_variants.py.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
CLI = [str(ROOT / ".venv/bin/hf-quicktune")]


def parse_seconds(budget: str) -> float:
    from hf_quicktune.run.settings import parse_budget

    return float(parse_budget(budget))


def run_arm(dataset: str, seed: int, arm: str, budget: str, out: Path, prior: str, train_limit: int,
            eval_limit: int) -> dict:
    args = ["run", "--dataset", dataset, "--zoo", "offline", "--image-size", "32", "--budget", budget,
            "--train-limit", str(train_limit), "--eval-limit", str(eval_limit), "--seed", str(seed), f"--{arm}",
            "--output-dir", str(out), "--json"]
    if prior != "default":
        args += ["--prior", prior]
    proc = subprocess.run(CLI + args, capture_output=True, text=True, env=os.environ.copy())
    if proc.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout[proc.stdout.index("{"):])
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    points = [(float(s["elapsed_s"]), float(s["score"])) for s in steps
              if s.get("status", "ok") == "ok" and s.get("score") is not None]
    return {"points": points, "val_top1": summary.get("val_top1"), "trials": summary.get("trials")}


def incumbent_at(points: list[tuple[float, float]], t: float) -> float | None:
    seen = [score for when, score in points if when <= t]
    return max(seen) if seen else None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="builtin:digits,variant:digits-fewshot")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--budget", default="2m")
    p.add_argument("--flag", default="score-features", help="a run option with a --no- form")
    p.add_argument("--prior", default="none", help="--prior of every run ('default': the shipped one)")
    p.add_argument("--train-limit", type=int, default=128,
                   help="training images per epoch: small enough that the budget is searched (run/schedule.py)")
    p.add_argument("--eval-limit", type=int, default=128, help="validation images per evaluation")
    args = p.parse_args()
    arms = (args.flag, f"no-{args.flag}")
    from hf_quicktune.bench.regret import CHECKPOINTS, normalised_regret

    budget_s = parse_seconds(args.budget)
    results: dict[str, dict[int, dict[str, dict]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for dataset in args.datasets.split(","):
            path = dataset
            if dataset.startswith("variant:"):
                from rank_variants import build_variant

                path = build_variant(dataset.split(":", 1)[1], tmp)
            results[dataset] = {}
            for seed in range(args.seeds):
                order = arms if seed % 2 == 0 else arms[::-1]
                results[dataset][seed] = {arm: run_arm(path, seed, arm, args.budget,
                                                       tmp / f"{dataset.replace(':', '_')}-{seed}-{arm}", args.prior,
                                                       args.train_limit, args.eval_limit)
                                          for arm in order}
                print(dataset, seed, {arm: (r["val_top1"], r["trials"]) for arm, r in results[dataset][seed].items()},
                      flush=True)

    regret: dict[str, list] = {arm: [] for arm in arms}
    final: dict[str, list] = {arm: [] for arm in arms}
    for dataset, by_seed in results.items():
        scores = [s for runs in by_seed.values() for r in runs.values() for _, s in r["points"]]
        best, worst = max(scores), min(scores)
        if best == worst:
            print(f"{dataset}: every epoch scored {best}: regret undefined, skipped")
            continue
        for runs in by_seed.values():
            for arm, r in runs.items():
                inc = [incumbent_at(r["points"], f * budget_s) for f in CHECKPOINTS]
                inc_arr = np.array([worst if v is None else v for v in inc], dtype=float)
                reg = normalised_regret(inc_arr, best, worst)
                reg = np.where([v is None for v in inc], 1.0, reg)
                regret[arm].append(reg)
                final[arm].append(r["val_top1"])
    print(f"\n{args.datasets} x {args.seeds} seeds, budget {args.budget}, --prior {args.prior}: mean normalised regret "
          "(wall-clock fractions of the budget)")
    print(f"{'arm':<20}" + "".join(f"{int(100 * f):>8d}%" for f in CHECKPOINTS) + "   n   exported val top-1 (mean)")
    for arm in arms:
        m = np.mean(regret[arm], axis=0)
        vals = [v for v in final[arm] if v is not None]
        print(f"{arm:<20}" + "".join(f"{v:>9.4f}" for v in m) + f"{len(regret[arm]):>4}   "
              f"{100 * np.mean(vals):.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
