"""How well a model's size counts price the Quick-Tune extended meta-dataset's recorded epoch seconds.

The shipped prior's cost model describes a model by its parameters and input size (zoo/descriptors.py). This asks
whether the counts of one traced forward pass (zoo/forward_cost.py: GFLOPs, and activations, the elements written
by convolutions and matrix products) would price the 24 models' epochs better. For every run with at least two
epochs, the median seconds of its epochs after the first; a least-squares fit of their log with one intercept per
dataset (its size), the run's log batch size, ``amp``, ``pct_to_freeze`` and ``linear_probing`` as controls, and
the model described by each candidate set of features (runs read by hf_quicktune.meta.importers); printed: the
residual standard deviation of log seconds (0.1 = ~10 % typical error) and R^2, with the model's one-hot (every model its own cost: the best any description
can do on these 24) and no model feature at all (the floor) side by side.

Then leave-models-out, non-linear: scikit-learn's GradientBoostingRegressor on the run's controls, the dataset's
log training images (its size: per-dataset intercepts would see the held-out runs) and the model's
descriptors (zoo/descriptors.py: params, input px, pretraining images, attention share: what the prior's cost
model gets), with and without log activations, trained on the runs of 20 models and scored (RMSE of log seconds)
on the other 4, 6 folds of the 24 models (seeded): how well each description prices models it never saw.

    .venv/bin/python benchmarks/meta_cost_counts.py [--meta-dataset ../shared/metadatasets/quicktune-extended]
"""

from __future__ import annotations

import argparse
import math
import warnings
from pathlib import Path

import numpy as np


def _model_counts(arch: str) -> dict[str, float] | None:
    from hf_quicktune.zoo.descriptors import architecture_facts
    from hf_quicktune.zoo.forward_cost import forward_cost

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        facts = architecture_facts(arch)
        if not facts:
            return None
        size = int(facts["input_px"])
        cost = forward_cost(arch, size)
        if cost is None:  # a transformer built for one size only
            cost = forward_cost(arch, size, size)
    if cost is None:
        return None
    from hf_quicktune.zoo.descriptors import describe_architecture

    desc = describe_architecture(arch)
    return {"params": facts["params_m"], "px": float(size), "gflops": cost.gflops, "act": cost.activations_m,
            "pretrain": float(desc.get("pretrain_images_m") or 0.0), "attention": float(desc.get("attention") or 0.0)}


def _fit(y: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    res = y - x @ coef
    return float(np.sqrt(np.mean(res ** 2))), float(1 - res.var() / y.var())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meta-dataset", default=str(Path(__file__).resolve().parents[2] / "shared/metadatasets"
                                                     / "quicktune-extended"))
    parser.add_argument("--seed", type=int, default=0, help="the leave-models-out folds and the regressor")
    args = parser.parse_args()
    from hf_quicktune.meta.importers import import_meta_dataset

    md = import_meta_dataset(Path(args.meta_dataset))  # the project's importer: configs decoded, costs per epoch
    archs = sorted(set(md.models.tolist()))
    counts = {a: _model_counts(a) for a in archs}
    print(f"{'model':<44} {'params M':>8} {'px':>4} {'GFLOPs':>8} {'M act':>8}")
    for a in archs:
        c = counts[a]
        print(f"{a:<44} " + ("not built" if c is None else
                             f"{c['params']:>8.1f} {c['px']:>4.0f} {c['gflops']:>8.2f} {c['act']:>8.2f}"))
    rows = []
    for d, arch, cfg, costs in zip(md.datasets, md.models, md.configs, md.costs):
        secs = costs[np.isfinite(costs)]
        if len(secs) < 2 or counts[arch] is None:
            continue
        rows.append((str(d), str(arch), math.log(float(np.median(secs[1:]))), math.log(float(cfg["batch_size"])),
                     float(bool(cfg["amp"])), float(cfg["pct_to_freeze"]), float(bool(cfg["linear_probing"]))))
    datasets = sorted(set(r[0] for r in rows))
    y = np.array([r[2] for r in rows])
    controls = np.array([[*(r[0] == d for d in datasets), r[3], r[4], r[5], r[6]] for r in rows], dtype=float)
    log = {k: np.array([math.log(counts[r[1]][k]) for r in rows]) for k in ("params", "px", "gflops", "act")}
    log.update({k: np.array([counts[r[1]][k] for r in rows]) for k in ("pretrain", "attention")})  # not logged
    onehot = np.array([[r[1] == a for a in archs] for r in rows], dtype=float)
    sets = {
        "no model feature (floor)": [],
        "params + input px (the prior's today)": [log["params"], log["px"]],
        "GFLOPs": [log["gflops"]],
        "activations": [log["act"]],
        "GFLOPs + activations": [log["gflops"], log["act"]],
        "params + input px + activations": [log["params"], log["px"], log["act"]],
    }
    print(f"\n{len(rows)} runs of >= 2 epochs, {len(set(r[1] for r in rows))} models, {len(datasets)} datasets; "
          "log of the median epoch seconds after the first")
    print(f"{'model described by':<40} {'resid. std (log)':>16} {'R^2':>6}")
    for name, cols in sets.items():
        x = np.column_stack([controls, *cols]) if cols else controls
        std, r2 = _fit(y, x)
        print(f"{name:<40} {std:>16.3f} {r2:>6.3f}")
    std, r2 = _fit(y, np.column_stack([controls[:, :-4], onehot, controls[:, -4:]]))
    print(f"{'one-hot model (ceiling)':<40} {std:>16.3f} {r2:>6.3f}")
    images = {str(d): float(n) for d, n in md.meta_features["num_train"].items()}  # training images
    _leave_models_out(rows, y, controls, log, archs, images, args.seed)


def _leave_models_out(rows, y, controls, log, archs, images: dict[str, float], seed: int) -> None:
    from sklearn.ensemble import GradientBoostingRegressor

    # the dataset's number of images (its meta-feature; the linear fit's intercepts would see the held-out runs),
    # then the run's controls
    base = np.column_stack([np.log([images[r[0]] for r in rows]), controls[:, -4:]])
    descriptors = [log["params"], log["px"], np.log1p(log["pretrain"]), log["attention"]]
    sets = {"descriptors (the prior's cost model)": descriptors, "descriptors + activations": [*descriptors, log["act"]],
            "activations alone": [log["act"]]}
    order = np.random.default_rng(seed).permutation(len(archs))
    folds = [set(np.asarray(archs)[order[k::6]]) for k in range(6)]
    model_of = np.array([r[1] for r in rows])
    print("\nleave-models-out (6 folds of 4 models), GradientBoostingRegressor, RMSE of log seconds on held-out models:")
    print(f"{'model described by':<40} " + " ".join(f"{'fold ' + str(k):>7}" for k in range(6)) + f" {'all':>7}")
    for name, cols in sets.items():
        x = np.column_stack([base, *cols])
        errs, per_fold = np.empty(len(y)), []
        for held in folds:
            test = np.isin(model_of, list(held))
            reg = GradientBoostingRegressor(random_state=seed).fit(x[~test], y[~test])
            errs[test] = reg.predict(x[test]) - y[test]
            per_fold.append(float(np.sqrt(np.mean(errs[test] ** 2))))
        print(f"{name:<40} " + " ".join(f"{v:>7.3f}" for v in per_fold) + f" {float(np.sqrt(np.mean(errs ** 2))):>7.3f}")


if __name__ == "__main__":
    main()
