"""When should the end of a searched budget start finishing its incumbent? Real runs of two arms, side by side.

With one worker and a schedule the run fitted, ``run/search_loop.Search.finishing`` stops exploring and trains
the incumbent to the end of its schedule once the time left is at most ``REFIT_FINISH_MARGIN`` x what its remaining
epochs cost, and re-fits that schedule to end with the budget
(``run/plan.refit_run_schedule``, at most ``FINISH_MARGIN`` x the searched length). A small margin searches longer
and can only shorten the finishing schedule; a large one searches less and lets the re-fit lengthen it. This script
runs the same ``hf-quicktune run`` once per arm, in alternating order (pair i starts with arm i mod 2) so drifts of
the machine's speed hit both, each arm with those constants set on the module before the CLI runs (the product's
code otherwise unchanged), and prints per run: the exported model's validation top-1, trials, epoch-steps, the
seconds into the run at which the finishing began, the finishing trial's schedule
(searched -> last re-fit), and where the finishing chose a trial ahead of the best observed at equal epochs
(``SAME_EPOCH_FINISH``) the product's line saying so, with both scores; then per dataset the mean top-1 of each arm
and the pairs each arm won.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/finish_margin.py [--margins 1.0,1.5] \
        [--datasets variant:digits-fewshot,builtin:digits] [--budget 5m] [--pairs 3]
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/finish_margin.py --arms "NAME=A;NAME=B" ...
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/finish_margin.py --arms "STOP_WHEN_BEST_FINISHED=0;STOP_WHEN_BEST_FINISHED=1" \
        --datasets builtin:digits --budget 3m --extra "--max-epochs 10 --pool-size 32 --rank-samples 100" --pairs 2

(``--extra``: more arguments of every run; the last command runs the demo's settings, DEMO_SETTINGS, with seed i.)

(session 38 measured the rule ``FINISHABLE_ONLY`` of tree f6c699a this way, its version of this script printing
the reason the log gave for each finishing, then removed the rule: no gain.)

``--margins A,B`` is ``--arms "REFIT_FINISH_MARGIN=A;REFIT_FINISH_MARGIN=B"``; an arm is a comma-separated list of
NAME=VALUE for constants of ``hf_quicktune.run.search_loop`` (booleans as 0 / 1), or of another module of the package
by a dotted name (``search.quicktune.RELATIVE_BUDGET=1``). Runs: ``--zoo offline
--image-size 32 --budget B --seed S`` (pair i: seed i; the two arms of a pair share it). ``variant:NAME`` datasets
are written by benchmarks/rank_variants.py (the fewshot set of product_vs_finetune.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv/bin/python")
def cli_wrapper(default_module: str) -> str:
    """Python source (for ``python -c``) that runs the CLI with constants of the package set as its argv[1] says
    ("NAME=VALUE,NAME=VALUE", each cast to the constant's type): a NAME of ``hf_quicktune.<default_module>``, or a
    dotted NAME, a constant of another module ("search.quicktune.NAME"); the rest of argv is the CLI's."""
    return ("import importlib, sys\n"
            "for pair in filter(None, sys.argv[1].split(',')):\n"
            "    name, value = pair.split('=')\n"
            "    where, _, name = name.rpartition('.')\n"
            f"    module = importlib.import_module('hf_quicktune.' + (where or {default_module!r}))\n"
            "    assert hasattr(module, name), name\n"
            "    setattr(module, name, type(getattr(module, name))(float(value)))\n"
            "from hf_quicktune.cli import main\nsys.argv = ['hf-quicktune', *sys.argv[2:]]\nsys.exit(main())\n")


#: the search loop's constants are read at call time by Search.finishing; a dotted one (``search.quicktune.NAME``)
#: when the run builds its optimizer
WRAPPER = cli_wrapper("run.search_loop")
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})")


def _stamp(line: str) -> float | None:
    m = STAMP.match(line)
    if not m:
        return None
    return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").timestamp() + int(m.group(2)) / 1000.0


def finishing_began(run_log: Path) -> tuple[float | None, str | None]:
    """Seconds from the run log's first line to its first finishing line (None: never finished), and the last
    finishing that chose a trial other than the best observed (SAME_EPOCH_FINISH: "ahead of the best observed"; its
    scores), or None."""
    lines = run_log.read_text().splitlines() if run_log.exists() else []
    first = next((t for t in map(_stamp, lines) if t is not None), None)
    ahead = next((line.split("search_loop: ", 1)[-1] for line in reversed(lines)
                  if "ahead of the best observed" in line), None)
    for line in lines:
        if re.search(r"finishing (the incumbent|trial \d)", line) and first is not None and \
                (t := _stamp(line)) is not None:
            return round(t - first, 1), ahead
    return None, ahead


