"""How well do the zero-training scores predict fine-tuned accuracy? Kendall τ side by side.

For each dataset: rank every candidate of the zoo with every score (one forward pass; LGC one
gradient pass), then fine-tune every candidate briefly with ONE fixed configuration through the
train engine (``hf_quicktune.train.Trial``) and take its validation top-1 after the last epoch.
Reports, per dataset and averaged, Kendall τ and weighted τ (``scipy.stats.weightedtau``,
hyperbolic weights that emphasise the top of the ranking, as in the LogME/SFDA benchmarks)
between each score and the fine-tuned accuracy. With few candidates τ is coarse (4 candidates:
steps of 1/3); add candidates with ``--extra scratch:resnet18,...``.

    python benchmarks/rank_quality.py                                 # offline zoo, digits + mnist5k
    python benchmarks/rank_quality.py --epochs 3 --train-limit 1000 --json quality.json
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time

FIXED_CONFIG = {"lr": 1e-3, "opt": "adamw", "batch_size": 32, "weight_decay": 1e-4, "sched": "cosine"}


def taus(score: dict[str, float], acc: dict[str, float]) -> tuple[float, float, int]:
    """(Kendall τ, weighted τ, candidates used) over candidates where the score is defined."""
    from scipy.stats import kendalltau, weightedtau

    names = [c for c in acc if score.get(c) is not None and not math.isnan(score[c])]
    if len(names) < 3:
        return math.nan, math.nan, len(names)
    x = [score[c] for c in names]
    y = [acc[c] for c in names]
    return float(kendalltau(x, y).statistic), float(weightedtau(x, y).statistic), len(names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="builtin:digits,builtin:mnist5k")
    parser.add_argument("--zoo", default="offline")
    parser.add_argument("--extra", default="", help="extra candidate names, comma-separated (e.g. scratch:resnet18)")
    parser.add_argument("--scores", default="lfc,lgc,logme,knn,leep,nce")
    parser.add_argument("--n", type=int, default=500, help="images sampled for the scores")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-limit", type=int, default=600, help="training images per epoch (CPU budget)")
    parser.add_argument("--eval-limit", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", dest="json_path", default=None, help="also write all numbers here")
    args = parser.parse_args()

    from hf_quicktune.data import load
    from hf_quicktune.rank import parse_scores, rank
    from hf_quicktune.train import Trial
    from hf_quicktune.zoo import get_candidate, load_zoo

    scores = parse_scores(args.scores)
    cands = load_zoo(args.zoo) + [get_candidate(c) for c in args.extra.split(",") if c.strip()]
    print(f"zoo {args.zoo} ({len(cands)} candidates), scores {', '.join(scores)}, n={args.n}, "
          f"{args.image_size}px; fine-tuning {args.epochs} epochs x {args.train_limit} images, config {FIXED_CONFIG}")
    report: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="rank-quality-") as tmp:
        for spec in [s.strip() for s in args.datasets.split(",") if s.strip()]:
            data = load(spec, seed=args.seed)
            start = time.perf_counter()
            result = rank(data, cands, scores=scores, n=args.n, image_size=args.image_size, seed=args.seed)
            rank_s = time.perf_counter() - start
            acc: dict[str, float] = {}
            train_s: dict[str, float] = {}
            for cand in cands:
                if cand.name not in result.table:
                    continue
                start = time.perf_counter()
                trial = Trial(f"{tmp}/{data.name.replace(':', '_')}/{cand.name.replace(':', '_')}", cand,
                              dict(FIXED_CONFIG, model=cand.name), data, max_epochs=args.epochs,
                              image_size=args.image_size, train_limit=args.train_limit,
                              eval_limit=args.eval_limit, seed=args.seed)
                records = trial.advance(args.epochs)
                train_s[cand.name] = time.perf_counter() - start
                last = records[-1] if records else None
                acc[cand.name] = float(last.val_top1) if last is not None and last.ok else math.nan
                print(f"  {data.name} {cand.name}: val top-1 {acc[cand.name]:.3f} "
                      f"({len(records)} epochs, {train_s[cand.name]:.0f}s)", flush=True)
            valid = {c: a for c, a in acc.items() if not math.isnan(a)}
            per_score = {s: taus({c: result.table[c][s] for c in valid}, valid) for s in [*scores, "ensemble"]}
            report[data.name] = {"accuracy": acc, "table": result.to_dict()["table"], "taus": per_score,
                                 "rank_seconds": rank_s, "train_seconds": train_s}
            print(f"\n{data.name}: ranking took {rank_s:.0f}s, fine-tuning {sum(train_s.values()):.0f}s")
            cols = [*scores, "ensemble"]
            print(f"{'candidate':32s} {'val top-1':>9s} " + " ".join(f"{c:>9s}" for c in cols))
            for c in sorted(acc, key=lambda k: -acc[k] if not math.isnan(acc[k]) else math.inf):
                row = result.table[c]
                print(f"{c:32s} {acc[c]:9.3f} " + " ".join(f"{row[s]:9.4f}" for s in cols))
            print()

    cols = [*scores, "ensemble"]
    print("Kendall τ / weighted τ between score and fine-tuned accuracy (n/a: fewer than 3 candidates have it)")
    header = f"{'dataset':20s} " + " ".join(f"{c:>15s}" for c in cols)
    print(header)
    print("-" * len(header))

    def cell(t):
        return f"{'n/a':>15s}" if math.isnan(t[0]) else f"{t[0]:+6.2f} / {t[1]:+6.2f}"

    for name, rep in report.items():
        print(f"{name:20s} " + " ".join(cell(rep["taus"][c]) for c in cols))
    means = {}
    for c in cols:
        vals = [rep["taus"][c] for rep in report.values() if not math.isnan(rep["taus"][c][0])]
        means[c] = (sum(v[0] for v in vals) / len(vals), sum(v[1] for v in vals) / len(vals)) if vals else (math.nan, math.nan)
    print(f"{'mean':20s} " + " ".join(cell(means[c]) for c in cols))
    if args.json_path:
        with open(args.json_path, "w") as fh:
            json.dump({"args": vars(args), "config": FIXED_CONFIG, "datasets": report,
                       "mean_taus": means}, fh, indent=2, default=lambda v: None)
        print(f"wrote {args.json_path}")


if __name__ == "__main__":
    main()
