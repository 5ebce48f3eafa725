"""How much the schedule's timing of a model's training step varies from one run to the next on this machine: the
step a run prices its epochs by (``hf_quicktune.run.timing.measure_reference``: one warm-up AdamW step of every
parameter, then the median of up to ``REPEATS`` timed ones, fewer once the steps took ``TIMING_SHARE`` x the budget
left), each in a fresh process as each run is.

Arms: ``capped`` stops the timed steps as a run with ``--left`` seconds of budget does (``max_seconds`` =
``TIMING_SHARE`` x ``--left``), ``uncapped`` times all ``--repeats`` of them. For each arm ``--runs`` fresh processes,
alternating arms; printed per process the step seconds and the seconds the whole timing took (the evaluation
batch's and the checkpoint's too), then per arm
the median, the spread (max / min) and the median seconds spent.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/reference_timing_noise.py [--model tf_efficientnet_lite0] [--size 224]
        [--left 160] [--runs 5] [--repeats 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json, sys, time
from hf_quicktune.run.timing import measure_reference
from hf_quicktune.zoo import load_zoo
model, size, cap, repeats = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
cand = next(c for c in load_zoo("offline") if c.name == model)
t0 = time.perf_counter()
m = measure_reference(cand, 10, size, repeats=repeats, max_seconds=cap if cap > 0 else None)
print(json.dumps({"step_s": m["step_s"], "seconds": time.perf_counter() - t0}))
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tf_efficientnet_lite0")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--left", type=float, default=160.0, help="budget left (s) the capped arm's run would have")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--repeats", type=int, default=None, help="timed steps at most (default: the product's REPEATS)")
    args = p.parse_args()

    from hf_quicktune.run.schedule import TIMING_SHARE
    from hf_quicktune.run.timing import REPEATS

    repeats = args.repeats or REPEATS
    arms = {"capped": TIMING_SHARE * args.left, "uncapped": 0.0}
    rows: dict[str, list[dict]] = {a: [] for a in arms}
    print(f"{args.model} at {args.size} px, batch 32 (the reference), up to {repeats} timed steps; capped at "
          f"{arms['capped']:.1f} s (TIMING_SHARE {TIMING_SHARE} x {args.left:.0f} s left)")
    for i in range(args.runs):
        for arm in (("capped", "uncapped") if i % 2 == 0 else ("uncapped", "capped")):
            proc = subprocess.run([sys.executable, "-c", CHILD, args.model, str(args.size), str(arms[arm]), str(repeats)],
                                  capture_output=True, text=True, cwd=ROOT)
            if proc.returncode:
                print(f"{arm}: failed: {proc.stderr[-400:]}")
                continue
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            rows[arm].append(row)
            print(f"run {i + 1} {arm:<9} step {row['step_s']:.3f} s  timing took {row['seconds']:.1f} s", flush=True)
    print(f"\n{'arm':<9} {'median step s':>13} {'spread max/min':>14} {'median timing s':>15}")
    for arm, rs in rows.items():
        if not rs:
            continue
        steps = [r["step_s"] for r in rs]
        print(f"{arm:<9} {statistics.median(steps):>13.3f} {max(steps) / min(steps):>14.2f} "
              f"{statistics.median(r['seconds'] for r in rs):>15.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
