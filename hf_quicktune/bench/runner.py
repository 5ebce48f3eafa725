"""``bench``: replay a meta-dataset as a tabular benchmark, leave-one-dataset(-fold)-out.

Protocol:

* Target datasets are split into ``folds`` groups (``folds = number of datasets`` is exact
  leave-one-dataset-out). Meta-learned methods use a prior meta-trained on the datasets of the
  *other* folds only (one prior per fold, cached under ``OUT/priors/``), so the target dataset is
  never seen at meta-training time.
* Budget per dataset: ``budget_runs`` × the median seconds of one full-length run of that dataset,
  or a fixed ``budget_seconds`` of recorded time per dataset (the Quick-Tune paper's terms: 16 h on
  its extended meta-dataset).
* A step costs the recorded epoch seconds plus the optimizer's own ask + tell time (CPU time of
  this process by default, robust to other load on a shared machine; ``clock="wall"`` otherwise).
* Every (method, dataset, seed) replay is written to ``OUT/traces/`` as soon as it ends; a rerun
  with the same ``OUT`` skips finished replays (interrupting loses at most the replay in flight).
* Normalised regret as defined in :mod:`hf_quicktune.bench.regret` (best score so far against the
  best and worst values over every epoch of every run); a dataset whose values are all equal is
  skipped with a note. The summary counts the replays that ended with the optimizer exhausted
  (the pool used up) before the budget was spent.
* Outputs: ``regret_time.csv`` / ``regret_epochs.csv`` (mean and 95 % CI over datasets, each
  dataset's mean over its seeds, on a grid of budget fractions / epochs;
  :func:`~hf_quicktune.bench.regret.seed_means` says why not over datasets × seeds),
  ``checkpoints.csv`` (regret at 10/25/50/100 % of the budget, the same way; ``n@`` = datasets),
  ``ranks.csv``, ``per_run.csv``, ``regret.png`` and ``summary.md``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hf_quicktune.bench.methods import GRAY_BOX, META_LEARNED, METHODS, NEEDS_ZERO_COST, Task
from hf_quicktune.bench.regret import (
    CHECKPOINTS,
    aggregate,
    is_degenerate,
    rank_table,
    reference_values,
    regret_on_grid,
    seed_means,
)
from hf_quicktune.bench.replay import EXHAUSTED, Trace, machine_info, replay
from hf_quicktune.errors import ConfigError
from hf_quicktune.meta.format import MetaDataset

logger = logging.getLogger(__name__)

GRID_POINTS = 201


@dataclass
class BenchConfig:
    methods: Sequence[str]
    seeds: int = 5
    budget_runs: float = 20.0
    budget_seconds: float | None = None  # fixed budget per dataset (recorded seconds); overrides budget_runs
    folds: int = 5
    datasets: Sequence[str] | None = None  # subset of target datasets (default: all)
    count_overhead: bool = True
    meta_train: dict[str, Any] = field(default_factory=dict)  # options for hf_quicktune.meta.train
    split_seed: int = 0
    method_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # extra kwargs per gray-box method
    clock: str = "cpu"  # how optimizer overhead is measured: "cpu" (process time) or "wall"
    max_wall_per_replay: float | None = None  # real seconds; truncated replays report NaN past their end
    space: str | None = None  # the meta-dataset's search space: a shipped space name (e.g. "lcbench") or a YAML path;
    # default: inferred from the configurations (guesses log scales from the values' range)
    workers: int = 1  # simulated asynchronous workers (replay.replay_workers); traces of N > 1 kept apart


@dataclass
class BenchResult:
    out: Path
    checkpoints: pd.DataFrame
    ranks: pd.DataFrame
    notes: list[str]


def load_space(name_or_path: str) -> Any:
    """A shipped space (``recipes/spaces/NAME.yaml``) or a YAML file."""
    from hf_quicktune.constants import recipes_dir
    from hf_quicktune.search.space import Space

    path = Path(name_or_path).expanduser()
    if not path.is_file():
        path = recipes_dir() / "spaces" / f"{name_or_path}.yaml"
    if not path.is_file():
        shipped = sorted(p.stem for p in (recipes_dir() / "spaces").glob("*.yaml"))
        raise ConfigError(f"space {name_or_path!r} is neither a YAML file nor a shipped space ({', '.join(shipped)})")
    return Space.from_yaml(path)


def bench_space(name_or_path: str, md: MetaDataset) -> Any:
    """:func:`load_space`, with an empty ``model`` choice list filled with the meta-dataset's models
    (as ``run`` fills it from the zoo)."""
    space = load_space(name_or_path)
    models = sorted({str(m) for m in md.models if m is not None})
    if "model" in space and not space.hps["model"].choices and models:
        space = space.with_choices("model", models)
    return space


def trace_path(out: Path, method: str, dataset: str, seed: int, workers: int = 1) -> Path:
    """Where one replay's trace is saved (``traces/METHOD/``; ``traces/METHOD@wN/`` for N simulated workers)."""
    name = method if workers == 1 else f"{method}@w{workers}"
    return Path(out) / "traces" / name / f"{dataset}__seed{seed}.json"


