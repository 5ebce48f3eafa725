"""The product on real data: `hf-quicktune run` against a plain fine-tune with common defaults, same wall-clock.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/product_vs_finetune.py [--cases demo,digits600,mnist5k,fewshot,digits-native,mnist5k-own] [--repeats 3]

Cases (each printed side by side, all in this one process, one after the other):

* ``demo``: ``hf-quicktune demo`` (builtin:digits, offline zoo, its 3-minute budget): the exported
  model's validation top-1 and the wall time of the command.
* ``digits600``: an ImageFolder of 600 scikit-learn digits (60 per class, written here); ``run --zoo
  offline --image-size 32 --budget 90s`` against ``finetune -m tf_efficientnet_lite0 --lr 1e-3 --opt adamw
  --sched cosine --image-size 32`` with as many epochs as fit in the same 90 s.
* ``mnist5k``: ``builtin:mnist5k`` with a 3-minute budget, the same comparison.
* ``fewshot``: ``variant:digits-fewshot`` (benchmarks/rank_variants.py: builtin:digits with 10 training images per
  class, its 359 validation images unchanged) with a 5-minute budget at 32 px, the same comparison: a budget the
  run searches (more than 40 epochs of the fastest model), on a set where the by-hand model is not the best one
  (rank_quality.py's ground truth: a scratch ResNet10t fine-tunes to .891, the ImageNet Lite0 to .663).
* ``digits-native``: ``builtin:digits`` with a 2-minute budget and no ``--image-size`` on either side (the
  fine-tune at its model's own resolution, 224 px for the 8x8 digits; the run ranks at the models' own
  224-260 px and trains at the size its budget chooses, run/resolution.py: printed as the schedule's
  ``image_size``, with ``native_epochs`` what the models' own size would have bought), each command with an
  empty feature cache (``HF_QUICKTUNE_CACHE``): a first run whose ranking and timing are a large share of a
  small budget.
* ``mnist5k-own``: ``builtin:mnist5k`` with a 3-minute budget, the run without ``--image-size`` (it chooses the size
  its budget buys, run/resolution.py) against the fine-tune at ``--image-size 32``: the 28 px digits rounded up to
  the networks' stride of 32, the size a practitioner on a CPU passes for them (224 px buys less than one epoch).

"The same wall-clock" for the fine-tune: a 2-epoch probe gives its start-up and per-epoch seconds
(from its recorded epoch times); it then trains as many epochs as fit (its cosine schedule over
exactly those epochs, as a practitioner would set it), re-run with fewer epochs while its wall time
overshoots the budget (by more than ``--overshoot``, default 0: the same wall-clock means no more of it than
the run's budget; sessions up to 14 allowed 5 %, and the fine-tune then took up to 94 s of the 90) and with
more while it leaves more than 10 % unused (one noisy probe epoch must not cost the baseline epochs); that
command's whole wall time is printed next to the budget. Accuracies are the best validation top-1 of each command's model
(the run exports its winner's best epoch; for the fine-tune, its best epoch).

``--repeats R`` repeats each comparison R times (run, then fine-tune, in alternating order so drifts of the
machine's speed hit both alike; the fine-tune's probe runs once, later repeats start from the epochs that
fitted) and prints every pair and the medians with the number of pairs the run won, tied and lost: the same
epoch of the same model varies by ±20 % of its seconds between commands on a 2-core VM, so one pair decides
nothing.

Each run also prints its fitted schedule, ``real_epoch_s`` (median seconds between its epoch ends) next to
``recorded_epoch_s`` (the engine's train + evaluation seconds), ``first_job_s`` (the run's start-up: seconds of
its clock before the first training job; the fine-tune's is ``startup_s``), ``by_stage_s`` (the summary's
``budget_by_stage_s``: where its budget went, run/stage_clock.py) and ``unused_s`` (budget less wall).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [str(ROOT / ".venv/bin/hf-quicktune")]
FINETUNE = ["-m", "tf_efficientnet_lite0", "--lr", "1e-3", "--opt", "adamw", "--sched", "cosine"]
#: the image size of the cases (None: each model's own); a fresh feature cache per command for the native case
SIZE = ["--image-size", "32"]
#: the run's image size arguments where they differ from the fine-tune's (``mnist5k-own``), else None
RUN_SIZE: list[str] | None = None
NATIVE = False


def sh(args: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    env = os.environ.copy()
    if NATIVE:  # a first run: no feature cached by an earlier command
        env["HF_QUICKTUNE_CACHE"] = tempfile.mkdtemp(dir=cwd, prefix="cache-")
    t0 = time.monotonic()
    proc = subprocess.run(CLI + args, cwd=cwd, capture_output=True, text=True, env=env)
    return time.monotonic() - t0, proc


def digits_folder(root: Path, n: int = 600) -> Path:
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    per_class = n // 10
    for c in range(10):
        idx = np.flatnonzero(d.target == c)[:per_class]
        (root / str(c)).mkdir(parents=True, exist_ok=True)
        for i in idx:
            Image.fromarray((d.images[i] * 255 / 16).astype("uint8")).resize((32, 32)).save(root / str(c) / f"{i}.png")
    return root


def best_val(out: Path) -> float | None:
    vals = []
    for curve in out.rglob("curve.jsonl"):
        for line in curve.read_text().splitlines():
            rec = json.loads(line)
            if rec.get("status", "ok") == "ok" and rec.get("val_top1") is not None:
                vals.append(float(rec["val_top1"]))
    return max(vals) if vals else None


def _epoch_seconds(out: Path) -> list[float]:
    """Train + evaluation seconds of every epoch a finetune wrote (its curve.jsonl)."""
    secs = []
    for curve in out.rglob("curve.jsonl"):
        for line in curve.read_text().splitlines():
            rec = json.loads(line)
            secs.append(float(rec.get("train_seconds") or 0.0) + float(rec.get("eval_seconds") or 0.0))
    return secs


def finetune_probe(dataset: str, budget_s: float, work: Path) -> dict:
    """A 2-epoch probe: the start-up (its wall time less its epochs' recorded seconds), the seconds of an epoch
    (its second, the first pays one-time costs) and the epochs that should fit in ``budget_s``."""
    t2, p2 = sh(["finetune", "-d", dataset, *FINETUNE, *SIZE, "--epochs", "2", "-o", str(work / "probe2")], work)
    if p2.returncode:
        raise RuntimeError(p2.stderr[-2000:])
    secs = _epoch_seconds(work / "probe2")
    per_epoch = max(secs[-1], 1e-3)
    startup = max(t2 - sum(secs), 0.0)
    epochs = max(1, math.floor((budget_s - startup - (secs[0] - secs[-1])) / per_epoch))
    return {"epochs": epochs, "per_epoch_s": per_epoch, "startup_s": startup}


def finetune_same_clock(dataset: str, budget_s: float, work: Path, probe: dict, tries: int = 4,
                        overshoot: float = 0.0) -> dict:
    """The fine-tune with as many epochs as fit in ``budget_s``, starting from ``probe["epochs"]``: one whose wall
    time overshoots the budget by more than ``overshoot`` (a fraction; leaves more than 10 % of it) is re-run with
    fewer (more) epochs, at most ``tries`` times. When the last try still overshoots, the result is the try with the
    most epochs that did not (session 35's fewshot pair 2 kept a fourth try of 337 s against a 300 s budget)."""
    epochs, per_epoch, startup = probe["epochs"], probe["per_epoch_s"], probe["startup_s"]
    within: list[tuple[int, float, Path]] = []  # (epochs, wall, out) of the tries that did not overshoot
    for attempt in range(tries):
        out = work / f"ft{attempt}"
        wall, proc = sh(["finetune", "-d", dataset, *FINETUNE, *SIZE, "--epochs", str(epochs), "-o", str(out)], work)
        if proc.returncode:
            raise RuntimeError(proc.stderr[-2000:])
        over = wall > (1.0 + overshoot) * budget_s
        if not over:
            within.append((epochs, wall, out))
        fits = (0.9 * budget_s <= wall and not over) or (over and epochs == 1)
        if fits or attempt == tries - 1:
            break
        again = max(1, math.floor(epochs * (budget_s - startup) / max(wall - startup, 1e-3)))
        if over:
            again = min(again, epochs - 1)
        if again == epochs:
            break
        epochs = again
    if over and within:
        epochs, wall, out = max(within, key=lambda t: t[0])
    return {"epochs": epochs, "wall_s": wall, "val_top1": best_val(out), "per_epoch_s": per_epoch,
            "startup_s": startup, "attempts": attempt + 1}


def run_case(dataset: str, budget: str, budget_s: float, work: Path) -> dict:
    size = SIZE if RUN_SIZE is None else RUN_SIZE
    wall, proc = sh(["run", "--dataset", dataset, "--zoo", "offline", *size, "--budget", budget,
                     "--output-dir", str(work / "run"), "--json"], work)
    if proc.returncode not in (0,):
        return {"wall_s": wall, "val_top1": None, "error": proc.stderr[-800:]}
    summary = json.loads(proc.stdout[proc.stdout.index("{"):])
    schedule = json.loads((work / "run" / "schedule.json").read_text()) if (work / "run" / "schedule.json").exists() else {}
    return {"wall_s": wall, "val_top1": summary.get("val_top1"), "model": summary.get("best_model"),
            "epoch_steps": summary.get("epoch_steps"), "trials": summary.get("trials"),
            "best_epoch": summary.get("best_epoch"), "prior": summary.get("prior"),
            "schedule": {k: schedule.get(k) for k in ("model", "max_epochs", "fitted_max_epochs", "search", "epoch_seconds", "epoch_fraction", "fitted_epoch_fraction", "refits", "image_size", "native_epochs")},
            "real_epoch_s": _real_epoch_seconds(work / "run" / "steps.jsonl", schedule.get("model")),
            "recorded_epoch_s": _recorded_epoch_seconds(work / "run", schedule.get("model")),
            "first_job_s": _first_job_seconds(work / "run" / "steps.jsonl"),
            "by_stage_s": summary.get("budget_by_stage_s"),
            "unused_s": round(budget_s - wall, 1)}


def _first_job_seconds(steps: Path) -> float | None:
    """Seconds of the run's clock before its first training job started (loading, prior, ranking, timing the
    schedule): the run's start-up, to set against the fine-tune's ``startup_s``."""
    if not steps.exists():
        return None
    for line in steps.read_text().splitlines():
        rec = json.loads(line)
        if rec.get("job_started_s") is not None:
            return round(float(rec["job_started_s"]), 2)
    return None


def _recorded_epoch_seconds(run: Path, model: str | None) -> float | None:
    """Median train + evaluation seconds the engine recorded for the epochs (after the first) of ``model``'s
    trials: set against ``real_epoch_s`` it separates slower epochs from time spent between them."""
    secs = []
    for trial in (run / "trials").glob("*"):
        info = trial / "trial.json"
        if not info.exists() or json.loads(info.read_text()).get("config", {}).get("model") != model:
            continue
        secs += _epoch_seconds(trial)[1:]  # in epoch order; the first pays one-time costs
    secs.sort()
    return round(secs[len(secs) // 2], 3) if secs else None


def _real_epoch_seconds(steps: Path, model: str | None) -> float | None:
    """Median seconds between consecutive epoch ends of one trial of ``model`` (the schedule's reference):
    what the fitted ``epoch_seconds`` predicted (training, evaluation, checkpoint, loop). The epochs of one job
    (one ``job_started_s``) are told together when it ends: a job of k epochs counts as k epochs of a k-th of the
    time since the previous job's end (they had read as gaps of about 0 s: a fewshot run whose Lite0 trials trained
    several epochs a job printed 0.0)."""
    if not steps.exists():
        return None
    jobs: dict[int, dict[object, list[float]]] = {}
    for line in steps.read_text().splitlines():
        rec = json.loads(line)
        if rec.get("model") == model and rec.get("status", "ok") == "ok":
            key = rec.get("job_started_s", rec["elapsed_s"])
            jobs.setdefault(int(rec["trial_id"]), {}).setdefault(key, []).append(float(rec["elapsed_s"]))
    gaps = []
    for by_job in jobs.values():
        ends = sorted((max(told), len(told)) for told in by_job.values())  # (a job's end, its epochs)
        gaps += [(b - a) / k for (a, _), (b, k) in zip(ends, ends[1:]) for _ in range(k)]
    gaps.sort()
    return round(gaps[len(gaps) // 2], 3) if gaps else None


def fmt(v: float | None) -> str:
    return f"{100 * v:.1f} %" if v is not None else "-"


def median(values: list[float | None]) -> float | None:
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    mid = len(vals) // 2
    return vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2


def compare(name: str, dataset: str | None, budget: str, budget_s: float, tmp: Path, repeats: int,
            overshoot: float = 0.0) -> list[tuple]:
    """``repeats`` pairs of (run, same-clock fine-tune) on one dataset; the order alternates per pair."""
    base = tmp / name
    base.mkdir()
    dataset = dataset or str(digits_folder(base / "digits600"))
    probe = finetune_probe(dataset, budget_s, base)
    pairs = []
    for i in range(repeats):
        work = base / f"r{i}"
        work.mkdir()
        if i % 2 == 0:
            r = run_case(dataset, budget, budget_s, work)
            f = finetune_same_clock(dataset, budget_s, work, probe, overshoot=overshoot)
        else:
            f = finetune_same_clock(dataset, budget_s, work, probe, overshoot=overshoot)
            r = run_case(dataset, budget, budget_s, work)
        probe = {**probe, "epochs": f["epochs"]}  # a practitioner keeps the epochs that fitted
        print(f"{name} #{i + 1}: run {r} | finetune {f}", flush=True)
        pairs.append((f"{name} ({budget}) #{i + 1}", r["val_top1"], r["wall_s"], f["val_top1"], f["wall_s"],
                      f["epochs"], r.get("model")))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="demo,digits600,mnist5k")
    parser.add_argument("--repeats", type=int, default=1, help="pairs of (run, fine-tune) per case")
    parser.add_argument("--overshoot", type=float, default=0.0,
                        help="the fine-tune's wall time may exceed the budget by this fraction (default 0)")
    args = parser.parse_args()
    cases = args.cases.split(",")
    rows = []
    medians: dict[str, list[tuple]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if "demo" in cases:
            wall, proc = sh(["demo", "--output-dir", str(tmp / "demo"), "--json"], tmp)
            summary = json.loads(proc.stdout[proc.stdout.index("{"):]) if proc.returncode == 0 else {}
            rows.append(("demo (builtin:digits, 3m)", summary.get("val_top1"), wall, None, None, None,
                         summary.get("best_model")))
            print(f"demo: {summary.get('val_top1')} in {wall:.0f}s, {summary.get('trials')} trials, "
                  f"{summary.get('epoch_steps')} epoch-steps; stopped: {summary.get('stop_reason')} "
                  f"{'' if proc.returncode == 0 else proc.stderr[-800:]}", flush=True)
        global SIZE, NATIVE, RUN_SIZE
        for name, dataset, budget, budget_s in (("digits600", None, "90s", 90.0),
                                                ("mnist5k", "builtin:mnist5k", "3m", 180.0),
                                                ("fewshot", "variant:digits-fewshot", "5m", 300.0),
                                                ("digits-native", "builtin:digits", "2m", 120.0),
                                                ("mnist5k-own", "builtin:mnist5k", "3m", 180.0)):
            if name not in cases:
                continue
            if dataset and dataset.startswith("variant:"):  # an ImageFolder tree written once (benchmarks/rank_variants.py)
                sys.path.insert(0, str(ROOT / "benchmarks"))
                from rank_variants import build_variant

                dataset = build_variant(dataset.split(":", 1)[1], ROOT / "bench-out" / "rank-variants")
            NATIVE = name == "digits-native"
            SIZE = [] if NATIVE else ["--image-size", "32"]
            RUN_SIZE = [] if name == "mnist5k-own" else None  # the run chooses; the fine-tune stays at 32 px
            pairs = compare(name, dataset, budget, budget_s, tmp, max(1, args.repeats), args.overshoot)
            rows.extend(pairs)
            if len(pairs) > 1:
                medians[name] = pairs
    print("\ncase                          run val top-1   run wall s   finetune val top-1   finetune wall s (epochs)"
          "   run winner")
    for name, rv, rw, fv, fw, fe, model in rows:
        ftxt = f"{fw:.0f} ({fe})" if fw is not None else "-"
        print(f"{name:<30}{fmt(rv):>14}{rw:>13.0f}{fmt(fv):>21}{ftxt:>26}   {model}")
    for name, pairs in medians.items():
        won = sum(1 for p in pairs if p[1] is not None and p[3] is not None and p[1] > p[3] + 1e-9)
        tied = sum(1 for p in pairs if p[1] is not None and p[3] is not None and abs(p[1] - p[3]) <= 1e-9)
        print(f"{name}: median of {len(pairs)} pairs: run {fmt(median([p[1] for p in pairs]))} "
              f"(wall {median([p[2] for p in pairs]):.0f} s) vs finetune {fmt(median([p[3] for p in pairs]))} "
              f"(wall {median([p[4] for p in pairs]):.0f} s); run won {won}, tied {tied}, lost {len(pairs) - won - tied}")


if __name__ == "__main__":
    sys.exit(main())
