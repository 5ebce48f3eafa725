"""How much one `run` command's fitted schedule varies from one run to the next on this machine.

A run fits its schedule (``schedule.json``: the model, whether it searches, ``max_epochs``, the epoch seconds and
the timings they come from) from training steps it times at start-up (``hf_quicktune.run.timing``). This script
starts the same command ``--runs`` times, each in a fresh process with its own output directory, interrupts each
(SIGINT, as Ctrl-C) once its ``schedule.json`` is written, and prints per run the schedule's fields, then the
spread (max / min) of ``max_epochs`` and of each timing. The feature cache is left as it is: from the second run
on the ranking is read from it, as a user's repeated command would.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/schedule_spread.py --dataset variant:digits-fewshot --budget 5m \
        [--runs 5] [--extra "--image-size 32 --zoo offline"]

``variant:NAME`` builds a ``benchmarks/rank_variants.py`` set under bench-out/rank-variants.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ("model", "search", "max_epochs", "epoch_seconds", "step_s", "eval_s", "checkpoint_s", "load_s")
TIMINGS = ("max_epochs", "epoch_seconds", "step_s", "eval_s", "checkpoint_s", "load_s")


def resolve_dataset(spec: str) -> str:
    if not spec.startswith("variant:"):
        return spec
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from rank_variants import build_variant

    return str(build_variant(spec.split(":", 1)[1], ROOT / "bench-out" / "rank-variants"))


def fitted_schedule(dataset: str, budget: str, extra: list[str], out: Path, timeout: float) -> dict | None:
    """Start the run, wait for its schedule.json (or its end), interrupt it; the schedule or None."""
    cmd = [sys.executable, "-m", "hf_quicktune", "run", "-d", dataset, "--budget", budget, "-o", str(out), *extra]
    log = (out.parent / f"{out.name}.log").open("w")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    path = out / "schedule.json"  # written whole (temp file + os.replace): readable once it exists
    start = time.monotonic()
    try:
        while proc.poll() is None and not path.exists() and time.monotonic() - start < timeout:
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
    return json.loads(path.read_text()) if path.exists() else None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="variant:digits-fewshot")
    p.add_argument("--budget", default="5m")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--extra", default="--image-size 32 --zoo offline", help="more `run` options, one string")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for one run's schedule")
    args = p.parse_args()

    dataset = resolve_dataset(args.dataset)
    rows = []
    with tempfile.TemporaryDirectory(prefix="schedule-spread-") as tmp:
        for i in range(args.runs):
            t0 = time.perf_counter()
            schedule = fitted_schedule(dataset, args.budget, shlex.split(args.extra), Path(tmp) / f"run{i}",
                                       args.timeout)
            if schedule is None:
                print(f"run {i}: no schedule.json (see its log: the run ended or timed out first)", flush=True)
                continue
            row = {k: schedule.get(k) for k in FIELDS}
            rows.append(row)
            print(json.dumps({"run": i, **row, "seconds": round(time.perf_counter() - t0, 1)}), flush=True)
    if len(rows) < 2:
        return 1
    print(f"\n{args.dataset}, --budget {args.budget} {args.extra}: {len(rows)} runs; models "
          f"{sorted({str(r['model']) for r in rows})}, searched {sum(bool(r['search']) for r in rows)} of {len(rows)}")
    for key in TIMINGS:
        values = [float(r[key]) for r in rows if r.get(key) is not None]
        if values:
            spread = max(values) / min(values) if min(values) > 0 else float("inf")
            print(f"  {key:<14} min {min(values):9.4f}  max {max(values):9.4f}  spread {spread:5.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
