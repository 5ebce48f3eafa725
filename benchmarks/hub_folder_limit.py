"""What a Hub dataset stored as an image folder (``train/CLASS/*.png``, read by datasets' imagefolder) costs to load
with and without ``--train-limit`` / ``--eval-limit``, in requests to the Hub: against the project's local Hub
(tests/hubserver, on loopback, where a request costs about a millisecond; the real Hub's round trip is tens of
milliseconds, so the count is what the real load pays for besides the bytes).

``--images`` PNGs (``--side`` px) in 10 class folders of train/, a tenth of that in validation/, pushed in one
commit. Each arm loads in its own process with empty caches (``HF_HOME``, ``HF_QUICKTUNE_CACHE``); printed per arm:
seconds of ``load()``, the Hub's requests by kind (file downloads, listings and the other API calls), the images
read. ``--baseline REV`` runs the same arms on a git worktree of REV in the same session, alternating.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/hub_folder_limit.py [--images 20000] [--side 16]
        [--train-limit 2000] [--eval-limit 500] [--rounds 2] [--baseline REV]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from hub_limit_load import _child, _local_hub  # one arm's load, in its process; the local Hub, started

ROOT = Path(__file__).resolve().parents[1]


def _write(folder: Path, n: int, side: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", n), ("validation", max(10, n // 10))):
        for i in range(count):
            d = folder / split / f"class_{i % 10}"
            d.mkdir(parents=True, exist_ok=True)
            pixels = np.full((side, side, 3), 20 * (i % 10), np.uint8) + rng.integers(0, 60, (side, side, 3), np.uint8)
            Image.fromarray(pixels).save(d / f"{i}.png")


def _kind(method: str, path: str) -> str:
    if "/resolve/" in path:
        return "file downloads"
    if "/tree/" in path or "paths-info" in path:
        return "listings"
    return "other API calls"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--side", type=int, default=16)
    parser.add_argument("--train-limit", type=int, default=2000)
    parser.add_argument("--eval-limit", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline", help="a git revision to run the same arms on (a worktree)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, json.loads(os.environ["QT_BENCH_LIMITS"]))
        return

    work = Path(tempfile.mkdtemp(prefix="hub-folder-"))
    trees = {"this tree": ROOT}
    if args.baseline:
        base = work / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", str(base), args.baseline], cwd=ROOT, check=True,
                       capture_output=True)
        trees = {f"baseline {args.baseline}": base, "this tree": ROOT}
    hub, env = _local_hub(work)
    try:
        repo = "bench/folder"
        from huggingface_hub import HfApi

        _write(work / "upload", args.images, args.side)
        HfApi().create_repo(repo, repo_type="dataset")
        HfApi().upload_folder(repo_id=repo, repo_type="dataset", folder_path=work / "upload")
        print(f"{args.images} train + {max(10, args.images // 10)} validation PNGs of {args.side} px in class folders "
              f"(one commit); limits: --train-limit {args.train_limit} --eval-limit {args.eval_limit}")
        arms = {"whole dataset": {}, "with the limits": {"train_limit": args.train_limit,
                                                         "eval_limit": args.eval_limit}}
        for r in range(args.rounds):
            for tree_name, tree in trees.items():
                for name, limits in arms.items():
                    home = work / f"home-{r}-{len(tree_name)}-{len(name)}"
                    before = len(hub.requests)
                    out = subprocess.run(
                        [sys.executable, __file__, "--child", repo],  # this tree's script, the tree's package
                        env={**env, "HF_HOME": str(home), "HF_QUICKTUNE_CACHE": str(home / "qt"),
                             "QT_BENCH_LIMITS": json.dumps(limits), "PYTHONPATH": str(tree)},
                        capture_output=True, text=True, check=True, cwd=tree)
                    result = json.loads(out.stdout.strip().splitlines()[-1])
                    kinds = collections.Counter(_kind(m, p) for m, p, _ in hub.requests[before:])
                    print(f"round {r + 1} {tree_name:20s} {name:16s} load {result['seconds']:6.2f} s, "
                          f"{sum(kinds.values()):5d} requests ({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))}), "
                          f"images read {result['images']}")
    finally:
        hub.stop()
        if args.baseline:
            subprocess.run(["git", "worktree", "remove", "--force", str(work / "baseline")], cwd=ROOT,
                           capture_output=True)
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
