"""Throughput of `hf-quicktune run --workers 2` vs `--workers 1`: epoch-steps per minute of search.

Both runs use the same tiny search on builtin:digits with one thread per worker (`--workers 1` trains in
the driver process with OMP_NUM_THREADS=1; `--workers 2` starts a local Ray runtime with 2 one-thread
actors). The rate counts the epoch-steps told during the search, from the first job's submission to the
last epoch told, so dataset loading, ranking, Ray's start-up and the export are left out.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/run_throughput.py --budget 4m
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
        "--image-size", "32", "--train-limit", "128", "--eval-limit", "64", "--rank-samples", "32",
        "--pool-size", "16", "--max-epochs", "4", "--prior", "none"]
CODE = "import sys; from hf_quicktune.cli import main; sys.exit(main(sys.argv[1:]))"


def measure(workers: int, budget: str, workdir: Path) -> dict:
    out = workdir / f"workers-{workers}"
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [sys.executable, "-c", CODE, "run", *ARGS, "--budget", budget, "--workers", str(workers),
           "--output-dir", str(out)]
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
            "worker_seconds": summary.get("worker_seconds"), "budget_used_s": summary.get("budget_used_s")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", default="4m", help="wall-clock budget of each run (default 4m)")
    parser.add_argument("--workdir", help="keep the runs here (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.workdir or tmp)
        rows = [measure(n, args.budget, workdir) for n in (1, 2)]
    print(f"{'':28}" + "".join(f"{'--workers ' + str(r['workers']):>14}" for r in rows))
    for key, fmt in (("epoch_steps", "{:d}"), ("trials", "{:d}"), ("search_minutes", "{:.2f}"),
                     ("per_minute", "{:.2f}"), ("worker_seconds", "{:.0f}"), ("budget_used_s", "{:.0f}")):
        print(f"{key.replace('_', ' '):28}" + "".join(f"{fmt.format(r[key]):>14}" for r in rows))
    print(f"{'speed-up (epoch-steps/min)':28}{rows[1]['per_minute'] / rows[0]['per_minute']:>28.2f}")


if __name__ == "__main__":
    main()
