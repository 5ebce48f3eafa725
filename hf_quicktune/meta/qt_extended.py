"""Importer for the Quick-Tune paper's *extended* meta-dataset layout (Arango et al., ICLR 2024, §5.1).

Files (each may be gzipped): ``eval_top1.json`` = ``{dataset: {run_id: [top-1 % per epoch]}}`` (plus a
non-curve ``"info"`` key, skipped), ``epoch_seconds.json`` (same keys, seconds of each epoch),
``configs_onehot.csv`` (one row per run id: one-hot groups ``cat:NAME:VALUE`` and numeric columns,
``-1`` = inactive) and ``dataset_descriptors.json`` = ``{dataset: [images, classes, px, channels]}``.

Decoding into the names and values of ``recipes/spaces/quicktune.yaml`` (DEVELOPING.md):

* one-hot groups become their value; ``"None"`` becomes None (``auto_augment``, ``opt_betas`` of SGD)
  and ``data_augmentation: None`` becomes ``"none"``; ``opt_betas`` strings become ``[b1, b2]``.
* ``opt: adamp`` (AdamP, Heo et al. 2021: Adam with decoupled weight decay plus a projection for
  scale-invariant weights) has no counterpart in our space; it is mapped to its nearest member
  ``adamw``, and the number of such runs is recorded in ``info["adamp_as_adamw"]``.
* ``clip_grad`` / ``layer_decay`` ``-1`` become None (off); ``amp`` and ``linear_probing`` booleans.
* conditionals inactive by the space's rules become None whatever the file holds (``decay_epochs=90``,
  ``patience_epochs=10``, ``ra_magnitude=8`` are such placeholders; ``momentum`` outside SGD,
  ``warmup_lr`` without warm-up).
* ``stoch_norm`` and ``cotuning_reg`` are not in our space (our engine has neither): dropped; the
  number of runs that used them is recorded in ``info``.
* dataset meta-features: ``num_train`` = 60 % of the images (the paper's 60/20/20 split; the name
  our :class:`~hf_quicktune.data.types.DatasetMeta` uses) and ``num_classes``. Image size (128) and
  channels (3) are the same for every dataset, so they carry no information and are not imported
  (a prior would otherwise extrapolate from a constant at search time).
* model features: the :mod:`hf_quicktune.zoo.descriptors` of each model (parameters, native input
  size, pretraining images, attention share), so a prior can describe models it never saw.

**One-epoch runs** (a third of this meta-dataset; median cost 4 s against 170 s for the others, median
accuracy 3.5 %) are runs that crashed or were aborted in their first epoch. They are kept as what they
are: trials that ended after one epoch with that score. Meta-training therefore learns that such
configurations end low (their final accuracy is the recorded one), and the benchmark replays them as
trials that fail after epoch 1. ``info["one_epoch_runs"]`` counts them.
"""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hf_quicktune.errors import MetaError
from hf_quicktune.meta.format import MetaDataset

logger = logging.getLogger(__name__)

LAYOUT = "qt-extended"
TRAIN_FRACTION = 0.6
#: conditionals of recipes/spaces/quicktune.yaml: hyperparameter -> (parent, active values)
CONDITIONS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "momentum": ("opt", ("sgd", "momentum")),
    "opt_betas": ("opt", ("adam", "adamw")),
    "decay_epochs": ("sched", ("step", "multistep")),
    "decay_rate": ("sched", ("step", "multistep", "plateau")),
    "patience_epochs": ("sched", ("plateau",)),
    "warmup_lr": ("warmup_epochs", (5, 10)),
    "ra_num_ops": ("data_augmentation", ("random_augment",)),
    "ra_magnitude": ("data_augmentation", ("random_augment",)),
    "auto_augment": ("data_augmentation", ("auto_augment",)),
}
DROPPED = ("stoch_norm", "cotuning_reg")
_INT = ("batch_size", "warmup_epochs", "decay_epochs", "patience_epochs", "ra_num_ops", "ra_magnitude")
_BOOL = ("amp", "linear_probing")
_OFF_IS_MINUS_ONE = ("clip_grad", "layer_decay")


