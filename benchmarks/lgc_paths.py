"""LGC's exact kernel (the tail layers' inputs and output gradients) against its count-sketched per-sample gradients.

The same ranking (``hf_quicktune.rank.rank``, score ``lgc`` only) twice in one process: ``exact`` (the default since
session 47) and ``sketch`` (``rank.scores.lgc.EXACT_MAX_FLOATS = 0``: the sketched per-sample gradients, the only path
before). Printed per candidate: the LGC value and the seconds of the score in each arm (the features are computed
once and cached, so only the score differs).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/lgc_paths.py [--dataset builtin:digits] [--zoo offline] [--n 200]
        [--image-size 32]
"""

from __future__ import annotations

import argparse


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="builtin:digits")
    p.add_argument("--zoo", default="offline")
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--image-size", type=int, default=32, help="0: each model's own size")
    args = p.parse_args()

    from hf_quicktune.data import load
    from hf_quicktune.rank import rank
    from hf_quicktune.rank.scores import lgc as lgc_module
    from hf_quicktune.zoo import load_zoo

    data = load(args.dataset)
    cands = load_zoo(args.zoo)
    size = args.image_size or None
    limit = lgc_module.EXACT_MAX_FLOATS
    results = {}
    for arm, floats in (("exact", limit), ("sketch", 0)):
        lgc_module.EXACT_MAX_FLOATS = floats
        res = rank(data, cands, scores="lgc", n=args.n, image_size=size)
        results[arm] = {name: (row["lgc"], res.info["score_seconds"][name]["lgc"]) for name, row in res.table.items()
                        if name in res.info["score_seconds"]}
    lgc_module.EXACT_MAX_FLOATS = limit
    print(f"{args.dataset}, zoo {args.zoo}, n = {args.n}, image size {size or 'each model own'}")
    print(f"{'candidate':<32} {'lgc exact':>10} {'seconds':>8} {'lgc sketch':>11} {'seconds':>8}")
    for name, (value, seconds) in results["exact"].items():
        other, other_s = results["sketch"].get(name, (float("nan"), float("nan")))
        print(f"{name:<32} {value:>10.4f} {seconds:>8.2f} {other:>11.4f} {other_s:>8.2f}")
    total = [sum(s for _, s in results[a].values()) for a in ("exact", "sketch")]
    print(f"{'total seconds':<32} {'':>10} {total[0]:>8.2f} {'':>11} {total[1]:>8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