def dataset_folds(datasets: Sequence[str], folds: int, seed: int = 0) -> list[list[str]]:
    """Split datasets into ``folds`` groups (seeded shuffle, round-robin)."""
    if folds < 2:
        raise ConfigError("--folds must be at least 2 (the prior must be meta-trained without the target)")
    order = list(np.random.default_rng(seed).permutation(sorted(datasets)))
    folds = min(folds, len(order))
    return [[str(d) for d in order[i::folds]] for i in range(folds)]


def make_task(md: MetaDataset, dataset: str) -> tuple[Task, np.ndarray, np.ndarray]:
    """The pool, curves and costs of one target dataset."""
    idx = md.indices(dataset)
    pool = []
    for i in idx:
        cfg = dict(md.configs[i])
        if md.models[i] is not None:
            cfg["model"] = md.models[i]
        pool.append(cfg)
    zc = None
    if md.zero_cost is not None and md.has_zero_cost:
        sub = md.zero_cost.xs(dataset, level="dataset")
        zc = {str(m): row.dropna().to_dict() for m, row in sub.iterrows()}
    task = Task(
        dataset=dataset,
        pool=pool,
        max_epochs=md.max_epochs,
        meta_features={k: float(v) for k, v in md.meta_features.loc[dataset].items()},
        zero_cost=zc,
        model_features={m: f for m, f in md.model_feature_rows().items()
                        if m in {str(x) for x in md.models[idx]}} or None,
    )
    return task, md.curves[idx], md.costs[idx]


def full_run_seconds(curves: np.ndarray, costs: np.ndarray) -> float:
    """Median seconds of one full-length run (runs that reached the last epoch; else all runs)."""
    lengths = (~np.isnan(curves)).sum(axis=1)
    full = lengths == curves.shape[1]
    totals = np.nansum(costs, axis=1)
    return float(np.median(totals[full] if full.any() else totals))


def dataset_budget(curves: np.ndarray, costs: np.ndarray, config: BenchConfig) -> float:
    """Seconds of budget for one dataset: ``budget_seconds``, else ``budget_runs`` median full runs."""
    if config.budget_seconds is not None:
        return float(config.budget_seconds)
    return config.budget_runs * full_run_seconds(curves, costs)


def budget_text(config: BenchConfig) -> str:
    if config.budget_seconds is not None:
        return f"{config.budget_seconds / 3600:g} h of recorded time per dataset"
    return f"{config.budget_runs:g} x median full-run seconds per dataset"


