"""What a small CPU budget pays to fit its schedule when the models' own input size is too slow for it: the
ranking's forward passes price a training step at ``run.plan.TRAIN_OVER_FORWARD`` x a forward pass (2, since
session 40) or at 1 x (before), real runs side by side.

When that price already buys fewer than 3 epochs at the own size (224 px for EfficientNet-Lite0), the run steps down
to a smaller input size without timing the own size's slow training steps; otherwise it times them first, from its
budget. Each arm runs ``hf-quicktune run --dataset D --zoo offline --budget B --max-epochs-total 1 --seed S`` (no
``--image-size``: the run chooses it; one epoch-step, since only the schedule's fit is compared) with the constant
set on the module before the CLI runs, in alternating order, pair i with seed i. Printed per run from
``summary.json`` and ``schedule.json``: the seconds of the schedule stage (``budget_by_stage_s``), the input size
chosen, the epochs the own size buys (``native_epochs``; ``bound``: priced from the forward passes, not timed)
and the epochs' worth of images the schedule trains at the chosen size (``max_epochs`` x ``epoch_fraction``).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/native_bound.py [--datasets builtin:digits] [--budgets 2m,4m] \
        [--pairs 2] [--full]

``--full``: the runs spend their budget, and the exported model's validation top-1 is printed too (where the two
arms fit different input sizes, what that does to the result). ``--arms "A;B"`` compares other constants instead
(each arm ``NAME=V,NAME=V``, a dotted NAME a constant of another module): ``--arms
"run.resolution.TIMED_EXPONENT=0;run.resolution.TIMED_EXPONENT=1"`` the second size guessed by the pixel count and
only ever smaller, against the exponent of the two fitted sizes (session 41).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv/bin/python")


def run_arm(dataset: str, budget: str, arm: str, seed: int, out: Path, full: bool = False) -> dict:
    # a sibling script's: benchmarks/ is on the path of a script run from there
    from finish_margin import cli_wrapper

    args = ["run", "--dataset", dataset, "--zoo", "offline", "--budget", budget, *([] if full else ["--max-epochs-total", "1"]),
            "--seed", str(seed), "--output-dir", str(out), "--json"]
    proc = subprocess.run([PYTHON, "-c", cli_wrapper("run.plan"), arm, *args], capture_output=True, text=True,
                          env=os.environ.copy(), cwd=ROOT)
    if proc.returncode:
        return {"arm": arm, "seed": seed, "error": proc.stderr[-600:]}
    summary = json.loads((out / "summary.json").read_text())
    schedule = json.loads((out / "schedule.json").read_text())
    return {"arm": arm, "seed": seed, "schedule_s": round(summary["budget_by_stage_s"].get("schedule", 0.0), 1),
            "image_size": schedule.get("image_size") or schedule.get("native_image_size") or "native",
            "native_epochs": schedule.get("native_epochs"), "bound": bool(schedule.get("native_epochs_bound")),
            "epochs": round(float(schedule["max_epochs"]) * float(schedule.get("epoch_fraction") or 1.0), 2),
            **({"val_top1": summary.get("val_top1"), "epoch_steps": summary.get("epoch_steps")} if full else {})}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="builtin:digits")
    p.add_argument("--budgets", default="2m,4m")
    p.add_argument("--ratios", default="1,2", help="the two values of TRAIN_OVER_FORWARD compared (unless --arms)")
    p.add_argument("--arms", default=None, help="two arms 'NAME=V,NAME=V;NAME=V' of run/plan constants, or dotted "
                   "constants of other modules ('run.resolution.TIMED_EXPONENT=0;run.resolution.TIMED_EXPONENT=1')")
    p.add_argument("--pairs", type=int, default=2)
    p.add_argument("--full", action="store_true", help="runs spend their whole budget (no --max-epochs-total 1): "
                   "the exported model's validation top-1 too")
    args = p.parse_args()
    from finish_margin import two_arms

    arms = two_arms(p, args.arms, "TRAIN_OVER_FORWARD", args.ratios)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.datasets.split(","):
            for budget in args.budgets.split(","):
                for i in range(args.pairs):
                    for k in ((0, 1) if i % 2 == 0 else (1, 0)):
                        out = Path(tmp) / f"{dataset.replace(':', '-')}-{budget}-{i}-{k}"
                        r = {"dataset": dataset, "budget": budget, **run_arm(dataset, budget, arms[k], i, out, args.full)}
                        rows.append(r)
                        print(r, flush=True)
    width = max(len(a) for a in arms)
    print(f"\n{'dataset':<16} {'budget':>6} {'seed':>4} {'arm':>{width}} {'schedule s':>10} {'size':>6} "
          f"{'own-size epochs':>16} {'epochs':>7}{'  val top-1' if args.full else ''}")
    for r in rows:
        if "error" in r:
            print(f"{r['dataset']:<16} {r['budget']:>6} {r['seed']:>4} {r['arm']:>{width}} error: {r['error'][-200:]}")
            continue
        own = f"{r['native_epochs']}{' (bound)' if r['bound'] else ''}"
        print(f"{r['dataset']:<16} {r['budget']:>6} {r['seed']:>4} {r['arm']:>{width}} {r['schedule_s']:>10} "
              f"{r['image_size']!s:>6} {own:>16} {r['epochs']:>7}"
              + (f"  {100 * r['val_top1']:.1f} %" if r.get("val_top1") is not None else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
