"""``hf-quicktune estimate``: predicted loss curve and fine-tuning time, without training.

Heavy imports (torch, timm, datasets) happen inside the command body.
"""

from __future__ import annotations

import json
import math
from typing import Any

import click

from hf_quicktune.commands.options import dataset_options
from hf_quicktune.errors import ConfigError

#: the criterion predicted when none is named: Zancato et al.'s supplementary one (steps until the loss is within a
#: tenth of its decrease from its final value), defined whatever the loss scale; without it the command printed no
#: prediction at all. benchmarks/estimate_accuracy.py measures it (linear probing within 10 %: median error 1.4 %)
DEFAULT_WITHIN = 0.1


def _subset_train(prepared, size: int, seed: int):
    """The dataset with its train split cut to ``size`` stratified images (same object otherwise)."""
    import dataclasses

    import datasets
    import numpy as np

    from hf_quicktune.data.columns import column_values
    from hf_quicktune.data.sampling import stratified_sample

    if size >= len(prepared.train):
        return prepared
    idx = stratified_sample(np.asarray(column_values(prepared.train, prepared.label_column)), size, seed=seed)
    splits = datasets.DatasetDict({**prepared.splits, "train": prepared.train.select(idx.tolist())})
    return dataclasses.replace(prepared, splits=splits)


@click.command("estimate")
@click.option("--dataset", "-d", "dataset", required=True, help="Dataset spec (Hub id, folder, file, builtin:digits).")
@dataset_options
@click.option("--model", "-m", "model", required=True, help="Candidate name (see `hf-quicktune zoo list`).")
@click.option("--lr", type=float, default=0.01, show_default=True, help="Learning rate.")
@click.option("--batch-size", type=int, default=32, show_default=True, help="Batch size.")
@click.option("--momentum", type=float, default=0.0, show_default=True, help="SGD (heavy-ball) momentum.")
@click.option("--opt", type=click.Choice(["sgd", "momentum", "adam", "adamw"]), default="sgd", show_default=True,
              help="Optimizer; Adam-type ones are outside the theory (estimate given with a warning).")
@click.option("--pct-to-freeze", type=float, default=0.0, show_default=True,
              help="Fraction of parameter tensors frozen from the input side (head always trains).")
@click.option("--linear-probing", is_flag=True, help="Train the head only.")
@click.option("--smoothing", type=float, default=0.0, show_default=True, help="Label smoothing.")
@click.option("--loss", type=click.Choice(["cross_entropy", "mse"]), default="cross_entropy", show_default=True)
@click.option("--target-loss", type=float, help="Predict steps/epochs to reach this training loss.")
@click.option("--epochs", type=float, help="Predict the training loss after this many epochs.")
@click.option("--within", type=float,
              help="Predict the steps until the loss is within this fraction of its decrease from its final "
                   "value (the loss after --epochs, else 100 epochs): Zancato et al.'s supplementary criterion, "
                   "defined whatever the loss scale.  [default: 0.1 when neither --target-loss nor --epochs is "
                   "given]")
@click.option("--image-size", type=int, help="Square input size (small values keep CPU runs cheap, e.g. 64).")
@click.option("--samples", "n", type=int, default=128, show_default=True, help="Images linearized (subsample n).")
@click.option("--projection", "k", type=int, help="Sketch gradients to k dims (default: exact when they fit).")
@click.option("--class-probes", type=int, help="Random class probes instead of all C outputs (cheaper).")
@click.option("--norm-statistics", type=click.Choice(["pretrained", "batch", "target"]), default="pretrained",
              show_default=True,
              help="How BatchNorm layers that train are linearized: pretrained = eval mode with the checkpoint's "
                   "statistics (cheap; on Lite0's last stage at 32 px it predicted 1.1-8x too many steps); batch = "
                   "normalising each batch of --batch-size by its statistics, as fine-tuning does (median error 4.6-11.6 % "
                   "there; n x --batch-size backward passes per class probe, --class-probes 2 makes it ~5x cheaper; "
                   "use it with --pct-to-freeze keeping the early layers frozen: with every layer trained its "
                   "linearized model diverges where training does not); target = eval mode with the data's "
                   "statistics.")
@click.option("--train-samples", type=int, help="Use only this many (stratified) training images (a dataset in many "
              "files, e.g. a Hub repo of shards, is read from enough of them).")
@click.option("--validate", is_flag=True, help="Also train for real (plain SGD) and overlay the measured curve.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="Write the predicted (vs measured) PNG.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@click.option("--seed", type=int, default=0, show_default=True)
def estimate(dataset, model, lr, batch_size, momentum, opt, pct_to_freeze, linear_probing, smoothing, loss,
             target_loss, epochs, within, image_size, n, k, class_probes, norm_statistics, train_samples, validate,
             plot_path, as_json, seed, **dataset_opts) -> None:
    """Predict how fast fine-tuning MODEL on DATASET lowers the training loss, without training.

    Linearizes the pretrained network (Zancato et al., NeurIPS 2020): the NTK of a subsample (exact, from each
    layer's inputs and output gradients where the model allows; --norm-statistics batch: BatchNorm layers that
    train normalise each batch by its statistics, as fine-tuning trains them) -> its spectrum -> expected
    SGD loss curve -> steps/epochs to --target-loss, or loss
    after --epochs, or (the default) steps until the loss is within --within 0.1 of its final value ->
    wall-clock from one measured step on this device.
    """
    from rich.console import Console

    from hf_quicktune.data import load
    from hf_quicktune.data.options import load_kwargs
    from hf_quicktune.estimate import estimate as run_estimate
    from hf_quicktune.zoo import get_candidate

    if target_loss is not None and epochs is not None:
        raise ConfigError("give either --target-loss or --epochs, not both.")
    if target_loss is not None and within is not None:
        raise ConfigError("give either --target-loss or --within, not both (--within measures from the final loss).")
    if epochs is not None and not (epochs > 0 and math.isfinite(epochs)):
        raise ConfigError(f"--epochs must be a positive number of epochs, got {epochs:g} (e.g. --epochs 5).")
    if target_loss is not None and not (target_loss > 0 and math.isfinite(target_loss)):
        raise ConfigError(f"--target-loss must be a positive training loss, got {target_loss:g} (e.g. 0.5).")
    if target_loss is None and epochs is None and within is None:
        within = DEFAULT_WITHIN  # something to predict: the criterion defined whatever the loss scale
    if within is not None and not 0.0 < within < 1.0:
        raise ConfigError(f"--within must be a fraction in (0, 1) of the loss decrease, got {within} (e.g. 0.1).")
    if plot_path:
        from hf_quicktune.run.settings import check_output_file

        check_output_file(plot_path, "--plot")  # now, not after the estimate
    console = Console(stderr=True)
    # the images used, as `run --train-limit` reads them; validation is not used: a quarter as many, which a carved
    # split (20 % by default) takes without reading more of train
    eval_limit = max(1, train_samples // 4) if train_samples else None
    prepared = load(dataset, seed=seed, train_limit=train_samples, eval_limit=eval_limit, **load_kwargs(dataset_opts))
    if train_samples:
        prepared = _subset_train(prepared, train_samples, seed)
    candidate = get_candidate(model)
    config = {"model": candidate.name, "lr": lr, "batch_size": batch_size, "momentum": momentum, "opt": opt,
              "pct_to_freeze": pct_to_freeze, "linear_probing": linear_probing, "smoothing": smoothing}
    with console.status(f"Linearizing {candidate.name} on {min(n, len(prepared.train))} images..."):
        est = run_estimate(prepared, candidate, config, n=n, k=k, target_loss=target_loss, epochs=epochs,
                           image_size=image_size, loss=loss, class_probes=class_probes, seed=seed, within=within,
                           norm_statistics=norm_statistics)
    summary = est.to_dict()
    measured = None
    if validate:
        measured = _validate(prepared, candidate, config, est, image_size, loss, smoothing, seed, console)
        summary["measured"] = measured
    for w in est.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")
    if plot_path:
        from hf_quicktune.report.estimate import plot_estimate

        plot_estimate(plot_path, est.curve.loss, steps_per_epoch=est.steps_per_epoch,
                      predicted_flow=est.curve.loss_flow,
                      measured_steps=measured["steps"] if measured else None,
                      measured_loss=measured["loss"] if measured else None, target_loss=target_loss,
                      title=f"{candidate.name} on {prepared.name}: lr={lr} B={batch_size} m={momentum}")
        summary["plot"] = plot_path
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=float))
        return
    _print(summary, est)


