"""What the recipe's acquisition saw, ask by ask, on one dataset of the Quick-Tune extended meta-dataset.

Replays ``quicktune-recipe`` (its fold prior from ``quicktune_extended_regret.py --priors-only``) on one dataset
and prints, at every ``--every``-th ask, the three best-scored steps (trial, epoch, new or continued, the
surrogate's mean and std, predicted cost, acquisition value) and the pool's best configurations by their
recorded best accuracy (``--watch`` of them) with the same figures and the truth: how far the surrogate's
belief about the configurations it never tried is from what they reach. Then a summary (the untried
configurations' median std along the replay; the GP's outputscale and noise and the calibration's std factor
at its start, middle and end; the watched ones' predictions and acquisition in its second half; the step
chosen most there) and the regret at 10/25/50/100 %. The logging's extra prediction per ask
is counted in the replay's overhead like the optimizer's own time (a few seconds of a 16 h budget).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/acquisition_trace.py --dataset PLT_NET
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, help="A dataset of the extended meta-dataset, e.g. PLT_NET.")
    p.add_argument("--bench-out", type=Path, default=Path("bench-out"),
                   help="Where quicktune_extended_regret.py keeps its parquet and fold priors.")
    p.add_argument("--watch", type=int, default=5, help="How many of the best configurations to follow.")
    p.add_argument("--every", type=int, default=3, help="Print every k-th ask (the first 20 always).")
    p.add_argument("--options", default="{}", help="JSON keyword options of the recipe (e.g. '{\"lr\": 0.001}').")
    args = p.parse_args(argv)

    import numpy as np
    import torch

    from hf_quicktune.bench.presets import preset
    from hf_quicktune.bench.runner import BenchConfig, make_task, run_bench
    from hf_quicktune.meta import load_meta_dataset
    from hf_quicktune.search import quicktune as qt

    torch.set_num_threads(1)
    parquet = args.bench_out / "quicktune-extended.parquet"
    priors = args.bench_out / "quicktune-extended" / "priors"
    if not parquet.is_file() or not priors.is_dir():
        p.error(f"{parquet} or {priors} is missing: run benchmarks/quicktune_extended_regret.py --priors-only first")
    md = load_meta_dataset(parquet)
    if args.dataset not in md.dataset_names:
        p.error(f"{args.dataset!r} is not in the meta-dataset; choose from {', '.join(md.dataset_names)}")
    _, curves, _ = make_task(md, args.dataset)
    best = np.nanmax(curves, axis=1)
    watch = [int(i) for i in np.argsort(-best)[: args.watch]]
    print(f"== {args.dataset}: watching pool members {watch} (recorded best accuracy "
          f"{', '.join(f'{best[i]:.3f}' for i in watch)})")

    original = qt.QuickTuneOptimizer.acquisition_values
    asks = {"n": 0}

    history: list[dict] = []  # per ask: untried configurations' median std, the watched ones', the top step

    def logged(self, ids):  # type: ignore[no-untyped-def]
        values = original(self, ids)
        asks["n"] += 1
        ids = list(ids)
        mean, std, cost = self.predict(ids, noise=False)
        order = np.argsort(-values)
        started = set(self.trials)
        untried = [j for j, i in enumerate(ids) if i not in started]
        history.append({"untried_std": float(np.median(std[untried])) if untried else np.nan,
                        "watched": [(float(mean[ids.index(w)]), float(values[ids.index(w)])) for w in watch
                                    if w in ids and w not in started],
                        "top": (ids[order[0]], ids[order[0]] in started, float(values[order[0]])),
                        "kernel": _kernel_text(self)})
        if asks["n"] > 20 and asks["n"] % args.every:
            return values

        def cell(j: int) -> str:
            kind = "cont" if ids[j] in started else "new"
            return (f"#{ids[j]} e{self.next_epoch(ids[j])} {kind} mean {mean[j]:.3f} std {std[j]:.3f} "
                    f"cost {cost[j]:.0f}s acq {values[j]:.1e}")

        print(f"ask {asks['n']}: " + " | ".join(cell(j) for j in order[:3]))
        seen = [f"{cell(ids.index(w))} true {best[w]:.3f}" for w in watch if w in ids]
        if seen:
            print("    watched: " + " | ".join(seen))
        return values

    qt.QuickTuneOptimizer.acquisition_values = logged
    fields = preset("quicktune-extended")
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(priors, Path(tmp) / "priors")
        cfg = BenchConfig(methods=["quicktune-recipe"], seeds=1, budget_seconds=fields["budget_seconds"],
                          folds=fields["folds"], datasets=[args.dataset], meta_train=fields["meta_train"],
                          space=fields["space"], method_options={"quicktune-recipe": json.loads(args.options)})
        res = run_bench(md, cfg, tmp)
    half = len(history) // 2
    late = history[half:]
    means = [m for h in late for m, _ in h["watched"]]
    acqs = [a for h in late for _, a in h["watched"]]
    print(f"\nsummary of {len(history)} asks: untried configurations' median posterior std {history[0]['untried_std']:.3f} "
          f"at ask 1, {history[half]['untried_std']:.3f} at ask {half + 1}, {history[-1]['untried_std']:.3f} at the last")
    print(f"  the GP's hyperparameters at ask 1: {history[0]['kernel']}; at ask {half + 1}: "
          f"{history[half]['kernel']}; at the last: {history[-1]['kernel']}")
    if means:
        print(f"  the watched configurations not tried, from ask {half + 1} on: predicted mean {min(means):.3f}-"
              f"{max(means):.3f} (recorded best {min(best[w] for w in watch):.3f}-{max(best[w] for w in watch):.3f}), "
              f"acquisition at most {max(acqs):.1e}")
    continued = [h["top"] for h in late if h["top"][1]]
    if continued:
        tid = max(set(t for t, _, _ in continued), key=[t for t, _, _ in continued].count)
        vals = [a for t, _, a in continued if t == tid]
        print(f"  the step chosen most from ask {half + 1} on: continuing trial {tid} ({len(vals)} of {len(late)} asks, "
              f"acquisition {min(vals):.1e}-{max(vals):.1e}; its recorded best {best[tid]:.3f})")
    row = res.checkpoints.iloc[0]
    print("regret at 10/25/50/100 %: " + " / ".join(f"{row[f'regret@{cp:g}']:.3f}" for cp in (0.1, 0.25, 0.5, 1.0)))
    return 0


def _kernel_text(opt) -> str:  # type: ignore[no-untyped-def]
    """The fitted kernel's outputscale and noise and the std factor of a new trial's forecast (calibration)."""
    gp = opt.surrogate.gp
    return (f"outputscale {float(gp.covar_module.outputscale):.4f}, noise {float(gp.likelihood.noise):.1e}, "
            f"new-trial std factor {opt.calibration.scale('new'):.2f}")


if __name__ == "__main__":
    sys.exit(main())
