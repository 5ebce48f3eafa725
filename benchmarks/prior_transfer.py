"""How much a meta-learned prior knows before any observation, on the Quick-Tune extended meta-dataset.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/prior_transfer.py [--source ../shared/metadatasets/quicktune-extended]
    # or split: --only datasets; --only models --model-folds 0,1,2 > a.log; ... 3,4,5 > b.log; --combine a.log b.log

Two protocols, each with the models encoded by descriptors (hf_quicktune.zoo.descriptors: features every
model has), by the descriptors and the activations of the model's forward pass (``desc+act``, an ablation: counted
here by hf_quicktune.zoo.forward_cost, not a descriptor of the shipped prior) and by identity (one-hot / a learned
embedding per model, the paper's encoding), side by side (``--encodings``):

* **leave-datasets-out** (5 folds of the 26 datasets): a prior meta-trained without the fold's datasets
  predicts, from the configuration, the model and the dataset's meta-features alone, the final accuracy
  of every run of each held-out dataset. Printed: Spearman with the run's best accuracy per dataset
  (over runs longer than one epoch, and over all runs), and the normalised regret of its single
  zero-shot pick. ``prior`` is what a search starts from (the prior's zero-shot trees, search/zero_shot.py, since
  session 26), ``prior-gp`` its surrogate's mean alone (the start before). Yardstick computed in the same script on
  the same folds: scikit-learn's GradientBoostingRegressor on the same inputs (target: best accuracy).
* **leave-models-out** (6 folds of 4 of the 24 models): trained on every dataset's runs of the other
  20 models, predict the held-out models' runs; Spearman per (dataset) over those runs.

The meta-training settings are those of the shipped prior (tools/build_default_prior.py).
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
from hf_quicktune.meta.train import MetaTrainConfig, meta_train, split_datasets  # noqa: E402
from hf_quicktune.search.quicktune import QuickTuneOptimizer  # noqa: E402
from hf_quicktune.search.space import Space  # noqa: E402

#: name -> (the meta-training model encoding, with the forward pass's activations as a fifth descriptor)
ENCODINGS = {"descriptors": ("descriptors", False), "desc+act": ("descriptors", True), "onehot": ("onehot", False)}
#: the prior's zero-shot (its trees: what a search starts from), its surrogate's mean alone, the yardstick
METHODS = ("prior", "prior-gp", "gbr")


def with_activations(md):
    """``md`` with ``activations_m`` beside its descriptors: millions of activations of one forward pass of each
    model at its own input size (:func:`hf_quicktune.zoo.forward_cost.forward_cost`, counted on the meta device)."""
    import copy

    from hf_quicktune.zoo.forward_cost import forward_cost

    out = copy.copy(md)
    feats = md.model_features.copy()
    feats["activations_m"] = [getattr(forward_cost(str(m), int(feats.loc[m, "input_px"])), "activations_m", np.nan)
                              for m in feats.index]
    out.model_features = feats
    return out


def best_accuracy(md, idx):
    return np.nanmax(md.curves[idx], axis=1)


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    r = spearmanr(a, b).statistic
    return float(r) if np.isfinite(r) else float("nan")


def prior_predictions(prior, md, idx, dataset, trees: bool = True) -> np.ndarray:
    """The prior's configuration-only prediction of each run's accuracy (the optimizer's zero-shot): by its zero-shot
    trees (``trees``, the default since session 26), or by its surrogate's mean at the last epoch."""
    pool = [dict(md.configs[i], model=md.models[i]) for i in idx]
    meta = {k: float(v) for k, v in md.meta_features.loc[dataset].items()}
    opt = QuickTuneOptimizer(pool, max_epochs=md.max_epochs, prior=prior, meta_features=meta,
                             model_features=md.model_feature_rows() or None, zero_shot_trees=trees)
    return opt.zero_shot(range(len(pool)))


def gbr_inputs(md, idx, encoding: str, space, models: list[str]) -> np.ndarray:
    pool = [dict(md.configs[i], model=md.models[i]) for i in idx]
    x = space.encode(pool, exclude=("model",))
    feats = md.model_feature_rows()
    if ENCODINGS[encoding][0] == "descriptors":
        m = np.array([[np.log1p(v) for v in feats[str(md.models[i])].values()] for i in idx])
    else:
        m = np.array([[float(md.models[i] == name) for name in models] for i in idx])
    meta = np.log1p(md.meta_features.loc[md.datasets[idx]].to_numpy(dtype=float))
    return np.hstack([x, m, meta])


def train_prior(md, train_datasets, encoding, space, seed, steps):
    splits = split_datasets(train_datasets, (0.8, 0.2, 0.0), seed)
    cfg = MetaTrainConfig(steps=steps, seed=seed, split=(0.8, 0.2, 0.0), model_encoding=ENCODINGS[encoding][0])
    return meta_train(md, cfg, space=space, splits=splits).prior


def norm_regret(best_acc: np.ndarray, pick: int) -> float:
    lo, hi = best_acc.min(), best_acc.max()
    return float((hi - best_acc[pick]) / (hi - lo)) if hi > lo else float("nan")


def leave_datasets_out(md, space, folds: int, seed: int, steps: int, encodings: list[str]) -> None:
    from sklearn.ensemble import GradientBoostingRegressor

    names = sorted(md.dataset_names)
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    groups = [order[k::folds] for k in range(folds)]
    models = sorted({str(m) for m in md.models})
    res = {(m, e): {"rho_long": [], "rho_all": [], "regret": []} for m in METHODS for e in encodings}
    lengths = md.lengths
    variants = {enc: with_activations(md) if ENCODINGS[enc][1] else md for enc in encodings}
    for k, held in enumerate(groups):
        train = [d for d in names if d not in held]
        train_idx = np.flatnonzero(np.isin(md.datasets, train))
        for enc in encodings:
            t0 = time.time()
            data = variants[enc]
            prior = train_prior(data.subset(train), train, enc, space, seed, steps)
            gbr = GradientBoostingRegressor(random_state=seed).fit(
                gbr_inputs(data, train_idx, enc, space, models), best_accuracy(md, train_idx))
            for d in held:
                idx = md.indices(d)
                y = best_accuracy(md, idx)
                long = lengths[idx] > 1
                for method, pred in (("prior", prior_predictions(prior, data, idx, d)),
                                     ("prior-gp", prior_predictions(prior, data, idx, d, trees=False)),
                                     ("gbr", gbr.predict(gbr_inputs(data, idx, enc, space, models)))):
                    r = res[(method, enc)]
                    r["rho_all"].append(spearman(pred, y))
                    r["rho_long"].append(spearman(pred[long], y[long]))
                    r["regret"].append(norm_regret(y, int(np.argmax(pred))))
            print(f"  fold {k} ({', '.join(held)}), {enc}: {time.time() - t0:.0f}s", flush=True)
    print("\nleave-datasets-out (5 folds, 26 datasets): Spearman(prediction, best accuracy) per held-out dataset, "
          "mean [min]; zero-shot pick's normalised regret, mean")
    print(f"{'method':<10}{'models as':<13}{'runs > 1 epoch':>20}{'all runs':>20}{'zero-shot regret':>18}")
    for (method, enc), r in res.items():
        print(f"{method:<10}{enc:<13}{np.nanmean(r['rho_long']):>13.3f} [{np.nanmin(r['rho_long']):.2f}]"
              f"{np.nanmean(r['rho_all']):>13.3f} [{np.nanmin(r['rho_all']):.2f}]{np.nanmean(r['regret']):>18.3f}")


def cost_log_errors(prior, md, idx, dataset) -> np.ndarray:
    """log(predicted / recorded) epoch seconds of runs ``idx`` by the prior's cost model: the second epoch
    predicted from the configuration alone, against the median of the run's epochs after the first (the first
    holds start-up work; the runs have >= 2 epochs)."""
    enc = prior.encoder
    configs = [dict(md.configs[i], model=md.models[i]) for i in idx]
    meta = {k: float(v) for k, v in md.meta_features.loc[dataset].items()}
    inputs = enc.encode(configs, [2] * len(idx), [[]] * len(idx), meta_features=meta,
                        model_features=md.model_feature_rows() or None)
    predicted = prior.cost_model.predict(inputs)
    recorded = np.array([np.nanmedian(md.costs[i, 1:md.lengths[i]]) for i in idx])
    return np.log(predicted) - np.log(recorded)


def leave_models_out(md, space, folds: int, seed: int, steps: int, encodings: list[str],
                     only: list[int] | None = None) -> None:
    from sklearn.ensemble import GradientBoostingRegressor

    models = sorted({str(m) for m in md.models})
    order = [models[i] for i in np.random.default_rng(seed).permutation(len(models))]
    groups = [order[k::folds] for k in range(folds)]
    names = md.dataset_names
    res = {(m, e): [] for m in METHODS for e in encodings}
    cost_rmse: dict[str, list[float]] = {e: [] for e in encodings}
    variants = {enc: with_activations(md) if ENCODINGS[enc][1] else md for enc in encodings}
    for k, held in enumerate(groups):
        if only is not None and k not in only:
            continue
        sel = np.flatnonzero(~np.isin(md.models.astype(str), held))
        for enc in encodings:
            t0 = time.time()
            data = variants[enc]
            train_md = type(md)(datasets=md.datasets[sel], run_ids=md.run_ids[sel], models=md.models[sel],
                                configs=[md.configs[i] for i in sel], curves=md.curves[sel], costs=md.costs[sel],
                                meta_features=md.meta_features, info=dict(md.info), model_features=data.model_features)
            prior = train_prior(train_md, names, enc, space, seed, steps)
            gbr = GradientBoostingRegressor(random_state=seed).fit(
                gbr_inputs(data, sel, enc, space, models), best_accuracy(md, sel))
            n_new = 0
            fold_cost = []
            for d in names:
                idx = md.indices(d)
                idx = idx[np.isin(md.models[idx].astype(str), held) & (md.lengths[idx] > 1)]
                if len(idx) < 5:
                    continue
                n_new += 1
                fold_cost.append(float(np.sqrt(np.mean(cost_log_errors(prior, data, idx, d) ** 2))))
                y = best_accuracy(md, idx)
                res[("prior", enc)].append(spearman(prior_predictions(prior, data, idx, d), y))
                res[("prior-gp", enc)].append(spearman(prior_predictions(prior, data, idx, d, trees=False), y))
                res[("gbr", enc)].append(spearman(gbr.predict(gbr_inputs(data, idx, enc, space, models)), y))
            fold_rows = res[("prior", enc)][-n_new:], res[("gbr", enc)][-n_new:]
            print(f"  fold {k} ({', '.join(held)}), {enc}: {time.time() - t0:.0f}s; this fold's mean Spearman prior "
                  f"{np.nanmean(fold_rows[0]):.3f}, gbr {np.nanmean(fold_rows[1]):.3f}", flush=True)
            for method in METHODS:
                print(f"    values {method} {enc} {k}: " + " ".join(f"{v:.4f}" for v in res[(method, enc)][-n_new:]),
                      flush=True)
            cost_rmse[enc] += fold_cost
            print(f"    values cost {enc} {k}: " + " ".join(f"{v:.4f}" for v in fold_cost), flush=True)
    print("\nleave-models-out (6 folds of 4 held-out models): Spearman(prediction, best accuracy) over the held-out "
          "models' runs longer than one epoch, per dataset, mean [min] (n = datasets x folds)")
    for (method, enc), r in res.items():
        print(f"{method:<10}{enc:<13}{np.nanmean(r):>10.3f} [{np.nanmin(r):.2f}] n={len(r)}")
    _print_cost({enc: v for enc, v in cost_rmse.items()})


def _print_cost(cost_rmse: dict[str, list[float]]) -> None:
    print("\nthe prior's cost model on the held-out models' runs: RMSE of log epoch seconds (the second epoch, predicted "
          "from the configuration alone, vs the run's median epoch after the first), per dataset, mean [max]")
    for enc, r in cost_rmse.items():
        print(f"{'cost':<10}{enc:<13}{np.nanmean(r):>10.3f} [{np.nanmax(r):.2f}] n={len(r)}")


def combine(logs: list[Path]) -> None:
    """The leave-models-out table from the per-fold ``values`` lines of runs split with --model-folds."""
    res: dict[tuple[str, str], list[float]] = {}
    folds = set()
    for log in logs:
        for line in log.read_text().splitlines():
            if line.strip().startswith("values "):
                head, _, vals = line.strip().partition(": ")
                _, method, enc, fold = head.split()
                folds.add(int(fold))
                res.setdefault((method, enc), []).extend(float(v) for v in vals.split())
    print(f"leave-models-out (folds {sorted(folds)} of 6, 4 held-out models each): Spearman(prediction, best accuracy) "
          "over the held-out models' runs longer than one epoch, per dataset, mean [min] (n = datasets x folds)")
    for (method, enc), r in sorted(res.items()):
        if method != "cost":
            print(f"{method:<10}{enc:<13}{np.nanmean(r):>10.3f} [{np.nanmin(r):.2f}] n={len(r)}")
    costs = {enc: r for (method, enc), r in sorted(res.items()) if method == "cost"}
    if costs:
        _print_cost(costs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared/metadatasets/quicktune-extended")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=("datasets", "models"), help="run one protocol")
    parser.add_argument("--model-folds", default=None,
                        help="comma-separated leave-models-out folds to run (0-5; to split the work across processes)")
    parser.add_argument("--combine", nargs="+", type=Path, help="print the leave-models-out table from these logs")
    parser.add_argument("--encodings", default=",".join(ENCODINGS), help=f"comma-separated, of {list(ENCODINGS)}")
    args = parser.parse_args()
    if args.combine:
        return combine(args.combine)
    encodings = args.encodings.split(",")
    if set(encodings) - set(ENCODINGS):
        parser.error(f"--encodings: {sorted(set(encodings) - set(ENCODINGS))} unknown; choose from {list(ENCODINGS)}")
    import torch

    torch.set_num_threads(1)
    md = import_meta_dataset(args.source)
    space = Space.from_yaml(ROOT / "recipes/spaces/quicktune.yaml")
    if args.only in (None, "datasets"):
        leave_datasets_out(md, space, 5, args.seed, args.steps, encodings)
    if args.only in (None, "models"):
        only = [int(k) for k in args.model_folds.split(",")] if args.model_folds else None
        leave_models_out(md, space, 6, args.seed, args.steps, encodings, only)


if __name__ == "__main__":
    main()
