"""What ``--train-limit`` / ``--eval-limit`` save on a Hub dataset stored in many parquet shards
(``hf_quicktune.data.file_draw``): ``data.load`` with the limits (only enough shards downloaded) against
``data.load`` of the whole dataset (the baseline: how a run loaded it before, the limits applied afterwards by the
trials), against the project's local Hub (tests/hubserver, on loopback: the download time of the real Hub is not in
it, the bytes are).

A synthetic dataset of ``--images`` JPEGs (``--side`` px, 10 classes interleaved) is pushed as ``--shards`` parquet
shards of train and a validation split of a tenth of that in 4. Each arm loads in its own process with empty caches
(``HF_HOME``, ``HF_QUICKTUNE_CACHE``), alternating for ``--rounds`` rounds; printed per arm: seconds of ``load()``
(download, Arrow conversion, the image check, splits), the files and megabytes it downloaded (from the server's
log and the repo's file sizes), and the images it read. Then the same shards as a local folder (a dataset
downloaded to disk): seconds and the megabytes of Arrow files datasets wrote into its cache.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/hub_limit_load.py [--images 20000] [--shards 40] [--side 64]
        [--train-limit 2000] [--eval-limit 500] [--rounds 2]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _local_hub(work: Path):
    """The project's local Hub (tests/hubserver) on a free port under ``work``, started, and the environment that
    points huggingface_hub and datasets at it (also set in this process, pushing from ``work/push-home``)."""
    port = _free_port()
    env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{port}", "HF_HUB_DISABLE_XET": "1",
           "HF_TOKEN": "hf_bench_token", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    os.environ.update({k: v for k, v in env.items() if k.startswith("HF_")})
    os.environ["HF_HOME"] = str(work / "push-home")
    sys.path.insert(0, str(ROOT))
    from tests.hubserver import LocalHub

    return LocalHub(work / "hub", port=port, token=env["HF_TOKEN"]).start(), env


def _child(repo: str, limits: dict) -> None:
    """One arm: load the dataset, print a JSON line of what it read."""
    from hf_quicktune.data import load

    start = time.perf_counter()
    p = load(repo, **limits)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "images": {k: len(v) for k, v in p.splits.items()},
                      "drawn": p.info.get("drawn_files")}))


def _push(repo: str, n: int, shards: int, side: int) -> None:
    import datasets
    import numpy as np
    from PIL import Image

    datasets.disable_progress_bars()
    rng = np.random.default_rng(0)
    classes = [f"class_{c}" for c in range(10)]

    def split(count: int, offset: int) -> datasets.Dataset:
        images = []
        for i in range(count):
            base = np.full((side, side, 3), 20 * (i % 10), np.uint8)
            noise = rng.integers(0, 60, (side, side, 3), dtype=np.uint8)
            buf = io.BytesIO()
            Image.fromarray(base + noise).save(buf, format="JPEG", quality=90)
            images.append({"bytes": buf.getvalue(), "path": None})
        labels = [(offset + i) % 10 for i in range(count)]
        features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=classes)})
        return datasets.Dataset.from_dict({"image": images, "label": labels}, features=features)

    split(n, 0).push_to_hub(repo, split="train", num_shards=shards)
    split(max(10, n // 10), 1).push_to_hub(repo, split="validation", num_shards=4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--shards", type=int, default=40)
    parser.add_argument("--side", type=int, default=64)
    parser.add_argument("--train-limit", type=int, default=2000)
    parser.add_argument("--eval-limit", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, json.loads(os.environ["QT_BENCH_LIMITS"]))
        return

    work = Path(tempfile.mkdtemp(prefix="hub-limit-"))
    hub, env = _local_hub(work)
    try:
        repo = "bench/sharded"
        from huggingface_hub import HfApi

        HfApi().create_repo(repo, repo_type="dataset")
        _push(repo, args.images, args.shards, args.side)
        sizes = {f.path: f.size for f in HfApi().list_repo_tree(repo, repo_type="dataset", recursive=True)
                 if hasattr(f, "size")}
        print(f"{args.images} train + {max(10, args.images // 10)} validation JPEGs of {args.side} px in "
              f"{args.shards} + 4 parquet shards ({sum(sizes.values()) / 1e6:.1f} MB); limits: --train-limit "
              f"{args.train_limit} --eval-limit {args.eval_limit}")
        arms = {"whole dataset (baseline)": {}, "with the limits": {"train_limit": args.train_limit,
                                                                    "eval_limit": args.eval_limit}}
        for r in range(args.rounds):
            for name, limits in arms.items():
                home = work / f"home-{r}-{len(name)}"
                before = len(hub.requests)
                out = subprocess.run(
                    [sys.executable, __file__, "--child", repo],
                    env={**env, "HF_HOME": str(home), "HF_QUICKTUNE_CACHE": str(home / "qt"),
                         "QT_BENCH_LIMITS": json.dumps(limits)},
                    capture_output=True, text=True, check=True, cwd=ROOT)
                result = json.loads(out.stdout.strip().splitlines()[-1])
                fetched = {path.split("/resolve/", 1)[1].split("/", 1)[1] for method, path, status
                           in hub.requests[before:] if method == "GET" and "/resolve/" in path
                           and path.endswith(".parquet") and status == 200}
                print(f"round {r + 1} {name:26s} load {result['seconds']:6.2f} s, downloaded {len(fetched):2d} "
                      f"files, {sum(sizes.get(f, 0) for f in fetched) / 1e6:6.1f} MB, images read "
                      f"{result['images']}, drawn files {result['drawn']}")
        from huggingface_hub import snapshot_download

        local = Path(snapshot_download(repo, repo_type="dataset", local_dir=work / "local")) / "data"
        print(f"the same shards as a local folder ({local.name}/: {len(list(local.glob('*.parquet')))} files): "
              "the Arrow files datasets writes into its cache")
        for r in range(args.rounds):
            for name, limits in arms.items():
                home = work / f"local-home-{r}-{len(name)}"
                out = subprocess.run(
                    [sys.executable, __file__, "--child", str(local)],
                    env={**env, "HF_HOME": str(home), "HF_QUICKTUNE_CACHE": str(home / "qt"),
                         "QT_BENCH_LIMITS": json.dumps(limits)},
                    capture_output=True, text=True, check=True, cwd=ROOT)
                result = json.loads(out.stdout.strip().splitlines()[-1])
                arrow = sum(f.stat().st_size for f in (home / "datasets").rglob("*.arrow"))
                print(f"round {r + 1} {name:26s} load {result['seconds']:6.2f} s, Arrow written {arrow / 1e6:6.1f} MB, "
                      f"images read {result['images']}, drawn files {result['drawn']}")
    finally:
        hub.stop()
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
