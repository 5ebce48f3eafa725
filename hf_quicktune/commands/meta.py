"""``hf-quicktune meta``: import meta-datasets, meta-train priors, push them to the Hub, inspect."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group("meta")
def meta() -> None:
    """Meta-datasets of learning curves and the meta-learned Quick-Tune priors trained on them."""


@meta.command("import")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option("--layout", type=click.Choice(["auto", "qtt-csv", "qt-json", "qt-extended"]), default="auto",
              show_default=True,
              help="qtt-csv: QuickTuneTool config/curve/cost/meta CSVs; qt-json: Quick-Tune paper JSON files; "
                   "qt-extended: the Quick-Tune extended meta-dataset (eval_top1.json.gz, configs_onehot.csv.gz).")
def import_cmd(source: Path, out: Path, layout: str) -> None:
    """Convert SOURCE (a folder in a public layout) into the hf-quicktune parquet meta-dataset OUT
    (default: SOURCE's folder name + .parquet in the working directory)."""
    from hf_quicktune.meta.importers import import_meta_dataset

    md = import_meta_dataset(source, layout=layout)
    out = out or Path(f"{source.resolve().name}.parquet")
    md.save(out)
    s = md.summary()
    click.echo(f"wrote {out}: {s['runs']} runs, {s['datasets']} datasets, {s['models']} models, "
               f"up to {s['max_epochs']} epochs ({md.info.get('costs')})")


@meta.command("info")
@click.argument("spec", metavar="PATH")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def info(spec: str, as_json: bool) -> None:
    """Summarise a meta-dataset (parquet) or a prior: a directory, `default` (the shipped one) or a Hub repo id
    (owner/name[@revision]), as `run --prior` takes them."""
    path = Path(spec).expanduser()
    if not path.exists():
        from hf_quicktune.errors import MetaError
        from hf_quicktune.meta.priors import prior_directory

        try:
            path = prior_directory(spec)
        except MetaError as err:
            raise MetaError(f"{err} Pass a meta-dataset file, a prior directory or one of those.") from None
    if path.is_dir() and (path / "prior.json").exists():
        data = json.loads((path / "prior.json").read_text())
        summary = {"prior": str(path), "provenance": data.get("provenance"),
                   "meta_features": data["encoder"]["meta_scaler"]["names"],
                   "models": len(data["encoder"]["model_names"]), "max_epochs": data["encoder"]["max_epochs"],
                   "zero_shot": "gradient-boosted trees (zero_shot.json)" if (path / "zero_shot.json").is_file()
                   else "the surrogate's mean"}
    else:
        from hf_quicktune.meta.format import load_meta_dataset

        summary = load_meta_dataset(path).summary()
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    for k, v in summary.items():
        click.echo(f"{k:>22}: {v}")


@meta.command("train")
@click.argument("meta_dataset", type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory to save the prior in (prior.json + safetensors).")
@click.option("--steps", type=int, default=2000, show_default=True, help="Maximum meta-training steps.")
@click.option("--batch-size", type=int, default=32, show_default=True, help="Runs per (dataset) batch.")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Adam learning rate (cosine decay).")
@click.option("--val-every", type=int, default=50, show_default=True)
@click.option("--val-episodes", type=int, default=20, show_default=True,
              help="Fixed validation episodes (condition on 32 points of a validation dataset, predict 32).")
@click.option("--patience", type=int, default=8, show_default=True,
              help="Stop after this many validations without improvement on held-out datasets.")
@click.option("--mean", type=click.Choice(["mlp", "constant"]), default="mlp", show_default=True,
              help="GP prior mean: an MLP that ranks configurations before any observation, or a constant (paper).")
@click.option("--extrapolate", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Share of training queries that predict several epochs ahead (needed by --horizon max).")
@click.option("--exclude", multiple=True, help="Dataset ids to leave out entirely (e.g. your target dataset).")
@click.option("--space", "space_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Search-space YAML to encode configurations with (default: inferred from the meta-dataset).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=int, default=1, show_default=True,
              help="torch CPU threads (1 is fastest for these small models on a busy machine).")
def train(meta_dataset: Path, out: Path, steps: int, batch_size: int, lr: float, val_every: int, val_episodes: int,
          patience: int, mean: str, extrapolate: float,
          exclude: tuple[str, ...], space_path: Path | None, seed: int, threads: int) -> None:
    """Meta-learn the surrogate and cost model on META_DATASET with dataset-level splits."""
    import torch
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from hf_quicktune.errors import MetaError
    from hf_quicktune.meta.format import load_meta_dataset
    from hf_quicktune.meta.train import MetaTrainConfig, meta_train

    torch.set_num_threads(threads)
    md = load_meta_dataset(meta_dataset)
    if exclude:
        unknown = sorted(set(exclude) - set(md.dataset_names))
        if unknown:
            raise MetaError(f"--exclude names datasets not in the meta-dataset: {unknown}")
        md = md.subset([d for d in md.dataset_names if d not in set(exclude)])
    space = None
    if space_path is not None:
        from hf_quicktune.search.space import Space

        space = Space.from_yaml(space_path)
    cfg = MetaTrainConfig(steps=steps, batch_size=batch_size, lr=lr, val_every=val_every,
                          val_episodes=val_episodes, patience=patience, seed=seed, mean=mean,
                          extrapolate=extrapolate)
    with Progress(TextColumn("meta-train"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TextColumn("{task.fields[msg]}"), TimeElapsedColumn()) as bar:
        task = bar.add_task("train", total=steps, msg="")
        result = meta_train(md, cfg, space=space, progress=lambda s, n, rec: bar.update(
            task, completed=s, msg=f"val MSE {rec['val_mse']:.5f}"))
    if exclude:
        result.prior.provenance["excluded"] = list(exclude)
    result.prior.save(out)
    click.echo(f"saved prior to {out}: best step {result.best_step}, validation MSE {result.val_mse:.5f}"
               + (f", held-out MSE {result.test_mse:.5f} (mean-predictor {result.baseline_test_mse:.5f})"
                  if result.test_mse is not None else "")
               + f"; {result.seconds:.0f}s")


@meta.command("push")
@click.argument("prior_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("repo_id")
@click.option("--private", is_flag=True, help="Create the repo as private.")
@click.option("--token", envvar="HF_TOKEN", help="Hub token (default: HF_TOKEN or your login).")
def push(prior_dir: Path, repo_id: str, private: bool, token: str | None) -> None:
    """Upload the prior in PRIOR_DIR to the Hub model repo REPO_ID (load it with --prior REPO_ID)."""
    from hf_quicktune.meta.hub import push_prior

    ref = push_prior(prior_dir, repo_id, token=token, private=private)
    click.echo(f"pushed {prior_dir} to {repo_id} ({ref})")
