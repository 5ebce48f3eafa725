"""Does a prior's zero-shot start fit the run's schedule? Trees on the best accuracy over 50 epochs vs over ``h``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/zero_shot_horizon.py [--source ../shared/metadatasets/quicktune-extended]

A ``run`` fits its schedule (``--max-epochs``) to the budget: a few epochs on a small one. The prior's zero-shot
trees (hf_quicktune/search/zero_shot.py) pick the first trial and half the pool; fitted on each run's best accuracy
over its whole 50-epoch curve (``final``, the default) they ignore the schedule; fitted on the best accuracy within
``h`` epochs with ``h`` an input (``horizon``, ``MetaTrainConfig.zero_shot_horizons=HORIZONS``) the optimizer asks
at its schedule's length.

Protocol: leave-datasets-out on the Quick-Tune extended meta-dataset, the folds of benchmarks/prior_transfer.py
(5 folds of the 26 datasets, seed 0), the prior's encoder (model descriptors) built as meta-training builds it; only
the trees are fitted (no GP: they do not depend on it). For each held-out dataset and horizon ``h``, the target is
each run's best accuracy within its first ``h`` epochs (the epochs it has when shorter: a one-epoch failure stays
one). Printed per horizon, mean over the 26 held-out datasets: Spearman of the prediction with the target (all
runs) and the normalised regret of the single zero-shot pick (0: the dataset's best run at ``h``; 1: its worst), with
a paired 95 % bootstrap interval of the difference (horizon - final) over datasets.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hf_quicktune.meta.importers import import_meta_dataset  # noqa: E402
from hf_quicktune.meta.train import HORIZONS, build_encoder, fit_zero_shot, split_datasets, zero_shot_inputs  # noqa: E402
from hf_quicktune.search.space import Space  # noqa: E402

EVAL_HORIZONS = (1, 2, 3, 5, 10, 20, 50)
VARIANTS = {"final": None, "horizon": HORIZONS}  # the default trees; the horizon-aware ablation


def best_within(curves: np.ndarray, h: int) -> np.ndarray:
    c = curves[:, :h]
    return np.max(np.where(np.isfinite(c), c, -np.inf), axis=1)


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    r = spearmanr(a, b).statistic
    return float(r) if np.isfinite(r) else float("nan")


def norm_regret(y: np.ndarray, pick: int) -> float:
    lo, hi = y[np.isfinite(y)].min(), y.max()
    return float((hi - y[pick]) / (hi - lo)) if hi > lo else float("nan")


def paired_ci(diff: np.ndarray, seed: int = 0) -> tuple[float, float]:
    diff = diff[np.isfinite(diff)]
    rng = np.random.default_rng(seed)
    means = [rng.choice(diff, len(diff)).mean() for _ in range(2000)]
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared/metadatasets/quicktune-extended")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    md = import_meta_dataset(args.source)
    space = Space.from_yaml(ROOT / "recipes/spaces/quicktune.yaml")
    names = sorted(md.dataset_names)
    order = [names[i] for i in np.random.default_rng(args.seed).permutation(len(names))]
    groups = [order[k::args.folds] for k in range(args.folds)]
    res = {(v, h): {"rho": [], "regret": []} for v in VARIANTS for h in EVAL_HORIZONS}
    for k, held in enumerate(groups):
        t0 = time.time()
        train = [d for d in names if d not in held]
        splits = split_datasets(train, (0.8, 0.2, 0.0), args.seed)
        encoder = build_encoder(md, splits["train"], space, "descriptors")
        trees = {v: fit_zero_shot(md, encoder, splits["train"] + splits["val"], args.seed, hs)
                 for v, hs in VARIANTS.items()}
        for d in held:
            idx = md.indices(d)
            x = zero_shot_inputs(md, encoder, idx, d)
            for h in EVAL_HORIZONS:
                y = best_within(md.curves[idx], h)
                for v, t in trees.items():
                    pred = t.predict(x, horizon=h)
                    res[(v, h)]["rho"].append(spearman(pred, y))
                    res[(v, h)]["regret"].append(norm_regret(y, int(np.argmax(pred))))
        print(f"  fold {k} ({', '.join(held)}): {time.time() - t0:.0f}s", flush=True)
    print(f"\nleave-datasets-out ({args.folds} folds, {len(names)} datasets), target: best accuracy within h epochs; "
          "mean over held-out datasets")
    print(f"{'h':>4}{'Spearman final':>16}{'horizon':>9}{'regret final':>14}{'horizon':>9}"
          f"{'regret diff [95% CI]':>28}{'better/worse':>14}")
    for h in EVAL_HORIZONS:
        f, z = res[("final", h)], res[("horizon", h)]
        diff = np.array(z["regret"]) - np.array(f["regret"])
        lo, hi = paired_ci(diff, args.seed)
        print(f"{h:>4}{np.nanmean(f['rho']):>16.3f}{np.nanmean(z['rho']):>9.3f}{np.nanmean(f['regret']):>14.3f}"
              f"{np.nanmean(z['regret']):>9.3f}{np.nanmean(diff):>+12.3f} [{lo:+.3f}, {hi:+.3f}]"
              f"{int((diff < -1e-9).sum()):>8}/{int((diff > 1e-9).sum())}")


if __name__ == "__main__":
    main()