def run_arm(dataset: str, arm: str, seed: int, budget: str, out: Path, extra: list[str] | None = None) -> dict:
    args = ["run", "--dataset", dataset, "--zoo", "offline", "--image-size", "32", "--budget", budget,
            "--seed", str(seed), "--output-dir", str(out), "--json", *(extra or [])]
    t0 = time.perf_counter()
    proc = subprocess.run([PYTHON, "-c", WRAPPER, arm, *args], capture_output=True, text=True,
                          env=os.environ.copy(), cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode:
        return {"arm": arm, "seed": seed, "wall_s": wall, "val_top1": None, "error": proc.stderr[-800:]}
    summary = json.loads(proc.stdout[proc.stdout.index("{"):])
    schedule = json.loads((out / "schedule.json").read_text()) if (out / "schedule.json").exists() else {}
    refits = schedule.get("refits") or []
    searched = schedule.get("searched_max_epochs", schedule.get("max_epochs"))
    began, ahead = finishing_began(out / "run.log")
    return {"arm": arm, "seed": seed, "wall_s": round(wall, 1), "val_top1": summary.get("val_top1"),
            "model": summary.get("best_model"), "trials": summary.get("trials"),
            "epoch_steps": summary.get("epoch_steps"), "finish_began_s": began, "finished_a_trial_ahead": ahead,
            "schedule": f"{searched} -> {refits[-1]['max_epochs'] if refits else searched}",
            "refits": len(refits), "first_refit": refits[0] if refits else None, "searched": schedule.get("search"),
            "stop_reason": summary.get("stop_reason")}


def pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f} %"


def two_arms(parser: argparse.ArgumentParser, arms: str | None, name: str, values: str) -> list[str]:
    """The two arms a script compares: ``arms`` ("A;B"), else ``name`` set to each of the two ``values`` ("a,b")."""
    out = arms.split(";") if arms else [f"{name}={v}" for v in values.split(",")]
    if len(out) != 2:
        parser.error("two arms are compared")
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--margins", default="1.0,1.5", help="two values of REFIT_FINISH_MARGIN (unless --arms)")
    p.add_argument("--arms", default=None, help="two arms 'NAME=V,NAME=V;NAME=V' of search_loop constants")
    p.add_argument("--datasets", default="variant:digits-fewshot,builtin:digits")
    p.add_argument("--budget", default="5m")
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--extra", default="", help="more arguments of every run, e.g. the demo's "
                   "'--max-epochs 10 --pool-size 32 --rank-samples 100'")
    args = p.parse_args()
    arms = two_arms(p, args.arms, "REFIT_FINISH_MARGIN", args.margins)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    results: dict[str, list[tuple[dict, dict]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets.split(","):
            dataset = name
            if name.startswith("variant:"):
                from rank_variants import build_variant

                dataset = str(build_variant(name.split(":", 1)[1], ROOT / "bench-out" / "rank-variants"))
            for i in range(args.pairs):
                runs = {}
                for k in ((0, 1) if i % 2 == 0 else (1, 0)):
                    runs[k] = run_arm(dataset, arms[k], i, args.budget, Path(tmp) / f"{name.replace(':', '-')}-{i}-{k}",
                                      shlex.split(args.extra))
                    print(f"{name} pair {i + 1} {arms[k]}: {runs[k]}", flush=True)
                results.setdefault(name, []).append((runs[0], runs[1]))
    a, b = arms
    print(f"\narm A: {a}; arm B: {b}; each: top-1 (trials, finishing began at s, schedule; * a trial ahead at "
          "equal epochs, not the best observed, was finished), the command's wall seconds")
    print("dataset                    pair   arm A                                     arm B")
    for name, pairs in results.items():
        for i, (x, y) in enumerate(pairs):
            star = ["*" if r.get("finished_a_trial_ahead") else "" for r in (x, y)]
            print(f"{name:<27}{i + 1:>4}   {pct(x['val_top1']):>8} ({x.get('trials')}, {x.get('finish_began_s')}, "
                  f"{x.get('schedule')}){star[0]:<1} {x.get('wall_s')} s   {pct(y['val_top1']):>8} ({y.get('trials')}, "
                  f"{y.get('finish_began_s')}, {y.get('schedule')}){star[1]} {y.get('wall_s')} s")
    for name, pairs in results.items():
        done = [(x["val_top1"], y["val_top1"]) for x, y in pairs if x["val_top1"] is not None and y["val_top1"] is not None]
        if not done:
            continue
        won_a = sum(1 for u, v in done if u > v + 1e-9)
        won_b = sum(1 for u, v in done if v > u + 1e-9)
        print(f"{name}: {len(done)} pairs, mean top-1 arm A {pct(sum(u for u, _ in done) / len(done))} vs "
              f"arm B {pct(sum(v for _, v in done) / len(done))}; won {won_a} / {won_b}, tied "
              f"{len(done) - won_a - won_b}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
