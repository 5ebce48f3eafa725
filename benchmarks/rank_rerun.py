"""The same time-limited ranking run twice (the same `run` command again, the Space's second click): the seconds
each run's ranking took and what it computed, on this tree and on a baseline tree side by side.

A run gives its ranking 15 % of the budget (`run/stages.RANK_SHARE`), and the images that limit affords follow the
timing of the first candidate, so before this tree a second run of one command usually drew another sample size
and computed every candidate's features again (session 44: 27.0 and 26.8 s of a 180-second `run`'s ranking, the
second with the first's cache). This tree reads any rows the cache holds and starts a rerun from the images the
earlier ranking kept (`rank/feature_cache.py`, `rank/timed_sample.remembered_sample`).

Each ranking runs in a fresh process (as each `run` does), the tree's package first on PYTHONPATH; per tree the
feature cache is emptied before its first run. Rounds alternate the trees.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/rank_rerun.py [--baseline 3b63de1] [--rounds 2] \
        [--dataset builtin:mnist5k] [--image-size N] [--seconds 27]

``--first-n 1000 --first-seconds 0``: the first ranking is `hf-quicktune rank`'s (1,000 images, no limit), the
second a run's (256 images within the limit): whether the run reads the features the user's `rank` computed
(a stratified sample of one seed is nested in a larger one since session 45).

Without ``--image-size`` the models rank at their own input size (224-260 px), as a run without ``--image-size``
does (session 44's ``mnist5k-own`` case); at 32 px the 256 images take ~2 s and nothing is reduced.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(args: argparse.Namespace) -> None:
    import time

    import hf_quicktune
    from hf_quicktune.data import load
    from hf_quicktune.rank import rank
    from hf_quicktune.zoo import load_zoo

    dataset, cands = load(args.dataset), load_zoo(args.zoo)
    start = time.perf_counter()
    res = rank(dataset, cands, n=args.n, image_size=args.image_size, seconds=args.seconds or None)
    wall = time.perf_counter() - start
    print(json.dumps({"wall": wall, "n": res.n, "drawn": res.info.get("sample_reduced_from", res.n),
                      "cached": sum(res.info["cached"].values()), "scored": len(res.info["cached"]),
                      "candidates": len(cands), "package": str(Path(hf_quicktune.__file__).parent)}))


def run_once(tree: Path, cache: Path, args: argparse.Namespace, n: int, seconds: float) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "HF_QUICKTUNE_CACHE": str(cache)}
    cmd = [sys.executable, __file__, "--child", "--dataset", args.dataset, "--zoo", args.zoo, "--n", str(n),
           "--seconds", str(seconds)] + ([] if args.image_size is None else ["--image-size", str(args.image_size)])
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="3b63de1", help="the commit to compare with (a git worktree of it)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dataset", default="builtin:mnist5k")
    parser.add_argument("--zoo", default="offline")
    parser.add_argument("--n", type=int, default=256, help="the images drawn (run's --rank-samples default)")
    parser.add_argument("--image-size", type=int, default=None,
                        help="the size ranked at (default: each model's own, as a run without --image-size ranks)")
    parser.add_argument("--seconds", type=float, default=27.0, help="the limit (15 %% of a 3-minute run)")
    parser.add_argument("--first-n", type=int, default=None, help="the first ranking's images (default: --n)")
    parser.add_argument("--first-seconds", type=float, default=None,
                        help="the first ranking's limit (default: --seconds; 0: none, as `hf-quicktune rank`)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    work = Path(tempfile.mkdtemp(prefix="rank-rerun-"))
    base = work / "baseline"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.baseline],
                   check=True, capture_output=True)
    cache = work / "cache"  # the builtin datasets stay; the features are emptied per tree
    trees = {"this tree": ROOT, f"baseline {args.baseline}": base}
    print(f"{args.dataset}, zoo {args.zoo}, n = {args.n}, image size {args.image_size or 'own'}, limit {args.seconds:.0f} s"
          + ("" if args.first_n is None and args.first_seconds is None else
             f" (the first: n = {args.first_n or args.n}, limit {args.first_seconds or 'none'})") + "; "
          "per run: wall seconds of rank(), images ranked of those drawn, candidates read from the cache of scored")
    try:
        for r in range(args.rounds):
            for label, tree in trees.items():
                shutil.rmtree(cache / "features", ignore_errors=True)
                first = run_once(tree, cache, args, args.n if args.first_n is None else args.first_n,
                                 args.seconds if args.first_seconds is None else args.first_seconds)
                second = run_once(tree, cache, args, args.n, args.seconds)
                assert Path(first["package"]).resolve().parent == tree.resolve(), first["package"]
                print(f"round {r + 1} {label:<20} first {first['wall']:6.1f} s, {first['n']:>3} of {first['drawn']} "
                      f"images, {first['cached']} of {first['scored']} cached | again {second['wall']:6.1f} s, "
                      f"{second['n']:>3} of {second['drawn']} images, {second['cached']} of {second['scored']} cached",
                      flush=True)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
