"""A time-limited ranking (a run's share of its budget) against its limit: FLOP-priced, cheapest first (the
ranking since session 24) vs every candidate priced like the ones done, in the zoo's order (before), side by side.

``rank(seconds=S)`` shrinks its shared sample while the forward passes run so that the candidates left fit the
limit. Before, the candidates left were priced at the wall seconds per image of the ones done and extracted in
the zoo's order, so the first candidate (whichever it was) ran on the whole sample and a cheap one done first
under-priced the expensive ones after it. Both variants run in this one process, alternating (the "before" one
by giving every candidate the same weight, which restores both its pricing and its order), feature cache off.
Prints wall seconds of the ranking, the images it ended on, and its wall over the limit; then, from one ranking
without a limit on ``--per-flop-n`` images, each candidate's GFLOPs and forward milliseconds per GFLOP and image
(how well FLOPs price its forward passes).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/rank_time_limit.py [--seconds 18] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="builtin:digits")
    parser.add_argument("--zoo", default="offline")
    parser.add_argument("--n", type=int, default=256, help="the sample a run ranks on (rank's default in a run)")
    parser.add_argument("--seconds", type=float, default=18.0, help="the limit: 15 %% of a 2-minute budget")
    parser.add_argument("--image-size", type=int, default=None, help="default: each model's own input size")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--per-flop-n", type=int, default=128, help="images of the unlimited ranking (0: skip it)")
    args = parser.parse_args()

    from hf_quicktune.data import load
    from hf_quicktune.rank import api
    from hf_quicktune.zoo import load_zoo

    dataset = load(args.dataset)
    cands = load_zoo(args.zoo)
    priced = api.forward_weights

    def equal(cs, image_size):
        return [1.0] * len(cs)

    print(f"{args.dataset}, zoo {args.zoo} ({len(cands)} candidates), n = {args.n}, "
          f"{args.image_size or 'native'} px, limit {args.seconds:.0f} s")
    print(f"{'round':>5} {'variant':<28} {'wall s':>7} {'images':>7} {'over limit':>10}")
    walls: dict[str, list[float]] = {"before": [], "FLOP-priced": []}
    for r in range(args.rounds):
        for name, weights in (("before", equal), ("FLOP-priced", priced)):
            api.forward_weights = weights
            start = time.perf_counter()
            res = api.rank(dataset, cands, n=args.n, image_size=args.image_size, cache=False, seconds=args.seconds)
            wall = time.perf_counter() - start
            walls[name].append(wall)
            label = name + ("" if name == "before" else ", cheapest first")
            print(f"{r + 1:>5} {label:<28} {wall:>7.1f} {res.n:>7} {wall / args.seconds:>9.2f}x", flush=True)
    api.forward_weights = priced
    print("medians: " + ", ".join(f"{k} {statistics.median(v):.1f} s" for k, v in walls.items()))
    if args.per_flop_n:
        res = api.rank(dataset, cands, n=args.per_flop_n, image_size=args.image_size, cache=False, scores="lfc")
        print(f"no limit, n = {res.n}: {'candidate':<32} {'GFLOPs':>7} {'forward s':>9} {'ms / GFLOP / image':>18}")
        for cand, gflops in zip(cands, priced(cands, args.image_size)):
            if cand.name in res.table:
                sec = res.table[cand.name]["feature_seconds"]
                print(f"{'':<18}{cand.name:<32} {gflops:>7.3f} {sec:>9.2f} {1000 * sec / res.n / gflops:>18.1f}")


if __name__ == "__main__":
    main()
