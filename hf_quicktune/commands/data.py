"""``hf-quicktune data inspect DATASET`` (heavy imports inside the command body)."""

from __future__ import annotations

import json

import click

from hf_quicktune.commands.options import dataset_options, pop_dataset_options


@click.group("data")
def data() -> None:
    """Inspect datasets: columns, splits, classes, meta-features."""


@data.command("inspect")
@click.argument("dataset", required=False)
@click.option("--dataset", "-d", "dataset_option", metavar="DATASET",
              help="DATASET as an option, as `run`, `rank`, `estimate` and `finetune` take it.")
@dataset_options
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the stratified split.")
@click.option("--limit", type=click.IntRange(min=1), metavar="N",
              help="Look at about N images a split, as `run --train-limit N --eval-limit N` reads the dataset: a "
                   "dataset stored in many files (a Hub repo of shards or images, a local folder of shards) is "
                   "read only in part (an ImageNet-sized set without downloading it), and 1.5 N images a split are "
                   "kept, drawn at random by class, and checked (of a train split that validation is carved from, "
                   "enough for N validation images too).")
@click.option("--samples", metavar="PNG", default=None,
              help="Also draw a grid of training images, a row per class (up to 20 classes), into this PNG file.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of tables.")
def inspect(dataset: str | None, dataset_option: str | None, seed: int, limit: int | None, samples: str | None,
            as_json: bool, **options) -> None:
    """Resolve DATASET (Hub id, ImageFolder dir, parquet/CSV/JSON file, NumPy .npz, zip/tar archive, builtin:digits,
    builtin:mnist5k) exactly as `run` would, and show its splits, classes, columns and meta-features; --samples
    draws its images as training reads them; --limit N reads a dataset of many files in part."""
    if dataset and dataset_option and dataset != dataset_option:
        raise click.UsageError(f"two datasets given ({dataset!r} and -d {dataset_option!r}): name one")
    dataset = dataset or dataset_option
    if not dataset:
        raise click.UsageError("name a dataset: `hf-quicktune data inspect DATASET` (or -d DATASET), e.g. "
                               "builtin:digits, an image folder or a Hub id")
    from collections import Counter

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from hf_quicktune.data import load
    from hf_quicktune.data.columns import column_values
    from hf_quicktune.data.describe import split_origin
    from hf_quicktune.data.options import load_kwargs

    with Console(stderr=True).status(f"loading {escape(str(dataset))}") as status:  # a download, the image check
        prepared = load(dataset, seed=seed, progress=lambda task, done, total, images: status.update(
            f"loading {escape(str(dataset))}: {escape(task)} {done}/{total if total else '?'}"),
            train_limit=limit, eval_limit=limit, **load_kwargs(pop_dataset_options(options)))
    names = prepared.class_names
    counts = {s: Counter(column_values(ds, "label")) for s, ds in prepared.splits.items()}
    summary = {
        "dataset": prepared.name, "source": prepared.source, "fingerprint": prepared.fingerprint,
        "splits": {s: len(ds) for s, ds in prepared.splits.items()},
        "made_splits": prepared.info.get("made_splits", []),
        "source_splits": prepared.info.get("source_splits", {}),
        "image_column": prepared.info.get("image_column"), "label_column": prepared.info.get("label_column"),
        **{k: prepared.info[k] for k in ("pixels", "split_column", "fold_column", "group_column", "commit",
                                         "drawn_files", "drawn_sizes", "drawn_rows") if prepared.info.get(k)},
        "num_classes": len(names), "classes": names, "meta": prepared.meta.to_dict(), "skipped_images": prepared.skipped,
    }
    if samples:
        from hf_quicktune.data.sampling import images_per_class
        from hf_quicktune.report.samples import MAX_CLASSES, PER_CLASS, plot_samples

        drawn = images_per_class(prepared.splits["train"], PER_CLASS, MAX_CLASSES, seed=seed)
        summary["samples"] = str(plot_samples({names[c]: row for c, row in drawn.items()}, samples,
                                              classes=len(names)))
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    console = Console()
    console.print(f"[bold]{escape(prepared.name)}[/bold]  source: {prepared.source}  fingerprint: {prepared.fingerprint}")
    console.print(f"columns: image <- '{escape(str(summary['image_column']))}', "
                  f"label <- '{escape(str(summary['label_column']))}'"
                  + (f"   skipped undecodable images: {prepared.skipped}" if prepared.skipped else ""))
    if prepared.info.get("pixels"):
        console.print(f"pixels: {escape(prepared.info['pixels'])}")
    splits = Table(title="Splits")
    splits.add_column("split")
    splits.add_column("images", justify="right")
    splits.add_column("origin")
    for s, ds in prepared.splits.items():
        splits.add_row(escape(s), str(len(ds)), escape(split_origin(prepared.info, s)))
    console.print(splits)
    classes = Table(title=f"Classes ({len(names)})")
    classes.add_column("id", justify="right")
    classes.add_column("name")
    for s in prepared.splits:
        classes.add_column(escape(s), justify="right")
    shown = 30
    for i, n in enumerate(names[:shown]):
        classes.add_row(str(i), escape(n), *[str(counts[s].get(i, 0)) for s in prepared.splits])
    if len(names) > shown:
        classes.add_row("...", f"({len(names) - shown} more)", *["" for _ in prepared.splits])
    console.print(classes)
    meta = Table(title="Meta-features")
    meta.add_column("feature")
    meta.add_column("value", justify="right")
    for k, v in prepared.meta.to_dict().items():
        meta.add_row(k, str(v))
    console.print(meta)
    if samples:
        console.print(f"samples: {escape(summary['samples'])}")
