"""Zero-cost scores as model features of the surrogate: real searches with and without them (issue 17, item 4).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/zero_cost_ablation.py [--datasets builtin:digits,variant:digits-fewshot
        --seeds 3 --budget 2m]

Each (dataset, seed) runs ``hf-quicktune run --zoo offline --image-size 32 --prior none --budget B`` twice, with
``--score-features`` (the default: LFC, LogME, kNN... next to the descriptors) and ``--no-score-features``
(descriptors only), in alternating order so machine load hits both arms alike. Without a prior the
surrogate's model features are the pool's own (``search_setup.model_features``); with a prior they are
the prior's, which has no scores, so this ablation is the only place the scores can matter.

Regret per dataset as in hf_quicktune/bench/regret.py: y_best and y_worst over every epoch of every
run of that dataset (both arms, all seeds), the incumbent is the best validation top-1 seen by wall-clock
time t (``steps.jsonl``: ``elapsed_s``, ``score``; 1 before the first epoch). Prints mean regret at
10/25/50/100 % of the budget per arm (over datasets x seeds) with the number of replays, and the
exported model's validation top-1 per arm. ``variant:NAME`` datasets are written by
benchmarks/rank_variants.py.
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
ARMS = ("score-features", "no-score-features")


def parse_seconds(budget: str) -> float:
    from hf_quicktune.run.settings import parse_budget

    return float(parse_budget(budget))


def run_arm(dataset: str, seed: int, arm: str, budget: str, out: Path) -> dict:
    args = ["run", "--dataset", dataset, "--zoo", "offline", "--image-size", "32", "--prior", "none",
            "--budget", budget, "--seed", str(seed), f"--{arm}", "--output-dir", str(out), "--json"]
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
    args = p.parse_args()
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
                order = ARMS if seed % 2 == 0 else ARMS[::-1]
                results[dataset][seed] = {arm: run_arm(path, seed, arm, args.budget,
                                                       tmp / f"{dataset.replace(':', '_')}-{seed}-{arm}")
                                          for arm in order}
                print(dataset, seed, {arm: (r["val_top1"], r["trials"]) for arm, r in results[dataset][seed].items()},
                      flush=True)

    regret = {arm: [] for arm in ARMS}
    final = {arm: [] for arm in ARMS}
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
    print(f"\n{args.datasets} x {args.seeds} seeds, budget {args.budget}, --prior none: mean normalised regret "
          "(wall-clock fractions of the budget)")
    print(f"{'arm':<20}" + "".join(f"{int(100 * f):>8d}%" for f in CHECKPOINTS) + "   n   exported val top-1 (mean)")
    for arm in ARMS:
        m = np.mean(regret[arm], axis=0)
        vals = [v for v in final[arm] if v is not None]
        print(f"{arm:<20}" + "".join(f"{v:>9.4f}" for v in m) + f"{len(regret[arm]):>4}   "
              f"{100 * np.mean(vals):.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
