"""Synthetic meta-datasets with learnable structure, for tests, demos and quick benchmark checks.

Curves follow a saturating power law whose ceiling depends on the configuration through a
dataset-dependent optimum (datasets with similar meta-features have similar optima), so a
meta-learned surrogate has something real to transfer. Costs grow with ``width`` and fall with
``batch_size``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hf_quicktune.meta.format import MetaDataset


def make_synthetic(
    n_datasets: int = 6, n_configs: int = 40, max_epochs: int = 12, seed: int = 0, models: bool = False,
    zero_cost: bool = False,
) -> MetaDataset:
    """A :class:`MetaDataset` of ``n_datasets`` × ``n_configs`` runs sharing one configuration pool."""
    rng = np.random.default_rng(seed)
    lr = 10 ** rng.uniform(-4, -1, n_configs)
    width = rng.choice([64, 128, 256, 512], n_configs)
    batch = rng.choice([16, 32, 64, 128], n_configs)
    opt = rng.choice(["sgd", "adam"], n_configs)
    model_names = np.array(["tiny_a", "tiny_b", "tiny_c"])
    model_of = rng.choice(model_names, n_configs) if models else np.full(n_configs, None, dtype=object)
    configs: list[dict[str, Any]] = [
        {"lr": float(lr[i]), "width": int(width[i]), "batch_size": int(batch[i]), "opt": str(opt[i])}
        for i in range(n_configs)
    ]
    names, mf_rows = [], {}
    datasets, run_ids, run_models, run_cfgs, curves, costs = [], [], [], [], [], []
    epochs = np.arange(1, max_epochs + 1)
    zc_rows = {}
    for d in range(n_datasets):
        name = f"synth_{d}"
        names.append(name)
        hardness = rng.uniform(0, 1)
        size = 10 ** rng.uniform(3, 5)
        mf_rows[name] = {"num_samples": size, "num_classes": float(rng.integers(2, 50)), "hardness": hardness}
        best_log_lr = -3.5 + 2.0 * hardness  # similar meta-features -> similar optimum
        model_bonus = {m: rng.uniform(-0.1, 0.1) for m in model_names}
        for i, cfg in enumerate(configs):
            ceiling = 0.95 - 0.35 * hardness - 0.12 * (np.log10(cfg["lr"]) - best_log_lr) ** 2
            ceiling += 0.03 * (cfg["opt"] == "adam") + 0.02 * np.log2(cfg["width"] / 64) / 3
            if models:
                ceiling += model_bonus[model_of[i]]
            ceiling = float(np.clip(ceiling, 0.05, 0.99))
            rate = 0.3 + 0.5 * rng.uniform()
            start = 0.05 + 0.1 * rng.uniform()
            curve = ceiling - (ceiling - start) * np.exp(-rate * (epochs - 1))
            curve = np.clip(curve + rng.normal(0, 0.005, max_epochs), 0, 1)
            per_epoch = (size / 1e4) * (cfg["width"] / 128) * (64 / cfg["batch_size"]) ** 0.5
            cost = per_epoch * (1 + rng.normal(0, 0.03, max_epochs)).clip(0.5)
            datasets.append(name)
            run_ids.append(str(i))
            run_models.append(model_of[i])
            run_cfgs.append(dict(cfg))
            curves.append(curve)
            costs.append(cost)
        if zero_cost:
            for m in model_names:
                zc_rows[(name, str(m))] = {"logme": model_bonus[m] + rng.normal(0, 0.02)}
    zc = None
    if zero_cost:
        zc = pd.DataFrame.from_dict(zc_rows, orient="index")
        zc.index = pd.MultiIndex.from_tuples(zc.index, names=["dataset", "model"])
    return MetaDataset(
        datasets=np.asarray(datasets, dtype=object),
        run_ids=np.asarray(run_ids, dtype=object),
        models=np.asarray(run_models, dtype=object),
        configs=run_cfgs,
        curves=np.asarray(curves),
        costs=np.asarray(costs),
        meta_features=pd.DataFrame.from_dict(mf_rows, orient="index"),
        zero_cost=zc,
        info={"source": "synthetic", "seed": seed},
    )
