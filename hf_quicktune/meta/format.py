"""The on-disk meta-dataset format: one parquet file, one row per fine-tuning run.

Columns (``FORMAT_VERSION`` 1):

=================  ==============  ===============================================================
column             type            content
=================  ==============  ===============================================================
``dataset``        string          dataset / task id the run was trained on
``run_id``         string          unique within the dataset
``model``          string or null  pretrained model (candidate name); null for single-model spaces
``config``         string (JSON)   the flat hyperparameter dict (DEVELOPING.md names where they apply)
``curve``          list<double>    validation accuracy per epoch, **fraction in [0, 1]**, epoch 1 first;
                                   the list ends where the run ended (no NaN padding)
``cost``           list<double>    seconds per epoch (train + eval), same length as ``curve``
``meta.<name>``    double          dataset meta-features (e.g. ``meta.num_classes``), equal on every
                                   row of one dataset
``zc.<name>``      double          optional zero-cost scores of (dataset, model) (e.g. ``zc.logme``)
``mf.<name>``      double          optional model features (descriptors: ``mf.params_m``, ...), equal
                                   on every row of one model (:mod:`hf_quicktune.zoo.descriptors`)
=================  ==============  ===============================================================

The parquet schema metadata key ``hf_quicktune`` holds JSON ``{"format_version": 1, "source": ...,
"max_epochs": ...}``. :class:`MetaDataset` is the in-memory view: curves and costs as
``(n_runs, max_epochs)`` arrays padded with NaN after each run's last epoch.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hf_quicktune.errors import MetaError

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
META_PREFIX = "meta."
ZC_PREFIX = "zc."
MF_PREFIX = "mf."
_METADATA_KEY = b"hf_quicktune"


@dataclass
class MetaDataset:
    """Learning curves of many (dataset, model, configuration) runs.

    ``curves[i, e]`` is the validation accuracy (fraction) of run ``i`` after epoch ``e + 1``,
    NaN after the run ended; ``costs`` the matching seconds per epoch.
    ``meta_features`` is indexed by dataset; ``zero_cost`` (optional) by (dataset, model);
    ``model_features`` (optional) by model.
    """

    datasets: np.ndarray  # (n_runs,) str
    run_ids: np.ndarray  # (n_runs,) str
    models: np.ndarray  # (n_runs,) object: str or None
    configs: list[dict[str, Any]]
    curves: np.ndarray  # (n_runs, max_epochs) float
    costs: np.ndarray  # (n_runs, max_epochs) float
    meta_features: pd.DataFrame
    zero_cost: pd.DataFrame | None = None
    info: dict[str, Any] = field(default_factory=dict)
    model_features: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        n = len(self.datasets)
        if not (len(self.run_ids) == len(self.models) == len(self.configs) == n):
            raise MetaError("meta-dataset columns have different lengths; re-import the source files")
        if self.curves.shape != self.costs.shape or self.curves.shape[0] != n:
            raise MetaError(
                f"curves {self.curves.shape} and costs {self.costs.shape} do not match {n} runs; "
                "check that the curve and cost files are aligned row by row"
            )
        if n == 0:
            raise MetaError("the meta-dataset holds no runs")
        missing = sorted(set(self.datasets) - set(self.meta_features.index))
        if missing:
            raise MetaError(f"no meta-features for datasets {missing[:5]}; add them to the meta-features file")

    # -- views -----------------------------------------------------------------------
    @property
    def n_runs(self) -> int:
        return len(self.datasets)

    @property
    def max_epochs(self) -> int:
        return int(self.curves.shape[1])

    @property
    def dataset_names(self) -> list[str]:
        """Datasets in order of first appearance."""
        return list(dict.fromkeys(self.datasets.tolist()))

    @property
    def lengths(self) -> np.ndarray:
        """Number of recorded epochs per run."""
        return (~np.isnan(self.curves)).sum(axis=1)

    def model_feature_rows(self) -> dict[str, dict[str, float]]:
        """{model: {feature: value}} (empty without model features)."""
        if self.model_features is None:
            return {}
        return {str(m): {k: float(v) for k, v in row.items()} for m, row in self.model_features.iterrows()}

    @property
    def has_zero_cost(self) -> bool:
        return self.zero_cost is not None and not self.zero_cost.empty

    def indices(self, dataset: str) -> np.ndarray:
        idx = np.flatnonzero(self.datasets == dataset)
        if idx.size == 0:
            raise MetaError(f"dataset {dataset!r} is not in the meta-dataset; known: {self.dataset_names[:10]}")
        return idx

    def subset(self, datasets: Sequence[str]) -> MetaDataset:
        """The runs of ``datasets`` only (e.g. the meta-training split)."""
        keep = np.isin(self.datasets, list(datasets))
        idx = np.flatnonzero(keep)
        zc = None
        if self.zero_cost is not None:
            zc = self.zero_cost[self.zero_cost.index.get_level_values(0).isin(list(datasets))]
        return MetaDataset(
            datasets=self.datasets[idx],
            run_ids=self.run_ids[idx],
            models=self.models[idx],
            configs=[self.configs[i] for i in idx],
            curves=self.curves[idx],
            costs=self.costs[idx],
            meta_features=self.meta_features.loc[[d for d in self.meta_features.index if d in set(datasets)]],
            zero_cost=zc,
            info=dict(self.info),
            model_features=self.model_features,
        )

    def summary(self) -> dict[str, Any]:
        lengths = self.lengths
        return {
            "runs": self.n_runs,
            "datasets": len(self.dataset_names),
            "models": len({m for m in self.models if m is not None}),
            "max_epochs": self.max_epochs,
            "median_epochs_per_run": float(np.median(lengths)),
            "meta_features": list(self.meta_features.columns),
            "zero_cost_scores": list(self.zero_cost.columns) if self.zero_cost is not None and self.has_zero_cost else [],
            "model_features": list(self.model_features.columns) if self.model_features is not None else [],
            "hyperparameters": sorted({k for c in self.configs for k in c}),
            "source": self.info.get("source"),
        }

    # -- parquet -----------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the documented parquet file; returns its path."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        lengths = self.lengths
        cols: dict[str, Any] = {
            "dataset": pa.array(self.datasets.astype(str).tolist(), pa.string()),
            "run_id": pa.array(self.run_ids.astype(str).tolist(), pa.string()),
            "model": pa.array([None if m is None else str(m) for m in self.models], pa.string()),
            "config": pa.array([json.dumps(_jsonable(c), sort_keys=True) for c in self.configs], pa.string()),
            "curve": pa.array([self.curves[i, :n].tolist() for i, n in enumerate(lengths)], pa.list_(pa.float64())),
            "cost": pa.array([self.costs[i, :n].tolist() for i, n in enumerate(lengths)], pa.list_(pa.float64())),
        }
        mf = self.meta_features.loc[self.datasets]
        for name in self.meta_features.columns:
            cols[META_PREFIX + str(name)] = pa.array(mf[name].to_numpy(dtype=float), pa.float64())
        if self.zero_cost is not None and self.has_zero_cost:
            keys = list(zip(self.datasets, self.models))
            zc = self.zero_cost.reindex(keys)
            for name in self.zero_cost.columns:
                cols[ZC_PREFIX + str(name)] = pa.array(zc[name].to_numpy(dtype=float), pa.float64())
        if self.model_features is not None:
            rows = self.model_features.reindex([str(m) for m in self.models])
            for name in self.model_features.columns:
                cols[MF_PREFIX + str(name)] = pa.array(rows[name].to_numpy(dtype=float), pa.float64())
        table = pa.table(cols)
        meta = {"format_version": FORMAT_VERSION, "max_epochs": self.max_epochs, **_jsonable(self.info)}
        table = table.replace_schema_metadata({_METADATA_KEY: json.dumps(meta).encode()})
        # a temporary name of this writer's own: processes importing the same meta-dataset side by side (a
        # benchmark run as two shares) each replace the file whole; a shared name made the later one fail
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        tmp = Path(name)
        try:
            pq.write_table(table, tmp)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        logger.info("wrote %d runs of %d datasets to %s", self.n_runs, len(self.dataset_names), path)
        return path


def load_meta_dataset(path: str | Path) -> MetaDataset:
    """Read a meta-dataset parquet file written by :meth:`MetaDataset.save`."""
    import pyarrow.parquet as pq

    path = Path(path)
    if path.is_dir():
        candidates = sorted(path.glob("*.parquet"))
        if len(candidates) != 1:
            raise MetaError(
                f"{path} is a directory with {len(candidates)} parquet files; pass the meta-dataset file itself, "
                "or import a raw layout first with `hf-quicktune meta import`"
            )
        path = candidates[0]
    if not path.exists():
        raise MetaError(f"meta-dataset {path} not found; create one with `hf-quicktune meta import SOURCE OUT.parquet`")
    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises several types
        raise MetaError(f"{path} is not a readable parquet file ({err}); re-import it") from err
    raw_meta = (table.schema.metadata or {}).get(_METADATA_KEY)
    info = json.loads(raw_meta) if raw_meta else {}
    version = info.pop("format_version", None)
    if version != FORMAT_VERSION:
        raise MetaError(
            f"{path} has meta-dataset format version {version!r}, this hf-quicktune reads version {FORMAT_VERSION}; "
            "re-import it with `hf-quicktune meta import`"
        )
    required = {"dataset", "run_id", "model", "config", "curve", "cost"}
    missing = required - set(table.column_names)
    if missing:
        raise MetaError(f"{path} lacks columns {sorted(missing)}; re-import it with `hf-quicktune meta import`")
    max_epochs = int(info.pop("max_epochs", 0))
    curves_l = table.column("curve").to_pylist()
    costs_l = table.column("cost").to_pylist()
    max_epochs = max(max_epochs, max((len(c) for c in curves_l), default=0))
    curves = _pad(curves_l, max_epochs)
    costs = _pad(costs_l, max_epochs)
    datasets = np.asarray(table.column("dataset").to_pylist(), dtype=object)
    models = np.asarray(table.column("model").to_pylist(), dtype=object)
    mf_cols = [c for c in table.column_names if c.startswith(META_PREFIX)]
    frame = pd.DataFrame({c[len(META_PREFIX):]: table.column(c).to_numpy() for c in mf_cols})
    frame.index = datasets
    meta_features = frame[~frame.index.duplicated()]
    zc_cols = [c for c in table.column_names if c.startswith(ZC_PREFIX)]
    zero_cost = None
    if zc_cols:
        zc = pd.DataFrame({c[len(ZC_PREFIX):]: table.column(c).to_numpy() for c in zc_cols})
        zc.index = pd.MultiIndex.from_arrays([datasets, models.astype(str)], names=["dataset", "model"])
        zero_cost = zc[~zc.index.duplicated()]
    mfeat_cols = [c for c in table.column_names if c.startswith(MF_PREFIX)]
    model_features = None
    if mfeat_cols:
        frame = pd.DataFrame({c[len(MF_PREFIX):]: table.column(c).to_numpy() for c in mfeat_cols})
        frame.index = models.astype(str)
        model_features = frame[~frame.index.duplicated()]
    return MetaDataset(
        datasets=datasets,
        run_ids=np.asarray(table.column("run_id").to_pylist(), dtype=object),
        models=models,
        configs=[json.loads(s) for s in table.column("config").to_pylist()],
        curves=curves,
        costs=costs,
        meta_features=meta_features,
        zero_cost=zero_cost,
        info=info,
        model_features=model_features,
    )


def _pad(rows: list[list[float]], width: int) -> np.ndarray:
    out = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        out[i, : len(r)] = np.asarray(r, dtype=float)
    return out


def _jsonable(obj: Any) -> Any:
    """Plain JSON types (numpy scalars, tuples and NaN become float/list/None)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj
