"""Timings a run's schedule is fitted from (:mod:`hf_quicktune.run.schedule`), measured on this device: a real
training step of a candidate at the by-hand configuration's batch, an evaluation batch's forward pass, a
checkpoint write, and the loading of the run's own training and validation images."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

REFERENCE_BATCH = 32
#: timed steps of the reference configuration (their median; one more warms up)
REPEATS = 4
#: loaded batches of the run's own images timed (one more warms up)
LOAD_BATCHES = 3


def measure_reference(candidate: Any, num_classes: int, image_size: int | None, *,
                      batch_size: int = REFERENCE_BATCH, seed: int = 0, repeats: int = REPEATS,
                      scratch_dir: str | Path | None = None, split: Any = None, eval_split: Any = None,
                      max_seconds: float | None = None) -> dict[str, float]:
    """``{"step_s", "checkpoint_s"[, "load_s"]}`` of ``candidate`` on this device: one AdamW training step of every
    parameter at ``batch_size`` (median of ``repeats``), the write of one epoch's checkpoint (its weights and
    two optimizer moments per parameter as AdamW keeps; the best epoch is a hard link, free) under
    ``scratch_dir`` (the run directory: the disk the trials write to) and, given the training ``split``, the
    loading of one batch of its images (:func:`measure_loading`); ``"eval_step_s"``: one evaluation batch's
    forward pass (:func:`measure_eval_batch`) and, given the ``eval_split`` (validation), ``"eval_load_s"``: one of
    its batches loaded with the evaluation transforms. ``max_seconds``: the timed steps stop early once they
    took that long (at least one after the warm-up)."""
    import tempfile

    import torch

    from hf_quicktune.estimate.estimator import measure_seconds_per_step
    from hf_quicktune.run.cost_prior import native_size
    from hf_quicktune.train.checkpoint import save_checkpoint
    from hf_quicktune.train.device import default_accelerator
    from hf_quicktune.train.layout import to_layout, use_channels_last
    from hf_quicktune.zoo import create_model
    from hf_quicktune.zoo.freezing import trainable_parameter_names

    torch.manual_seed(seed)
    model = create_model(candidate, num_classes=num_classes, image_size=image_size)
    acc = default_accelerator()
    model = model.to(acc.device)  # the trials' device, in the layout a trial of the by-hand configuration trains in
    to_layout(model, use_channels_last(acc.device.type, False))  # (amp off: its steps, and these, are fp32)
    size = image_size or native_size(candidate)
    step = measure_seconds_per_step(model, trainable_parameter_names(model, 0.0), batch_size, (3, size, size),
                                    num_classes, repeats=repeats, optimizer="adamw", max_seconds=max_seconds)
    forward = measure_eval_batch(model, batch_size, (3, size, size), repeats=repeats,
                                 max_seconds=None if max_seconds is None else max_seconds / 3)
    weights = model.state_dict()
    moments = {"state": {i: {"exp_avg": p.detach().clone(), "exp_avg_sq": p.detach().clone()}
                         for i, p in enumerate(model.parameters())}}
    if scratch_dir is not None:
        Path(scratch_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".schedule-", dir=scratch_dir) as tmp:
        t0 = time.perf_counter()
        save_checkpoint(tmp, 1, weights, {"optimizer": moments}, {"epoch": 1})
        checkpoint = time.perf_counter() - t0
    del model, moments
    out = {"step_s": float(step), "eval_step_s": float(forward), "checkpoint_s": float(checkpoint)}
    if split is not None:
        out["load_s"] = measure_loading(candidate, split, image_size, batch_size=batch_size, seed=seed)
    if eval_split is not None:
        out["eval_load_s"] = measure_loading(candidate, eval_split, image_size, batch_size=batch_size, seed=seed,
                                             train=False)
    return out


def measure_eval_batch(model: Any, batch_size: int, image_shape: tuple[int, ...], *, repeats: int = REPEATS,
                       max_seconds: float | None = None) -> float:
    """Seconds of one evaluation batch's forward pass (eval mode, no gradients) at ``batch_size`` on the model's
    device: the median of ``repeats`` after one that warms up, fewer once they took ``max_seconds`` (at least
    one). The schedule priced it as a third of a training step before: a guess that matters where the
    validation split is large and the budget small, since an epoch that ends at the budget's end stops
    training early by the predicted evaluation (too high: budget left unused; too low: the budget overrun)."""
    import torch

    from hf_quicktune.train.layout import batch_layout, uses_channels_last

    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    x = batch_layout(torch.randn(batch_size, *image_shape, device=device), uses_channels_last(model))
    was_training = model.training
    model.eval()
    times: list[float] = []
    spent = 0.0
    try:
        with torch.no_grad():
            for i in range(repeats + 1):
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                t0 = time.perf_counter()
                model(x)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                took = time.perf_counter() - t0
                spent += took
                if i:
                    times.append(took)
                if times and max_seconds is not None and spent >= max_seconds:
                    break
    finally:
        model.train(was_training)
    return float(sorted(times)[len(times) // 2])


def measure_loading(candidate: Any, split: Any, image_size: int | None, *, batch_size: int = REFERENCE_BATCH,
                    batches: int = LOAD_BATCHES, seed: int = 0, train: bool = True) -> float:
    """Seconds to decode and transform one training batch of ``split`` (the train engine's loader and the
    by-hand configuration's transforms; its evaluation transforms with ``train=False``), divided by the loader
    workers where there are any (they load while the model trains); on a 2-core machine there are none and it
    adds to every step. Timed per image over the batches after the first (which pays one-time costs), or on
    the first where the split has no other."""
    from hf_quicktune.train.config import DEFAULTS
    from hf_quicktune.train.loaders import (
        build_transforms,
        default_num_workers,
        limit_split,
        make_loader,
        torch_dataset,
    )

    train_tf, eval_tf = build_transforms(candidate.data_config(), DEFAULTS, image_size)
    subset = limit_split(split, batch_size * (batches + 1), seed)
    batches_iter = iter(make_loader(torch_dataset(subset, train_tf if train else eval_tf), batch_size, shuffle=False,
                                    num_workers=0))
    t0 = time.perf_counter()
    first = next(batches_iter, None)  # pays one-time costs: timed alone, used only where it is the only batch
    first_s = time.perf_counter() - t0
    if first is None:
        return 0.0
    t0, images = time.perf_counter(), 0
    for batch in batches_iter:
        images += len(batch["label"])
    seconds = time.perf_counter() - t0
    if images == 0:  # a split of one batch or less (a small validation split) was priced at nothing
        seconds, images = first_s, len(first["label"])
    return seconds / images * batch_size / max(1, default_num_workers())
