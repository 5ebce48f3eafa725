"""``hf-quicktune predict MODEL IMAGES...``: classify images with an exported model, into a CSV (a Kaggle
submission, a folder of new photos); on a labelled folder (``test/CLASS/IMAGE.png``) also the accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("predict")
@click.argument("model")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", default=None,
              help="CSV with a row per image: path (one table's rows: its id column, or row), label, probability, "
                   "the top-k classes, error (a folder: predictions.csv in it).  [default: predictions.csv; with "
                   "--submission: submission.csv]")
@click.option("--submission", "template", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A competition's sample_submission.csv: write the predictions in its format instead (its ids, "
                   "and the class, each class's probability where it has a column per class, or for two classes "
                   "the second's probability where it holds fractions, or the k most probable classes where it "
                   "holds k separated by spaces: MAP@k).")
@click.option("--probability-of", "probability_of", metavar="CLASS", default=None,
              help="With --submission: fill the template's one prediction column with this class's probability "
                   "(a competition scored on AUC or log loss whose placeholders are whole numbers, SIIM-ISIC's "
                   "target 0). [default: the class the column is named after, or for two classes the second's "
                   "where it holds fractions; else each image's class]")
@click.option("--split", "split", default=None, metavar="NAME",
              help="For a Hub dataset given as INPUTS (org/name): the split to classify. [default: its test split, "
                   "else its validation split]")
@click.option("--top-k", type=click.IntRange(1, None), default=3, show_default=True,
              help="Classes (with probabilities) listed per image.")
@click.option("--batch-size", type=click.IntRange(1, None), default=32, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def predict(model: str, inputs: tuple[str, ...], output: str | None, template: Path | None,
            probability_of: str | None, split: str | None, top_k: int, batch_size: int, as_json: bool) -> None:
    """Classify INPUTS (image files, folders of images searched recursively, zip / tar archives of images, tables
    of them: CSV / parquet / JSON naming image files, or of pixels like Kaggle's MNIST test.csv, a NumPy .npz or an
    HDF5 file of test images like Keras' x_test, a WebDataset shard, a Hub dataset's test split: org/name) with
    MODEL: a run's folder (its export/), an export folder, or the Hub repo a run pushed (org/name).

    When every image lies in a folder named after one of the model's classes (test/CLASS/IMAGE.png), its file name
    carries one (cat.0.jpg), or a table's label column (an .npz's y_test) holds them, the CSV gets a `true` column
    and the accuracy is printed. One table's rows are keyed by its id column (id, ImageId, ...), else by their row
    number from 0. With --submission the CSV is a competition's submission in its template's format.

    \b
    Examples:
      hf-quicktune predict runs/pets-2026 new_photos/ -o predictions.csv
      hf-quicktune predict runs/aptos aptos/test.csv --submission aptos/sample_submission.csv
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from hf_quicktune import predict as inference
    from hf_quicktune import submission

    if probability_of is not None and template is None:
        raise click.UsageError("--probability-of fills a competition's template: pass --submission "
                               "sample_submission.csv too (predictions.csv lists each image's top-k probabilities).")
    inference.resolve(model)  # a wrong model path or template fails before the images are searched
    frame = submission.read_template(template) if template is not None else None
    paths = inference.find_images(inputs, split)
    console = Console(stderr=True)
    with console.status(f"loading {model}"):
        loaded = inference.load(model)
    if frame is not None:  # a template the model cannot fill (or a class it does not have) fails before classifying
        submission.template_kind(frame, loaded.labels, str(template), probability_of)
    with Progress(TextColumn("[bold]classifying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("images", total=len(paths))
        rows = inference.predict(loaded, paths, top_k=len(loaded.labels) if frame is not None else top_k,
                                 batch_size=batch_size, progress=lambda done, total: bar.update(task, completed=done))
    truth = inference.true_labels(rows, loaded.labels)
    default = "submission.csv" if frame is not None else "predictions.csv"
    out = Path(output or default)
    if out.is_dir() or (output or "").endswith(("/", "\\")):  # a folder: the CSV goes inside it
        out = out / default
    out.parent.mkdir(parents=True, exist_ok=True)
    if frame is not None:
        submission.fill_template(frame, rows, loaded.labels, where=str(template),
                                 probability_of=probability_of).to_csv(out, index=False)
    else:
        inference.write_predictions(out, rows, truth)
    failed = [r for r in rows if r["error"]]
    summary: dict = {"model": loaded.name, "images": len(rows), "unreadable": len(failed), "output": str(out)}
    if truth:
        summary["accuracy"], scored = inference.accuracy(rows, truth)
    note = submission.class_placeholder_note(frame, loaded.labels, probability_of) if frame is not None else None
    if note:
        summary["note"] = note
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    for r in failed[:5]:
        click.echo(f"unreadable: {r['path']} ({r['error']})", err=True)
    line = f"{len(rows) - len(failed)} image(s) classified by {loaded.name} -> {out}" + (
        f" (the {len(frame)} rows of {template.name}'s format)" if frame is not None and template is not None else "")
    if failed:
        line += f"; {len(failed)} unreadable (rows without a label)"
    click.echo(line)
    if note:
        click.echo(f"note: {note}", err=True)
    if summary.get("accuracy") is not None:
        where = ("the table's label column holds" if all("key" in r for r in rows) else "their folders name"
                 if all(Path(r["path"]).parent.name == t for r, t in zip(rows, truth or [])) else
                 "their file names carry")
        click.echo(f"accuracy {100 * summary['accuracy']:.2f} % on {scored} images ({where} the true class)")