def _file(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.exists():
            return candidate
    return None


def is_qt_extended(folder: Path) -> bool:
    return _file(folder, "eval_top1.json") is not None and _file(folder, "configs_onehot.csv") is not None


def _read_json(folder: Path, name: str) -> Any:
    path = _file(folder, name)
    if path is None:
        raise MetaError(f"{folder} has no {name}[.gz] (the Quick-Tune extended layout needs it)")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as fh:
            return json.load(fh)
    except (OSError, json.JSONDecodeError) as err:
        raise MetaError(f"{path} is not readable JSON ({err}); re-extract the meta-dataset") from None


def decode_row(row: pd.Series) -> tuple[str, dict[str, Any], dict[str, float]]:
    """(model, configuration in our names, {dropped hyperparameter: value}) of one one-hot row."""
    cfg: dict[str, Any] = {}
    for col, value in row.items():
        col = str(col)
        if col.startswith("cat:"):
            if value == 1:
                _, name, choice = col.split(":", 2)
                cfg[name] = choice
        else:
            cfg[col] = value.item() if isinstance(value, np.generic) else value
    model = cfg.pop("model", None)
    if model is None:
        raise MetaError(f"run {row.name} has no cat:model:* column set")
    for name in ("auto_augment", "opt_betas"):
        if cfg.get(name) == "None":
            cfg[name] = None
    if cfg.get("data_augmentation") == "None":
        cfg["data_augmentation"] = "none"
    if isinstance(cfg.get("opt_betas"), str):
        cfg["opt_betas"] = [float(x) for x in cfg["opt_betas"].strip("[]").replace(",", " ").split()]
    if cfg.get("opt") == "adamp":
        cfg["opt"] = "adamw"
        cfg["_adamp"] = True
    for name in _OFF_IS_MINUS_ONE:
        if name in cfg and float(cfg[name]) < 0:
            cfg[name] = None
    for name in _BOOL:
        if name in cfg:
            cfg[name] = bool(cfg[name])
    for name in _INT:
        if cfg.get(name) is not None:
            cfg[name] = int(cfg[name])
    if cfg.get("clip_grad") is not None:
        cfg["clip_grad"] = int(cfg["clip_grad"])
    for name, (parent, active) in CONDITIONS.items():
        if name in cfg and cfg.get(parent) not in active:
            cfg[name] = None
    dropped = {name: float(cfg.pop(name)) for name in DROPPED if name in cfg}
    return str(model), cfg, dropped


def import_qt_extended(folder: str | Path, *, describe_models: bool = True) -> MetaDataset:
    """Import the extended layout in ``folder`` (see the module docstring for every mapping)."""
    folder = Path(folder)
    top1 = _read_json(folder, "eval_top1.json")
    seconds = _read_json(folder, "epoch_seconds.json")
    descriptors = _read_json(folder, "dataset_descriptors.json")
    cfg_path = _file(folder, "configs_onehot.csv")
    try:
        table = pd.read_csv(cfg_path, index_col=0)
    except (OSError, ValueError) as err:
        raise MetaError(f"{cfg_path} is not a readable CSV ({err}); re-extract the meta-dataset") from None
    table.index = table.index.astype(str)
    decoded = {rid: decode_row(row) for rid, row in table.iterrows()}

    rows, dropped_used, adamp = [], dict.fromkeys(DROPPED, 0), 0
    for dataset, runs in top1.items():
        if not isinstance(runs, dict) or dataset == "info":
            continue  # the "info" key holds metadata strings, not curves
        if dataset not in descriptors:
            raise MetaError(f"dataset {dataset!r} has curves but no entry in dataset_descriptors.json")
        for run_id, values in runs.items():
            if run_id not in decoded:
                raise MetaError(f"run {run_id} of {dataset} has no row in configs_onehot.csv")
            cost = (seconds.get(dataset) or {}).get(run_id)
            if cost is None or len(cost) != len(values):
                raise MetaError(f"run {run_id} of {dataset}: epoch_seconds does not match eval_top1 in length")
            if not values:
                continue
            model, cfg, dropped = decoded[run_id]
            cfg = dict(cfg)
            adamp += bool(cfg.pop("_adamp", False))
            for name, value in dropped.items():
                dropped_used[name] += value != 0
            acc = np.clip(np.asarray(values, dtype=float) / 100.0, 0.0, 1.0)  # one value is 100.00000036 %
            rows.append((dataset, run_id, model, cfg, acc, np.asarray(cost, dtype=float)))
    if not rows:
        raise MetaError(f"{folder}: eval_top1.json holds no runs")
    width = max(len(r[4]) for r in rows)
    curves = np.full((len(rows), width), np.nan)
    costs = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        curves[i, : len(r[4])] = r[4]
        costs[i, : len(r[5])] = r[5]
    datasets = np.asarray([r[0] for r in rows], dtype=object)
    names = list(dict.fromkeys(datasets.tolist()))
    meta = pd.DataFrame.from_dict(
        {d: {"num_train": float(round(TRAIN_FRACTION * descriptors[d][0])), "num_classes": float(descriptors[d][1])}
         for d in names}, orient="index")
    models = np.asarray([r[2] for r in rows], dtype=object)
    model_features = None
    if describe_models:
        from hf_quicktune.zoo.descriptors import describe_architecture

        model_features = pd.DataFrame.from_dict(
            {m: describe_architecture(m) for m in sorted(set(models.tolist()))}, orient="index").astype(float)
    lengths = (~np.isnan(curves)).sum(axis=1)
    info = {"source": folder.name, "layout": LAYOUT, "costs": "epoch_seconds per epoch",
            "one_epoch_runs": int((lengths == 1).sum()), "adamp_as_adamw": adamp,
            "dropped_hyperparameters": {k: int(v) for k, v in dropped_used.items()}}
    logger.info("imported %d runs (%d one-epoch runs kept as failed trials)", len(rows), info["one_epoch_runs"])
    return MetaDataset(datasets=datasets, run_ids=np.asarray([r[1] for r in rows], dtype=object), models=models,
                       configs=[r[3] for r in rows], curves=curves, costs=costs, meta_features=meta,
                       model_features=model_features, info=info)
