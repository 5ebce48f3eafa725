"""Which trial should the end of a budget finish? Replayed on the Quick-Tune extended meta-dataset's real curves.

A run's search ends by training one trial to the end of its schedule (``run/search_loop.Search.finishing``). Its
choice is made among trials paused at different epochs: the one searched longest has had the most epochs to climb.
This script replays the run's recipe (``quicktune-recipe``: the fold's prior, zero-shot start, learnt
``initial_epochs``; leave-datasets-out folds as ``quicktune_extended_regret.py``) on each dataset for a share of the
16-hour budget, stops it there, and scores each rule for the trial to finish:

* ``observed``: the trial of the best score observed at any epoch (``Optimizer.best``);
* ``predicted``: the started, unfinished trial whose accuracy at the end of its schedule the surrogate predicts
  highest (``QuickTuneOptimizer.predict_final``), against the best observed when that is higher;
* ``same_epoch`` (the product's rule, ``hf_quicktune.search.leader``): the best observed, unless an open trial
  searched fewer epochs scores higher than it at that trial's own epoch count (equal epochs, as successive halving
  compares trials): then the one that does by most (any lead);
* ``same_epoch_z``: the same, counting a lead only beyond ``--z`` (default 1, the product's ``SAME_EPOCH_Z``) standard
  errors of the two accuracies' difference on the dataset's validation images (20 % of its images: the
  meta-dataset's 60/20/20 splits);
* ``extrapolated``: the open trial whose observed curve, extrapolated by a saturating power law
  ``y(t) = a - b t^-c`` (b >= 0, c on a grid, least squares; Domhan et al. 2015 use such families) to the end of
  its schedule, ends highest (a trial of fewer than three epochs: its best observed), against the best observed;
* ``oracle``: the started trial whose recorded curve ends best (what no rule can know).

Finishing a trial reads the rest of its recorded curve: its value is its best recorded accuracy (the export keeps
the best epoch), and the run's result is the better of that and the best observed before the finishing. Printed per
share: mean normalised regret over datasets ((y_best - result) / (y_best - y_worst), over every epoch of every
run), how often the rules chose differently, and who won those.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/finish_choice.py [--shares 0.25,0.5] [--datasets A,B] [--seed 0]

Needs the converted meta-dataset (bench-out/quicktune-extended.parquet) and reads or builds the fold priors under
bench-out/quicktune-extended/priors, as ``quicktune_extended_regret.py`` does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from hf_quicktune.search.leader import equal_epoch_leader

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "metadatasets" / "quicktune-extended"
OUT = ROOT / "bench-out" / "quicktune-extended"


def trial_value(curves: np.ndarray, tid: int) -> float:
    """What finishing ``tid`` yields: its best recorded accuracy (NaN after a run ended)."""
    row = curves[tid]
    return float(np.nanmax(row)) if np.isfinite(row).any() else float("-inf")


POWER_EXPONENTS = np.geomspace(0.05, 4.0, 40)


def extrapolate(scores: list[float], to_epoch: int) -> float:
    """The score a saturating power law ``a - b t^-c`` fitted to ``scores`` (epochs 1..k, least squares, ``b >= 0``,
    the best ``c`` of a grid) reaches at ``to_epoch``, within [best observed, 1]; the best observed for fewer than
    three finite scores."""
    y = np.asarray([v for v in scores if v is not None and np.isfinite(v)], dtype=np.float64)
    t = np.arange(1, len(scores) + 1, dtype=np.float64)[[v is not None and np.isfinite(v) for v in scores]]
    if len(y) < 3:
        return float(np.max(y)) if len(y) else float("-inf")
    best_sse, best_value = np.inf, float(np.max(y))
    for c in POWER_EXPONENTS:
        basis = np.stack([np.ones_like(t), -(t ** -c)], axis=1)
        (a, b), *_ = np.linalg.lstsq(basis, y, rcond=None)
        if b < 0:  # a decreasing curve: its best observed
            continue
        sse = float(((basis @ np.array([a, b]) - y) ** 2).sum())
        if sse < best_sse:
            best_sse, best_value = sse, float(a - b * to_epoch ** -c)
    return float(min(max(best_value, np.max(y)), 1.0))


def choices(opt, curves: np.ndarray, val_images: int | None = None, z: float = 1.0) -> dict[str, tuple[int | None, float]]:
    """``{rule: (trial finished or None, the run's result)}`` for the optimizer's state now (``same_epoch_z``: a
    lead counts beyond ``z`` standard errors on ``val_images`` validation images, as the product's default)."""
    observed = opt.best()
    incumbent = observed[2] if observed is not None else float("-inf")
    open_ = [t for t, st in opt.trials.items() if st.epochs and not opt.is_done(t)]
    out: dict[str, tuple[int | None, float]] = {}

    def result(tid: int | None) -> float:
        return max(incumbent, trial_value(curves, tid)) if tid is not None else incumbent

    best_tid = observed[0] if observed is not None else None
    out["observed"] = (best_tid, result(best_tid if best_tid in open_ else None))
    out["same_epoch"] = (same := equal_epoch_leader(opt.trials, open_, best_tid), result(same))
    same = equal_epoch_leader(opt.trials, open_, best_tid, val_images=val_images, z=z)
    out["same_epoch_z"] = (same, result(same))
    if open_:
        mean, _ = opt.predict_final(open_)
        pick = open_[int(np.argmax(mean))]
        # the surrogate's forecast against what is observed: a trial already finished better stays the result
        out["predicted"] = (pick, result(pick))
        forecast = {t: extrapolate(list(opt.trials[t].scores), opt.max_epochs) for t in open_}
        pick = max(open_, key=lambda t: (forecast[t], -t))
        out["extrapolated"] = (pick, result(pick))
        oracle = max(open_, key=lambda t: trial_value(curves, t))
        out["oracle"] = (oracle, result(oracle))
    else:
        out["predicted"] = out["extrapolated"] = out["oracle"] = (None, incumbent)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shares", default="0.25,0.5", help="Shares of the 16-hour budget after which the search stops.")
    p.add_argument("--datasets", default=None, help="Comma-separated dataset names (default: all 26).")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget-hours", type=float, default=16.0)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--z", type=float, default=1.0, help="standard errors a lead needs under the same_epoch_z rule")
    args = p.parse_args()

    from extended_tasks import ExtendedTasks

    from hf_quicktune.bench.methods import METHODS
    from hf_quicktune.bench.regret import reference_values
    from hf_quicktune.bench.replay import replay

    extended = ExtendedTasks(args.out, SOURCE)
    md = extended.md
    shares = sorted(float(s) for s in args.shares.split(","))
    targets = args.datasets.split(",") if args.datasets else md.dataset_names
    budget = args.budget_hours * 3600.0
    # validation images: the meta-dataset's 60/20/20 splits of each dataset's images (its README)
    images = json.loads((SOURCE / "dataset_descriptors.json").read_text())
    rows: dict[float, list[dict]] = {s: [] for s in shares}
    for dataset in targets:
        t0 = time.perf_counter()
        task, curves, costs = extended.task(dataset)
        best, worst = reference_values(curves)
        opt = METHODS["quicktune-recipe"](task, args.seed)
        spent = 0.0
        for share in shares:
            trace = replay(opt, curves, costs, share * budget - spent)
            spent += trace.time[-1] if trace.time else 0.0
            picked = choices(opt, curves, val_images=round(0.2 * images[dataset][0]), z=args.z)
            regret = {rule: (best - value) / (best - worst) for rule, (_, value) in picked.items()}
            rows[share].append({"dataset": dataset, "trials": len(opt.trials),
                                "epochs": {str(t): st.epochs for t, st in opt.trials.items()},
                                "picked": {r: t for r, (t, _) in picked.items()}, "regret": regret})
            print(json.dumps({"share": share, **rows[share][-1]}), flush=True)
        print(f"# {dataset}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)

    print()
    rules = ("observed", "same_epoch", "same_epoch_z", "predicted", "extrapolated", "oracle")
    print(f"share  datasets  mean regret: {'  '.join(rules)} | rules differ from observed: better / worse / equal "
          f"(same_epoch_z: z = {args.z})")
    for share in shares:
        rs = rows[share]
        mean = {r: float(np.mean([x["regret"][r] for x in rs])) for r in rules}
        text = []
        for rule in rules[1:-1]:
            diff = [x for x in rs if x["picked"]["observed"] != x["picked"][rule]]
            better = sum(x["regret"][rule] < x["regret"]["observed"] - 1e-12 for x in diff)
            worse = sum(x["regret"][rule] > x["regret"]["observed"] + 1e-12 for x in diff)
            text.append(f"{rule} {len(diff)} differ: {better} / {worse} / {len(diff) - better - worse}")
        print(f"{share:5.2f}  {len(rs):8d}  " + "  ".join(f"{mean[r]:{len(r)}.4f}" for r in rules) +
              f" | {'; '.join(text)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