def check_methods(methods: Sequence[str]) -> None:
    """A :class:`~hf_quicktune.errors.ConfigError` naming the methods ``bench`` does not know, if any."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ConfigError(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")


def run_bench(
    md: MetaDataset,
    config: BenchConfig,
    out: str | Path,
    on_replay: Callable[[str, str, int, Trace], None] | None = None,
    prior_for: Callable[[MetaDataset, list[str], Path], Any] | None = None,
) -> BenchResult:
    """Run the benchmark; ``prior_for(train_md, held_out, dir)`` meta-trains (or loads) a fold's prior."""
    out = Path(out)
    (out / "traces").mkdir(parents=True, exist_ok=True)
    check_methods(config.methods)
    notes: list[str] = []
    methods = list(config.methods)
    if not md.has_zero_cost:
        for m in NEEDS_ZERO_COST & set(methods):
            methods.remove(m)
            notes.append(f"{m} skipped: the meta-dataset has no zero-cost scores (zc.* columns).")
    all_datasets = md.dataset_names
    targets = list(config.datasets) if config.datasets else all_datasets
    missing = sorted(set(targets) - set(all_datasets))
    if missing:
        raise ConfigError(f"datasets {missing[:5]} are not in the meta-dataset; known: {all_datasets[:10]}")
    folds = dataset_folds(all_datasets, config.folds, config.split_seed)
    fold_of = {d: i for i, f in enumerate(folds) for d in f}
    space = bench_space(config.space, md) if config.space else None
    needs_prior = bool(META_LEARNED & set(methods))
    if needs_prior and prior_for is None:
        from functools import partial

        from hf_quicktune.bench.priors import fold_prior

        prior_for = partial(fold_prior, space=space, **config.meta_train)
    notes.append(
        f"leave-one-fold-out: {len(folds)} folds of datasets; meta-learned methods use a prior trained "
        "without the target's fold" + (" (= leave-one-dataset-out)" if len(folds) == len(all_datasets) else "")
    )
    priors: dict[int, Any] = {}
    machine = machine_info()  # recorded in every trace replayed here
    with open(out / "config.json", "w") as fh:
        json.dump({**asdict(config), "methods": methods, "folds_datasets": folds, "source": md.info}, fh, indent=1, default=str)

    budgets: dict[str, float] = {}
    refs: dict[str, tuple[float, float]] = {}
    kept = []
    for dataset in targets:
        best, worst = reference_values(md.curves[md.indices(dataset)])
        if is_degenerate(best, worst):
            notes.append(f"{dataset} skipped: its recorded accuracies are all {best:.4g} (best = worst), so its "
                         "normalised regret is undefined.")
            logger.warning(notes[-1])
            continue
        kept.append(dataset)
    targets = kept
    if not targets:
        raise ConfigError("no target dataset has a defined regret (each has best accuracy = worst); "
                          "check the meta-dataset's curves")
    for dataset in targets:
        task, curves, costs = make_task(md, dataset)
        budgets[dataset] = dataset_budget(curves, costs, config)
        refs[dataset] = reference_values(curves)
        for method in methods:
            if method in META_LEARNED:
                f = fold_of[dataset]
                if f not in priors:
                    assert prior_for is not None  # set above for the meta-learned methods
                    train = [d for d in all_datasets if fold_of[d] != f]
                    priors[f] = prior_for(md.subset(train), folds[f], out / "priors" / f"fold{f}")
                task.prior = priors[f]
            else:
                task.prior = None
            task.extra = dict(config.method_options.get(method, {}))
            if space is not None and method in GRAY_BOX:
                task.extra.setdefault("space", space)
            for seed in range(config.seeds):
                path = trace_path(out, method, dataset, seed, config.workers)
                if path.exists():
                    trace = Trace.from_dict(json.loads(path.read_text()))
                else:
                    opt = METHODS[method](task, seed)
                    trace = replay(opt, curves, costs, budgets[dataset], count_overhead=config.count_overhead,
                                   max_wall=config.max_wall_per_replay, clock=config.clock, workers=config.workers)
                    trace.machine = machine
                    path.parent.mkdir(parents=True, exist_ok=True)
                    tmp = path.with_suffix(".tmp")
                    tmp.write_text(json.dumps(trace.to_dict()))
                    tmp.replace(path)
                if on_replay is not None:
                    on_replay(method, dataset, seed, trace)
    return summarise(out, md, methods, targets, config, budgets, refs, notes)


def top_trial_share(trace: Trace, costs: np.ndarray, budget: float) -> float:
    """The largest share of ``budget`` the replay spent on one trial (its recorded epoch costs; a search
    that spends most of its budget deepening one trial shows here)."""
    reached: dict[int, int] = {}
    for tid, epoch in trace.visits:
        reached[int(tid)] = max(reached.get(int(tid), 0), int(epoch))
    if not reached or not budget > 0:
        return 0.0
    return max(float(np.nansum(costs[t, :e])) for t, e in reached.items()) / budget