def _validate(prepared, candidate, config, est, image_size, loss, smoothing, seed, console) -> dict:
    """Train the real model with the measuring SGD loop as long as the prediction covers."""
    import torch

    from hf_quicktune.estimate.estimator import load_subsample
    from hf_quicktune.estimate.jacobian import trainable_parameter_names
    from hf_quicktune.estimate.measure import train_and_measure
    from hf_quicktune.zoo import create_model

    x, y = load_subsample(prepared, candidate, len(prepared.train), image_size, seed=seed)
    model = create_model(candidate, num_classes=prepared.num_classes, image_size=image_size)
    names = trainable_parameter_names(model, config["pct_to_freeze"], config["linear_probing"])
    steps = est.predicted_steps or len(est.curve.loss) - 1
    max_steps = max(10, int(math.ceil(1.5 * steps))) if est.target_loss is not None else max(1, steps)
    if est.within is not None:  # the criterion measures from the final loss: train to the prediction's horizon
        max_steps = max(1, len(est.curve.loss) - 1)
    eval_every = max(1, max_steps // 30)
    torch.manual_seed(seed)
    with console.status("Training for real to validate...") as status:
        curve = train_and_measure(
            model, x, y, trainable=names, lr=config["lr"], batch_size=config["batch_size"],
            momentum=config["momentum"], loss=loss, smoothing=smoothing, max_steps=max_steps,
            eval_every=eval_every, target_loss=None, seed=seed,
            on_eval=lambda s, v: status.update(f"Training for real: step {s}/{max_steps}, loss {v:.4f}"),
        )
    out: dict[str, Any] = {"steps": curve.steps, "loss": curve.loss, "train_seconds": curve.train_seconds,
           "seconds_per_step": curve.seconds_per_step}
    if est.target_loss is not None:
        out["steps_to_target"] = curve.steps_to(est.target_loss)
        if out["steps_to_target"] is not None:
            out["seconds_to_target"] = out["steps_to_target"] * curve.seconds_per_step
    if est.within is not None:
        out["steps_to_target"] = curve.steps_to_within(est.within)
        if out["steps_to_target"] is not None:
            out["seconds_to_target"] = out["steps_to_target"] * curve.seconds_per_step
    if est.epochs is not None:
        out["loss_after_epochs"] = curve.loss[-1]
    return out


def _fmt(value, spec: str = ".4g") -> str:
    return "-" if value is None else format(value, spec)


def _measured_epochs(measured: dict | None, est) -> str | None:
    """The measured steps to the target (or within the tolerance) in epochs; None without a measurement."""
    if not measured:
        return None
    steps = measured.get("steps_to_target")
    return _fmt(None if steps is None else steps / est.steps_per_epoch, ".2f")


def _print(summary: dict, est) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Predicted fine-tuning of {summary['candidate']} ({summary['loss']})")
    table.add_column("quantity")
    table.add_column("predicted", justify="right")
    measured = summary.get("measured")
    if measured:
        table.add_column("measured", justify="right")

    def row(name, pred, meas=None):
        table.add_row(name, pred, *([meas if meas is not None else "-"] if measured else []))

    row("training images / linearized", f"{summary['num_train']} / {summary['subsample']}")
    row("trainable parameters", f"{summary['trainable_params']:,}"
        + (f" (sketched to {summary['projected_dim']})" if summary["projected_dim"] else ""))
    row("initial loss", _fmt(summary["initial_loss"]), _fmt(measured["loss"][0]) if measured else None)
    if summary["target_loss"] is not None:
        row(f"steps to loss {summary['target_loss']:g}", _fmt(summary["steps_to_target"], "d")
            if summary["steps_to_target"] is not None else "not reached",
            _fmt(measured.get("steps_to_target"), ".0f") if measured else None)
        row("epochs to target", _fmt(summary["epochs_to_target"], ".2f"), _measured_epochs(measured, est))
    if summary.get("within") is not None:
        row(f"steps to within {summary['within']:g} of the final loss", _fmt(summary["steps_to_target"], "d")
            if summary["steps_to_target"] is not None else "undefined (the loss diverged or rose)",
            _fmt(measured.get("steps_to_target"), ".0f") if measured else None)
        row("epochs to it", _fmt(summary["epochs_to_target"], ".2f"), _measured_epochs(measured, est))
    if summary["epochs"] is not None:
        row(f"loss after {summary['epochs']:g} epochs", _fmt(summary["loss_after_epochs"]),
            _fmt(measured.get("loss_after_epochs")) if measured else None)
    row("seconds per step (this device)", _fmt(summary["seconds_per_step"], ".3f"),
        _fmt(measured["seconds_per_step"], ".3f") if measured else None)
    if measured:
        seconds = measured.get("seconds_to_target") if summary["target_loss"] is not None or \
            summary.get("within") is not None else measured["train_seconds"]
    row("predicted wall-clock (s)", _fmt(summary["predicted_seconds"], ".1f"),
        _fmt(seconds, ".1f") if measured else None)
    row("estimation time (s)", _fmt(summary["estimation_seconds"], ".1f"))
    console = Console()
    console.print(table)
    if summary.get("plot"):
        console.print(f"plot: {summary['plot']}")
