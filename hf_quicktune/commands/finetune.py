"""``hf-quicktune finetune``: one trial (one model, one configuration) from the command line.

Heavy imports (torch, timm, datasets) happen inside the command body.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from hf_quicktune.commands.options import dataset_options, pop_dataset_options
from hf_quicktune.errors import ConfigError
from hf_quicktune.train.config import AUGMENTATIONS, LR_STEPPINGS, OPTIMIZERS, SCHEDULERS

#: command-line flags that map 1:1 to hyperparameter names
_FLAGS = ("lr", "batch_size", "opt", "weight_decay", "sched", "warmup_epochs", "pct_to_freeze", "smoothing",
          "drop", "data_augmentation", "amp")


def _read_config(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read hyperparameters from {path}: {err}") from err
    if isinstance(data, dict) and isinstance(data.get("config"), dict):
        data = data["config"]  # a run's trial.json-style {"config": {...}} also works
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of hyperparameter names to values, e.g. 'lr: 0.001'.")
    return data


def _parse_sets(values: tuple[str, ...]) -> dict[str, Any]:
    import yaml

    out = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE (e.g. --set layer_decay=0.75), got {item!r}.")
        out[key.strip()] = yaml.safe_load(raw)
    return out


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


@click.command("finetune")
@click.option("--dataset", "-d", required=True, help="Dataset: Hub id, folder, file, or builtin:digits / builtin:mnist5k.")
@dataset_options
@click.option("--model", "-m", required=True,
              help="Candidate: zoo name, timm name[.tag], hf-hub:org/name, scratch:ARCH or a local path.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="YAML file of hyperparameters (Quick-Tune names, see DEVELOPING.md).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Any hyperparameter, e.g. --set layer_decay=0.75.")
@click.option("--lr", type=float, help="Learning rate.")
@click.option("--batch-size", type=int, help="Batch size (gradient accumulation is used if it does not fit).")
@click.option("--opt", type=click.Choice(OPTIMIZERS), help="Optimizer.")
@click.option("--weight-decay", type=float, help="Weight decay.")
@click.option("--sched", type=click.Choice(SCHEDULERS), help="LR schedule.")
@click.option("--warmup-epochs", type=int, help="Linear warmup epochs.")
@click.option("--lr-stepping", type=click.Choice(LR_STEPPINGS), default="warmup", show_default=True,
              help="When the lr schedule moves: 'warmup' after every update during the warm-up, then once an epoch; "
                   "'update' after every update (timm's --sched-on-updates); 'epoch' once an epoch (timm train.py's "
                   "default).")
@click.option("--pct-to-freeze", type=float, help="Fraction of backbone layers to freeze (0..1).")
@click.option("--smoothing", type=float, help="Label smoothing.")
@click.option("--drop", type=float, help="Dropout before the classifier.")
@click.option("--data-augmentation", type=click.Choice(AUGMENTATIONS))
@click.option("--amp/--no-amp", default=None, help="Mixed precision (bf16/fp16) on GPUs.")
@click.option("--epochs", "-e", type=int, default=1, show_default=True, help="Train until this many epochs are done.")
@click.option("--max-epochs", type=int, help="Budget the lr schedule spans [default: --epochs]. Set it to continue later.")
@click.option("--output-dir", "-o", required=True, type=click.Path(file_okay=False),
              help="Trial directory (curve.jsonl, newest checkpoint); re-running continues from it.")
@click.option("--image-size", type=int, help="Train/evaluate at this resolution instead of the model's (e.g. 64 on CPU).")
@click.option("--train-limit", type=int, help="Train on a fixed random subset of this many images (a dataset in "
              "many files, on the Hub or a local folder of shards, is read in part: enough files for the limits).")
@click.option("--eval-limit", type=int, help="Evaluate on at most this many images.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--allow-pickle", is_flag=True, help="Load a pickled (non-safetensors) checkpoint. Only for sources you trust.")
@click.option("--test/--no-test", "run_test", default=True, show_default=True,
              help="Evaluate the final model on the test split (when the dataset has one).")
@click.option("--metric", type=click.Choice(["top1", "balanced_accuracy", "macro_f1"]), default="top1",
              show_default=True,
              help="Validation metric the best epoch is kept by (timm's --eval-metric; a plateau schedule follows "
                   "it too): top-1, balanced accuracy (mean per-class recall) or macro F1. All three are printed.")
def finetune(dataset, model, config_path, sets, epochs, max_epochs, output_dir, image_size, train_limit,
             eval_limit, seed, allow_pickle, run_test, lr_stepping, metric, **flags) -> None:
    """Fine-tune one model with one hyperparameter configuration (one Quick-Tune trial).

    Example: hf-quicktune finetune -d builtin:digits -m tf_efficientnet_lite0 --lr 1e-3
    --epochs 3 --image-size 64 -o runs/lite0
    """
    from hf_quicktune.data.sources import check_dataset_spec
    from hf_quicktune.run.settings import check_output_dir

    check_output_dir(output_dir, "--output-dir")  # before anything slow
    check_dataset_spec(dataset)
    dataset_opts = pop_dataset_options(flags)
    config = _read_config(config_path)
    config.update({k: v for k, v in flags.items() if k in _FLAGS and v is not None})
    config.update(_parse_sets(sets))
    if epochs < 1:
        raise ConfigError("--epochs must be at least 1.")
    max_epochs = max_epochs or epochs
    if max_epochs < epochs:
        raise ConfigError(f"--max-epochs ({max_epochs}) must be >= --epochs ({epochs}).")

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from hf_quicktune.data import load
    from hf_quicktune.data.options import load_kwargs
    from hf_quicktune.run.session import InterruptGuard, Terminated
    from hf_quicktune.train import Trial
    from hf_quicktune.train.config import validate_config
    from hf_quicktune.train.metrics import metric_label
    from hf_quicktune.zoo import allow_pickle as trust_pickle
    from hf_quicktune.zoo import create_model, get_candidate

    console = Console(stderr=True)
    config = validate_config({**config, "model": model})
    with console.status(f"loading {dataset} and {model}") as status:
        data = load(dataset, progress=lambda task, done, total, images: status.update(
            f"loading {dataset}: {task} {done}/{total if total else '?'}"), train_limit=train_limit,
            eval_limit=eval_limit, **load_kwargs(dataset_opts))
        candidate = get_candidate(model)
        if allow_pickle:
            trust_pickle([candidate])
        # build it once here: weights that cannot be loaded (a pickled checkpoint without --allow-pickle, a
        # checkpoint that does not fit its architecture) are the user's to fix -> one paragraph, exit code 2
        create_model(candidate, num_classes=data.num_classes, image_size=image_size)
    trial = Trial(output_dir, candidate, config, data, max_epochs=max_epochs, image_size=image_size,
                  train_limit=train_limit, eval_limit=eval_limit, seed=seed, lr_stepping=lr_stepping, metric=metric)
    todo = max(0, epochs - trial.epochs_done)
    if trial.epochs_done:
        console.print(f"continuing {output_dir}: {trial.epochs_done} epoch(s) done")
    table = Table("epoch", "val top-1", "val top-5", "val bal. acc", "val macro F1", "val loss", "train loss", "lr",
                  "img/s", "status")

    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console, transient=True)
    with progress:
        overall = progress.add_task("epochs", total=todo)
        steps = progress.add_task("epoch 1 steps", total=None)

        def callback(event: str, info: dict) -> None:
            if event == "train_step":
                progress.update(steps, description=f"epoch {info['epoch']} steps (lr {info['lr']:.2e})",
                                completed=info["step"],
                                total=info["steps"])
            elif event == "epoch":
                r = info["record"]
                progress.advance(overall)
                progress.reset(steps, total=None)
                table.add_row(str(r.epoch), _pct(r.val_top1), _pct(r.val_top5), _pct(r.val_balanced_accuracy),
                              _pct(r.val_macro_f1), _num(r.val_loss, ".4f"),
                              _num(r.train_loss, ".4f"), _num(r.lr, ".2e"), _num(r.images_per_second, ".1f"),
                              r.status if r.ok else f"[red]{r.status}[/red]")  # the message: one paragraph below
                chosen = "" if metric == "top1" else f", {metric_label(metric)} {_pct(r.score)}"
                progress.console.print(f"epoch {r.epoch}: val top-1 {_pct(r.val_top1)}{chosen}, status {r.status}")

        guard = InterruptGuard()  # SIGTERM (a preempted job) stops it as Ctrl-C does, with the same word
        try:
            records = trial.advance(todo, callback=callback)
        except KeyboardInterrupt as stop:
            how = "terminated (SIGTERM)" if guard.requested is Terminated else "interrupted"
            console.print(f"{how} with {trial.epochs_done} epoch(s) done and saved in {output_dir}; the same "
                          "command continues from there")
            if guard.requested is Terminated and not isinstance(stop, Terminated):
                raise Terminated() from stop
            raise
        finally:
            guard.restore()
    if records:
        console = Console()
        if not console.is_terminal:  # a log file or a pipe: 80 columns would shrink the numbers to ellipses
            console = Console(width=max(console.width, 130))
        console.print(table)
    summary = f"{trial.epochs_done} epoch(s) done, status {trial.status}; curve: {Path(output_dir) / 'curve.jsonl'}"
    click.echo(summary)
    if trial.status != "ok":
        failed = next((r for r in reversed(records) if not r.ok), None)
        if failed is not None and failed.message:
            click.echo(f"Error: epoch {failed.epoch} {failed.status}: {' '.join(str(failed.message).split())}", err=True)
        raise SystemExit(1)
    if run_test and trial.epochs_done and data.test is not None:
        scores = trial.evaluate("test")
        click.echo(f"test top-1 {100 * scores['top1']:.2f}%, balanced accuracy {100 * scores['balanced_accuracy']:.2f}%, "
                   f"macro F1 {100 * scores['macro_f1']:.2f}% on {scores['num_examples']} images")
    if trial.epochs_done:
        out = trial.export(Path(output_dir) / "model")
        click.echo(f"model: {out / 'model.safetensors'} (+ config.json, {candidate.library} format)")
        _per_class(trial, data.class_names, Path(output_dir))


def _per_class(trial, names: list[str], output_dir: Path) -> None:
    """The exported (newest) epoch's per-class results on validation, from its checkpoint: ``per_class.csv`` and
    ``confusion_matrix.png``."""
    from hf_quicktune.report import classes
    from hf_quicktune.train.checkpoint import checkpoint_confusion, latest_checkpoint

    latest = latest_checkpoint(output_dir)
    confusion = checkpoint_confusion(latest[1]) if latest is not None else None
    if confusion is None:  # a trial checkpointed before the matrix was kept
        confusion = trial.evaluate("validation", confusion=True)["confusion"]
    rows = classes.per_class(confusion, names)
    path, _ = classes.write_per_class({"validation": rows}, output_dir)
    plot = classes.plot_confusion(confusion, names, output_dir / "confusion_matrix.png")
    click.echo(f"weakest classes (validation recall): {classes.weakest_text(rows)}; per class: {path}, {plot.name}")