def summarise(
    out: Path,
    md: MetaDataset,
    methods: Sequence[str],
    targets: Sequence[str],
    config: BenchConfig,
    budgets: dict[str, float],
    refs: dict[str, tuple[float, float]],
    notes: list[str],
) -> BenchResult:
    """Turn the saved traces into the CSV tables, the plot and the summary."""
    from hf_quicktune.report.regret import plot_regret

    traces = {(m, d, s): Trace.from_dict(json.loads(trace_path(out, m, d, s, config.workers).read_text()))
              for m in methods for d in targets for s in range(config.seeds)}
    frac_grid = np.linspace(0.0, 1.0, GRID_POINTS)
    if config.budget_seconds is None:
        max_epochs_axis = config.budget_runs * md.max_epochs
    else:  # a time budget: the epoch axis spans the most epochs any replay trained
        max_epochs_axis = max([t.epochs[-1] for t in traces.values() if t.epochs] or [md.max_epochs])
    epoch_grid = np.linspace(0.0, max_epochs_axis, GRID_POINTS)
    by_time, by_epochs, rows = {}, {}, []
    costs = {d: make_task(md, d)[2] for d in targets}
    for method in methods:
        t_rows, e_rows = [], []
        for dataset in targets:
            best, worst = refs[dataset]
            t_seeds, e_seeds = [], []
            for seed in range(config.seeds):
                trace = traces[(method, dataset, seed)]
                t_seeds.append(regret_on_grid(trace, frac_grid * budgets[dataset], "time", best, worst))
                e_seeds.append(regret_on_grid(trace, epoch_grid, "epochs", best, worst))
                cps = regret_on_grid(trace, np.array(CHECKPOINTS) * budgets[dataset], "time", best, worst)
                row: dict[str, Any] = {"method": method, "dataset": dataset, "seed": seed, "steps": trace.steps,
                       "trials": trace.trials, "overhead_s": trace.overhead, "stop": trace.stop,
                       "reached_fraction": (trace.time[-1] / budgets[dataset]) if trace.time else 0.0,
                       "overhead_per_step_s": trace.overhead / max(trace.steps, 1), "budget_s": budgets[dataset],
                       "top_trial_share": top_trial_share(trace, costs[dataset], budgets[dataset])}
                row.update({f"regret@{cp:g}": v for cp, v in zip(CHECKPOINTS, cps)})
                rows.append(row)
            t_rows.append(seed_means(np.array(t_seeds)))
            e_rows.append(seed_means(np.array(e_seeds)))
        by_time[method], by_epochs[method] = np.array(t_rows), np.array(e_rows)
    per_run = pd.DataFrame(rows)
    per_run.to_csv(out / "per_run.csv", index=False)
    t_table = aggregate(by_time, frac_grid, "fraction")
    e_table = aggregate(by_epochs, epoch_grid, "epochs")
    t_table.to_csv(out / "regret_time.csv", index=False)
    e_table.to_csv(out / "regret_epochs.csv", index=False)
    cp_rows = []
    for method in methods:
        sub = per_run[per_run.method == method]
        row = {"method": method}
        for cp in CHECKPOINTS:
            # one value per dataset (its seeds' mean; truncated replays have no value past their end)
            v = sub.groupby("dataset")[f"regret@{cp:g}"].mean().to_numpy()
            v = v[np.isfinite(v)]
            half = 1.96 * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0
            row[f"regret@{cp:g}"] = v.mean() if len(v) else np.nan
            row[f"ci95@{cp:g}"] = half
            row[f"n@{cp:g}"] = len(v)
        row["overhead_per_step_s"] = sub["overhead_s"].sum() / max(sub["steps"].sum(), 1)
        row["exhausted"] = int((sub["stop"] == EXHAUSTED).sum())
        row["replays"] = len(sub)
        cp_rows.append(row)
    checkpoints = pd.DataFrame(cp_rows)
    checkpoints.to_csv(out / "checkpoints.csv", index=False)
    ranks = rank_table(per_run, methods)
    ranks.to_csv(out / "ranks.csv")
    plot_regret(
        t_table, e_table, out / "regret.png",
        title=f"{Path(str(md.info.get('source', 'meta-dataset'))).name}: {len(targets)} datasets x {config.seeds} seeds, "
        f"budget {budget_text(config)}",
    )
    lines = ["# hf-quicktune bench", "", f"meta-dataset: {md.info.get('source')}", f"datasets: {len(targets)}, seeds: "
             f"{config.seeds}, budget: {budget_text(config)}"
             + (f", {config.workers} simulated asynchronous workers" if config.workers > 1 else ""), ""]
    lines += ["## Normalised regret (mean ± 95 % CI over datasets, n = datasets) at fractions of the budget", "",
              "| method | " + " | ".join(f"{int(cp * 100)} %" for cp in CHECKPOINTS) + " | overhead s/step | exhausted |",
              "|---|" + "---|" * (len(CHECKPOINTS) + 2)]
    for _, r in checkpoints.iterrows():
        cells = [f"{r[f'regret@{cp:g}']:.4f} ± {r[f'ci95@{cp:g}']:.4f} (n={r[f'n@{cp:g}']})" for cp in CHECKPOINTS]
        lines.append(f"| {r['method']} | " + " | ".join(cells) + f" | {r['overhead_per_step_s']:.4f} | "
                     f"{r['exhausted']}/{r['replays']} |")
    lines += ["", "## Mean rank (1 = best)", "", ranks.round(2).to_markdown() if _has_tabulate() else ranks.round(2).to_string()]
    exhausted = int((per_run["stop"] == EXHAUSTED).sum())
    notes = [*notes, f"{exhausted} of {len(per_run)} replays ended with the optimizer exhausted (nothing left to "
             "start or continue in the pool) before the budget was spent; their last incumbent is held to the end "
             "(column 'exhausted' per method)."]
    truncated = per_run[per_run["stop"] == "wall cap"]
    if len(truncated):
        notes = [*notes, f"{len(truncated)} replays hit the real-time cap of {config.max_wall_per_replay} s; their "
                 "regret past the last simulated step is unknown and left out (n per checkpoint above)."]
    lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    return BenchResult(out=out, checkpoints=checkpoints, ranks=ranks, notes=notes)


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True
