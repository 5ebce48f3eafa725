"""``hf-quicktune bench``: replay a learning-curve meta-dataset against optimizers and peers."""

from __future__ import annotations

from pathlib import Path

import click

_DEFAULT_METHODS = (
    "quicktune,dyhpo,random,asha,hyperband,optuna-tpe-hyperband,optuna-random-median,rank-then-tune"
)


@click.command("bench")
@click.option("--meta-dataset", "meta_dataset", required=True, type=click.Path(exists=True, path_type=Path),
              help="A parquet meta-dataset, or a folder in the QuickTuneTool / Quick-Tune JSON layout.")
@click.option("--methods", default=_DEFAULT_METHODS, show_default=True,
              help="Comma-separated: quicktune, quicktune-recipe (what `run` does with a prior: zero-shot start, "
                   "the prior's learnt initial epochs), quicktune-no-cost (plain EI), quicktune-init5 (new trials "
                   "train 5 epochs first), dyhpo, dyhpo-init5, random, sh, asha, hyperband, optuna-tpe-hyperband, "
                   "optuna-random-median, dehb, syne-tune-asha, syne-tune-bohb (external peers; tools/setup_venv.sh "
                   "installs them), rank-then-tune.")
@click.option("--preset", default=None, type=click.Choice(["quicktune-extended"]),
              help="A published protocol's methods, seeds, folds, budget and space (options given explicitly win): "
                   "quicktune-extended = the Quick-Tune paper's extended meta-dataset, 16 h per dataset, 5 folds, "
                   "5 seeds (bench/presets.py).")
@click.option("--seeds", type=int, default=5, show_default=True, help="Seeds per (method, dataset).")
@click.option("--budget-runs", type=float, default=20.0, show_default=True,
              help="Budget per dataset in full-length runs (x the median seconds of one full run).")
@click.option("--budget-hours", type=float, default=None,
              help="Budget per dataset in hours of recorded time instead of --budget-runs.")
@click.option("--folds", type=int, default=5, show_default=True,
              help="Held-out folds of datasets; a prior is meta-trained per fold without it "
                   "(= number of datasets for exact leave-one-dataset-out).")
@click.option("--datasets", default=None, help="Comma-separated subset of target datasets (default: all).")
@click.option("--meta-steps", type=int, default=1500, show_default=True, help="Meta-training steps per fold prior.")
@click.option("--no-overhead", is_flag=True, help="Do not charge the optimizers' own compute time (ablation).")
@click.option("--max-wall-per-replay", type=float, default=None,
              help="Cap on real seconds per (method, dataset, seed) replay; regret past a capped replay's end "
                   "is reported as missing, never extrapolated.")
@click.option("--overhead-clock", type=click.Choice(["cpu", "wall"]), default="cpu", show_default=True,
              help="Measure the optimizers' own time as process CPU time (robust on a shared machine) or wall-clock.")
@click.option("--space", default=None,
              help="The meta-dataset's search space: a shipped space name (lcbench, quicktune) or a YAML path "
                   "(default: inferred from the configurations).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Simulated asynchronous workers: each free worker asks for a trial, epochs end at their recorded "
                   "cost on a simulated clock and results are told in finish order (traces under METHOD@wN/).")
@click.option("--threads", type=int, default=1, show_default=True, help="torch CPU threads.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("bench-out"),
              show_default=True, help="Output folder; a rerun with the same folder resumes.")
def bench(meta_dataset: Path, methods: str, preset: str | None, seeds: int, budget_runs: float,
          budget_hours: float | None, folds: int, datasets: str | None, meta_steps: int, no_overhead: bool,
          max_wall_per_replay: float | None, overhead_clock: str, space: str | None, workers: int, threads: int,
          out: Path) -> None:
    """Normalised regret of each method over simulated wall-clock and epochs (CSV, PNG, ranks)."""
    from click.core import ParameterSource
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from hf_quicktune.bench.runner import BenchConfig, run_bench
    from hf_quicktune.meta.format import load_meta_dataset
    from hf_quicktune.meta.importers import import_meta_dataset

    budget_seconds = budget_hours * 3600 if budget_hours is not None else None
    ctx = click.get_current_context()
    if preset:
        from hf_quicktune.bench.presets import preset as preset_fields

        fields = preset_fields(preset)

        def unset(name: str) -> bool:
            return ctx.get_parameter_source(name) == ParameterSource.DEFAULT

        methods = ",".join(fields["methods"]) if unset("methods") else methods
        seeds = fields["seeds"] if unset("seeds") else seeds
        folds = fields["folds"] if unset("folds") else folds
        space = fields["space"] if unset("space") else space
        if unset("budget_hours") and unset("budget_runs"):
            budget_seconds = fields["budget_seconds"]
    meta_train = {"steps": meta_steps}
    if preset and ctx.get_parameter_source("meta_steps") == ParameterSource.DEFAULT:
        meta_train = dict(fields.get("meta_train", meta_train))
    method_list = [m.strip() for m in methods.split(",") if m.strip()]
    from hf_quicktune.bench.methods import GRAY_BOX
    from hf_quicktune.bench.runner import check_methods

    check_methods(method_list)  # before the meta-dataset loads

    if GRAY_BOX & set(method_list):
        import torch

        torch.set_num_threads(threads)
    md = import_meta_dataset(meta_dataset) if meta_dataset.is_dir() and not list(meta_dataset.glob("*.parquet")) \
        else load_meta_dataset(meta_dataset)
    targets = [d.strip() for d in datasets.split(",")] if datasets else None
    cfg = BenchConfig(methods=method_list, seeds=seeds, budget_runs=budget_runs, budget_seconds=budget_seconds,
                      folds=folds, datasets=targets,
                      count_overhead=not no_overhead, meta_train=meta_train,
                      max_wall_per_replay=max_wall_per_replay, clock=overhead_clock, space=space, workers=workers)
    total = len(method_list) * seeds * len(targets or md.dataset_names)
    with Progress(TextColumn("bench"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TextColumn("{task.fields[msg]}"), TimeElapsedColumn()) as bar:
        task = bar.add_task("bench", total=total, msg="")

        def on_replay(method: str, dataset: str, seed: int, trace) -> None:
            bar.update(task, advance=1, msg=f"{method} {dataset} seed {seed}")

        result = run_bench(md, cfg, out, on_replay=on_replay)
    click.echo((out / "summary.md").read_text())
    click.echo(f"tables and plot in {out}/ (regret.png, checkpoints.csv, ranks.csv, regret_time.csv)")
    for note in result.notes:
        click.echo(f"note: {note}")
