"""Diagnose the Quick-Tune surrogate and optimizer on the shared LCBench table (held-out tasks).

Four parts. ``surrogate``, ``prior`` and ``replay`` use tasks of one held-out fold (the bench's 5-fold
split, seed 0) and a prior meta-trained on the other folds only (leave-one-fold-out, as ``bench``
does); ``fidelity`` reads every task of the table and needs no prior:

``surrogate``: search-like episodes on each held-out task — ``--trials`` random trials observed up
    to random depths (every epoch of each is a conditioning point, exactly as the optimizer
    conditions), then predict (a) the next epoch of every observed trial and (b) epoch 1 of new
    configurations. Prints MSE and mean Gaussian negative log-likelihood of: an untrained
    surrogate, the untrained one after a search-time fit (DyHPO setting), the meta-learned prior
    conditioned without fitting, and the prior after a search-time fit (Quick-Tune setting); plus
    a "last value" / "mean" yardstick. Also the cost model's log-seconds error for new trials.

``prior``: how well the meta-learned prior ranks configurations of a held-out task before any
    observation: Spearman correlation of its predicted final accuracy (configuration alone) with the
    recorded final accuracy, per held-out task, next to two yardsticks: the mean z-scored final
    accuracy of each configuration over the *training* tasks (LCBench shares its 1,000
    configurations across tasks) and epoch-1 accuracy (what the one-epoch-ahead acquisition sees).

``fidelity``: how well the accuracy after k epochs ranks the configurations by final accuracy
    (Spearman per task, every task of the table; k = 1, 2, 3, 5, 10, 20): what a search that
    compares new trials after k epochs (``initial_epochs``) can know.

``replay``: the bench replay (recorded epoch seconds + measured optimizer CPU time) of several
    methods on a few held-out tasks x seeds; prints normalised regret at 10/25/50/100 % of a budget
    of ``--budget-runs`` median full runs, and how many distinct trials / max depth each visited.

    python benchmarks/quicktune_diagnostics.py surrogate --out /tmp/qtdiag
    python benchmarks/quicktune_diagnostics.py prior --out /tmp/qtdiag
    python benchmarks/quicktune_diagnostics.py fidelity --out /tmp/qtdiag
    python benchmarks/quicktune_diagnostics.py replay --out /tmp/qtdiag --tasks 3 --seeds 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LCBENCH = ROOT.parent / "shared" / "benchmarks" / "lcbench"


def load(out: Path, source: Path | None = None):
    from hf_quicktune.meta import import_meta_dataset, load_meta_dataset

    if source is not None:  # another meta-dataset: a parquet file or a folder in an importable layout
        return load_meta_dataset(source) if source.suffix == ".parquet" else import_meta_dataset(source)
    for cand in (out / "lcbench.parquet", ROOT / "bench-out" / "lcbench.parquet"):
        if cand.exists():
            return load_meta_dataset(cand)
    md = import_meta_dataset(LCBENCH)
    md.save(out / "lcbench.parquet")
    return md


def fold_prior(md, fold: int, out: Path, steps: int, lr: float | None = None, meta: dict | None = None,
               tag: str = ""):
    from hf_quicktune.bench.priors import fold_prior as make
    from hf_quicktune.bench.runner import dataset_folds

    folds = dataset_folds(md.dataset_names, 5, 0)
    held = folds[fold]
    train = md.subset([d for d in md.dataset_names if d not in held])
    opts = {"steps": steps, **(meta or {})}
    if lr is not None:
        opts["lr"] = lr
    tag = f"fold{fold}_s{steps}" + (f"_lr{lr:g}" if lr is not None else "") + (f"_{tag}" if tag else "")
    t0 = time.perf_counter()
    from hf_quicktune.bench.runner import load_space

    prior = make(train, held, out / "priors" / tag, space=load_space("lcbench"), **opts)
    prov = prior.provenance
    print(f"prior {tag}: best step {prov.get('best_step')}, val MSE {prov.get('val_mse')}, "
          f"test MSE {prov.get('test_mse')} ({time.perf_counter() - t0:.0f} s incl. cache)")
    return prior, held


def task_arrays(md, dataset):
    from hf_quicktune.bench.runner import make_task

    return make_task(md, dataset)


def _nll(y, mean, std):
    var = np.maximum(std, 1e-6) ** 2
    return float(np.mean(0.5 * np.log(2 * np.pi * var) + 0.5 * (y - mean) ** 2 / var))


def surrogate_part(args, md) -> None:
    from hf_quicktune.search.base import Optimizer
    from hf_quicktune.search.quicktune import DyHPOOptimizer, QuickTuneOptimizer

    prior, held = fold_prior(md, args.fold, args.out, args.meta_steps, args.meta_lr,
                              json.loads(args.meta) if args.meta else None, args.tag)
    rng = np.random.default_rng(0)
    rows = {}
    for dataset in held[: args.tasks]:
        task, curves, costs = task_arrays(md, dataset)
        for ep in range(args.episodes):
            n = len(task.pool)
            ids = rng.choice(n, size=args.trials + args.new, replace=False)
            obs_ids, new_ids = ids[: args.trials], ids[args.trials:]
            depth = {int(i): int(rng.integers(1, args.max_depth + 1)) for i in obs_ids}
            y_next = np.array([curves[i, depth[int(i)]] for i in obs_ids])
            y_new = curves[new_ids, 0]
            last = np.array([curves[i, depth[int(i)] - 1] for i in obs_ids])
            ctx_mean = float(np.mean([curves[i, :depth[int(i)]].mean() for i in obs_ids]))
            rows.setdefault("yardstick last/mean", []).append(
                (np.mean((last - y_next) ** 2), np.nan, np.mean((ctx_mean - y_new) ** 2), np.nan, np.nan))
            variants = {
                "untrained, no fit": (DyHPOOptimizer, {}, 0),
                "untrained + fit (dyhpo)": (DyHPOOptimizer, {}, None),
                "prior, no fit": (QuickTuneOptimizer, {"prior": prior, "meta_features": task.meta_features}, 0),
                "prior + fit (quicktune)": (QuickTuneOptimizer, {"prior": prior, "meta_features": task.meta_features},
                                            None),
            }
            for name, (cls, kw, steps) in variants.items():
                opt = cls(task.pool, max_epochs=task.max_epochs, seed=ep, **kw)
                if steps is not None:
                    opt.refit.full_refit_steps = steps
                for i in obs_ids:
                    for e in range(1, depth[int(i)] + 1):
                        Optimizer.tell(opt, int(i), e, float(curves[i, e - 1]), float(costs[i, e - 1]))
                        opt._add_observation(int(i), e)
                opt._refit()
                m1, s1, _ = opt.predict([int(i) for i in obs_ids])
                m2, s2, c2 = opt.predict([int(i) for i in new_ids])
                cerr = float(np.mean((np.log(c2) - np.log(np.maximum(costs[new_ids, 0], 1e-3))) ** 2))
                rows.setdefault(name, []).append((np.mean((m1 - y_next) ** 2), _nll(y_next, m1, s1),
                                                  np.mean((m2 - y_new) ** 2), _nll(y_new, m2, s2), cerr))
        print(f"  done {dataset}", flush=True)
    print(f"\nheld-out fold {args.fold} tasks {held[: args.tasks]} x {args.episodes} episodes, {args.trials} trials "
          f"observed to depth 1..{args.max_depth}, {args.new} new configurations")
    print(f"{'variant':28s} {'MSE next':>9s} {'NLL next':>9s} {'MSE new@1':>10s} {'NLL new@1':>10s} {'logcost MSE':>11s}")
    for name, vals in rows.items():
        v = np.nanmean(np.array(vals, dtype=float), axis=0)
        print(f"{name:28s} {v[0]:9.5f} {v[1]:9.3f} {v[2]:10.5f} {v[3]:10.3f} {v[4]:11.3f}")


def prior_part(args, md) -> None:
    from scipy.stats import spearmanr

    from hf_quicktune.search.quicktune import QuickTuneOptimizer

    prior, held = fold_prior(md, args.fold, args.out, args.meta_steps, args.meta_lr,
                             json.loads(args.meta) if args.meta else None, args.tag)
    train = [d for d in md.dataset_names if d not in held]
    finals = [task_arrays(md, d)[1][:, -1] for d in train]
    yardstick = np.nanmean([(f - np.nanmean(f)) / np.nanstd(f) for f in finals], axis=0)
    print(f"{'held-out task':16s} {'prior':>7s} {'train-task mean':>16s} {'epoch 1':>8s}")
    rows = []
    for dataset in held:
        task, curves, _ = task_arrays(md, dataset)
        opt = QuickTuneOptimizer(task.pool, max_epochs=task.max_epochs, prior=prior, meta_features=task.meta_features,
                                 horizon="max")
        mean, _, _ = opt.predict(list(range(len(task.pool))), noise=False)
        final = curves[:, -1]
        r = [spearmanr(x, final, nan_policy="omit")[0] for x in (mean, yardstick, curves[:, 0])]
        rows.append(r)
        print(f"{dataset:16s} {r[0]:7.3f} {r[1]:16.3f} {r[2]:8.3f}")
    m = np.mean(rows, axis=0)
    print(f"{'mean':16s} {m[0]:7.3f} {m[1]:16.3f} {m[2]:8.3f}")


def fidelity_part(args, md) -> None:
    from scipy.stats import spearmanr

    ks = [k for k in (1, 2, 3, 5, 10, 20) if k < md.max_epochs]
    rows = []
    for dataset in md.dataset_names:
        curves = task_arrays(md, dataset)[1]
        final = curves[:, -1]
        rows.append([spearmanr(curves[:, k - 1], final, nan_policy="omit")[0] for k in ks])
    r = np.array(rows)
    print(f"Spearman(accuracy after k epochs, final accuracy) over {len(rows)} tasks")
    print(f"{'k':>4s} {'mean':>7s} {'min':>7s} {'median':>7s} {'max':>7s}")
    for j, k in enumerate(ks):
        col = r[:, j]
        print(f"{k:4d} {np.mean(col):7.3f} {np.min(col):7.3f} {np.median(col):7.3f} {np.max(col):7.3f}")


def replay_part(args, md) -> None:
    from hf_quicktune.bench.methods import METHODS
    from hf_quicktune.bench.regret import CHECKPOINTS, reference_values, regret_on_grid
    from hf_quicktune.bench.replay import replay
    from hf_quicktune.bench.runner import full_run_seconds, load_space

    prior, held = fold_prior(md, args.fold, args.out, args.meta_steps, args.meta_lr,
                              json.loads(args.meta) if args.meta else None, args.tag)
    tasks = args.task_names or held[: args.tasks]
    extra = json.loads(args.options) if args.options else {}
    results: dict[str, list] = {}
    for dataset in tasks:
        task, curves, costs = task_arrays(md, dataset)
        budget = args.budget_runs * full_run_seconds(curves, costs)
        best, worst = reference_values(curves)
        for method in args.methods:
            task.prior = prior if method == "quicktune" else None
            task.extra = dict(extra, space=load_space("lcbench")) if method in ("quicktune", "dyhpo") else {}
            for seed in range(args.seeds):
                t0 = time.perf_counter()
                opt = METHODS[method](task, seed)
                tr = replay(opt, curves, costs, budget, max_wall=args.max_wall)
                reg = regret_on_grid(tr, np.array(CHECKPOINTS) * budget, "time", best, worst)
                depth = max((e for _, e in tr.visits), default=0)
                results.setdefault(method, []).append(reg)
                print(f"{method:10s} {dataset:15s} seed {seed}: regret {np.round(reg, 4).tolist()} steps {tr.steps} "
                      f"trials {tr.trials} max depth {depth} overhead {tr.overhead:.1f}s / budget {budget:.0f}s "
                      f"stop={tr.stop} ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"\nmean normalised regret at {list(CHECKPOINTS)} of {args.budget_runs:g} full runs; tasks {tasks}, "
          f"seeds {args.seeds}, options {extra}")
    for method, regs in results.items():
        r = np.array(regs)
        print(f"{method:12s} " + " ".join(f"{x:.4f}" for x in np.nanmean(r, axis=0)))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("part", choices=["surrogate", "prior", "fidelity", "replay"])
    p.add_argument("--out", type=Path, default=Path("/tmp/qtdiag"))
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--meta-steps", type=int, default=1000)
    p.add_argument("--meta-lr", type=float, default=None)
    p.add_argument("--meta", default=None, help="JSON MetaTrainConfig options of the fold prior")
    p.add_argument("--tag", default="", help="suffix of the cached prior's folder (distinguishes --meta variants)")
    p.add_argument("--tasks", type=int, default=3)
    p.add_argument("--task-names", nargs="*", default=None)
    p.add_argument("--episodes", type=int, default=3)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--new", type=int, default=50)
    p.add_argument("--max-depth", type=int, default=20)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--methods", nargs="*", default=["quicktune", "dyhpo", "random", "asha"])
    p.add_argument("--budget-runs", type=float, default=20.0)
    p.add_argument("--max-wall", type=float, default=None)
    p.add_argument("--options", default=None, help="JSON kwargs for the gray-box optimizers")
    p.add_argument("--source", type=Path, default=None,
                   help="another meta-dataset (parquet or a folder, e.g. ../shared/metadatasets/quicktune-extended); "
                        "default LCBench")
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    md = load(args.out, args.source)
    {"surrogate": surrogate_part, "prior": prior_part, "fidelity": fidelity_part, "replay": replay_part}[args.part](args, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
