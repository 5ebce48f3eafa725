"""``hf-quicktune data inspect DATASET`` (heavy imports inside the command body)."""

from __future__ import annotations

import json

import click

from hf_quicktune.errors import DatasetError


def parse_split_map(values: tuple[str, ...]) -> dict[str, str] | None:
    """``("train=training", "validation=dev")`` -> ``{"train": "training", "validation": "dev"}``."""
    out = {}
    for v in values:
        role, sep, name = v.partition("=")
        if not sep or not role.strip() or not name.strip():
            raise DatasetError(f"--split expects ROLE=NAME (e.g. validation=dev), got {v!r}.")
        out[role.strip()] = name.strip()
    return out or None


def dataset_options(f):
    """The dataset options shared by every command that takes --dataset / DATASET."""
    for opt in reversed([
        click.option("--dataset-config", help="Configuration (subset) of a Hub dataset."),
        click.option("--revision", help="Branch, tag or commit of a Hub dataset."),
        click.option("--split", "split", multiple=True, metavar="ROLE=NAME",
                     help="Map train/validation/test to the dataset's split names (repeatable)."),
        click.option("--image-column", help="Column holding the images (Image feature, file paths or bytes)."),
        click.option("--label-column", help="Column holding the classes (ClassLabel, int or string)."),
        click.option("--val-fraction", type=float, default=0.2, show_default=True,
                     help="Validation share carved (stratified) from train when there is no validation split."),
        click.option("--test-fraction", type=float, default=0.0, show_default=True,
                     help="Test share carved from train when there is no test split (0: none)."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of the stratified split."),
    ]):
        f = opt(f)
    return f


@click.group("data")
def data() -> None:
    """Inspect datasets: columns, splits, classes, meta-features."""


@data.command("inspect")
@click.argument("dataset")
@dataset_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of tables.")
def inspect(dataset: str, dataset_config, revision, split, image_column, label_column, val_fraction,
            test_fraction, seed, as_json: bool) -> None:
    """Resolve DATASET (Hub id, ImageFolder dir, parquet/CSV/JSON file, builtin:digits, builtin:mnist5k)
    exactly as `run` would, and show its splits, classes, columns and meta-features."""
    from collections import Counter

    from rich.console import Console
    from rich.table import Table

    from hf_quicktune.data import load

    prepared = load(dataset, config=dataset_config, revision=revision, split_map=parse_split_map(split),
                    image_column=image_column, label_column=label_column, val_fraction=val_fraction,
                    test_fraction=test_fraction, seed=seed)
    names = prepared.class_names
    counts = {s: Counter(ds["label"]) for s, ds in prepared.splits.items()}
    summary = {
        "dataset": prepared.name, "source": prepared.source, "fingerprint": prepared.fingerprint,
        "splits": {s: len(ds) for s, ds in prepared.splits.items()},
        "made_splits": prepared.info.get("made_splits", []),
        "source_splits": prepared.info.get("source_splits", {}),
        "image_column": prepared.info.get("image_column"), "label_column": prepared.info.get("label_column"),
        "num_classes": len(names), "classes": names, "meta": prepared.meta.to_dict(), "skipped_images": prepared.skipped,
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    console = Console()
    console.print(f"[bold]{prepared.name}[/bold]  source: {prepared.source}  fingerprint: {prepared.fingerprint}")
    console.print(f"columns: image <- '{summary['image_column']}', label <- '{summary['label_column']}'"
                  + (f"   skipped undecodable images: {prepared.skipped}" if prepared.skipped else ""))
    splits = Table(title="Splits")
    splits.add_column("split")
    splits.add_column("images", justify="right")
    splits.add_column("origin")
    for s, ds in prepared.splits.items():
        origin = (f"stratified from train (seed {seed})" if s in summary["made_splits"]
                  else f"'{summary['source_splits'].get(s, s)}'")
        splits.add_row(s, str(len(ds)), origin)
    console.print(splits)
    classes = Table(title=f"Classes ({len(names)})")
    classes.add_column("id", justify="right")
    classes.add_column("name")
    for s in prepared.splits:
        classes.add_column(s, justify="right")
    shown = 30
    for i, n in enumerate(names[:shown]):
        classes.add_row(str(i), n, *[str(counts[s].get(i, 0)) for s in prepared.splits])
    if len(names) > shown:
        classes.add_row("...", f"({len(names) - shown} more)", *["" for _ in prepared.splits])
    console.print(classes)
    meta = Table(title="Meta-features")
    meta.add_column("feature")
    meta.add_column("value", justify="right")
    for k, v in prepared.meta.to_dict().items():
        meta.add_row(k, str(v))
    console.print(meta)
