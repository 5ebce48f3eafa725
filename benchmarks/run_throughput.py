"""Throughput of `hf-quicktune run --workers 2` vs `--workers 1`: epoch-steps per minute of search.

Both runs use the same tiny search on builtin:digits with one thread per worker (`--workers 1` trains in
the driver process with OMP_NUM_THREADS=1; `--workers 2` starts a local Ray runtime with 2 one-thread
actors). The rate counts the epoch-steps told during the search, from the first job's submission to the
last epoch told, so dataset loading, ranking, Ray's start-up and the export are left out.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/run_throughput.py --budget 4m
    # a GPU machine: one worker per GPU, or several sharing one GPU (fractional GPUs), bigger images
    python benchmarks/run_throughput.py --budget 90s --workers 1,2,4 --image-size 128 --train-limit 1024 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ARGS = ["--dataset", "builtin:digits", "--zoo", "tf_efficientnet_lite0,scratch:mobilenetv3_small_050",
        "--eval-limit", "64", "--rank-samples", "32", "--pool-size", "16", "--max-epochs", "4", "--prior", "none"]
CODE = "import sys; from hf_quicktune.cli import main; sys.exit(main(sys.argv[1:]))"


def measure(workers: int, args: argparse.Namespace, workdir: Path) -> dict:
    out = workdir / f"workers-{workers}"
    threads = str(args.threads)
    env = dict(os.environ, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    cmd = [sys.executable, "-c", CODE, "run", *ARGS, "--image-size", str(args.image_size), "--train-limit",
           str(args.train_limit), "--budget", args.budget, "--workers", str(workers), "--output-dir", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"--workers {workers} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines() if line.strip()]
    ok = [s for s in steps if s["status"] == "ok"]
    start = min(s["job_started_s"] for s in steps)
    end = max(s["elapsed_s"] for s in steps)
    summary = json.loads((out / "summary.json").read_text())
    return {"workers": workers, "epoch_steps": len(ok), "trials": summary["trials"],
            "search_minutes": (end - start) / 60, "per_minute": len(ok) / max(1e-9, (end - start) / 60),
            "worker_seconds": summary.get("worker_seconds"), "gpu_seconds": summary.get("gpu_seconds"),
            "budget_used_s": summary.get("budget_used_s"), "best_val_top1": summary.get("val_top1")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", default="4m", help="wall-clock budget of each run (default 4m)")
    parser.add_argument("--workdir", help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare, the first is the baseline")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--train-limit", type=int, default=128, help="training images per epoch")
    parser.add_argument("--threads", type=int, default=1,
                        help="OMP threads of the driver (Ray workers get theirs from plan_workers)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.workdir or tmp)
        rows = [measure(int(n), args, workdir) for n in args.workers.split(",")]
    print(f"{'':28}" + "".join(f"{'--workers ' + str(r['workers']):>14}" for r in rows))
    for key, fmt in (("epoch_steps", "{:d}"), ("trials", "{:d}"), ("search_minutes", "{:.2f}"),
                     ("per_minute", "{:.2f}"), ("worker_seconds", "{:.0f}"), ("gpu_seconds", "{:.0f}"),
                     ("budget_used_s", "{:.0f}"), ("best_val_top1", "{:.3f}")):
        print(f"{key.replace('_', ' '):28}"
              + "".join(f"{'-' if r[key] is None else fmt.format(r[key]):>14}" for r in rows))
    print(f"{'speed-up (epoch-steps/min)':28}{'':>14}"
          + "".join(f"{r['per_minute'] / rows[0]['per_minute']:>14.2f}" for r in rows[1:]))


if __name__ == "__main__":
    main()
