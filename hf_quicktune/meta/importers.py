"""Importers from the public learning-curve layouts into :class:`~hf_quicktune.meta.format.MetaDataset`.

* **QuickTuneTool CSV** (``automl/QTT``; the shared LCBench table uses it): ``config.csv``,
  ``curve.csv``, ``cost.csv``, ``meta.csv`` aligned by row index (each may be ``.csv.gz``).
  Curves are in percent with NaN after a run ended; the dataset of a row is the ``dataset``
  column of ``config.csv`` or ``meta.csv``; a ``model`` column of ``config.csv`` is the model.
  Per-epoch costs: from ``curve_time.csv`` (cumulative seconds) when present, as differences
  of its running maximum (the LCBench surrogate's cumulative time sometimes dips); else from
  ``cost.csv`` (one column = the whole run's seconds, spread evenly over its epochs; as many
  columns as ``curve.csv`` = per-epoch seconds).
* **Quick-Tune paper JSON** (releaunifreiburg/QuickTune): ``eval_top1.json``,
  ``train_time.json``, ``eval_time.json`` = ``{dataset: {run_id: [per-epoch values]}}``;
  ``args.json`` = ``{run_id: {hyperparameter: value}}`` (``model`` among them); dataset
  meta-features in ``meta_features.json`` = ``{dataset: {feature: value}}``. Accuracy in
  percent (detected: values above 1.0) or fraction; cost per epoch = train + eval time.
* **Quick-Tune extended** (the paper's extended meta-dataset, one-hot configurations):
  :mod:`hf_quicktune.meta.qt_extended`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hf_quicktune.errors import MetaError
from hf_quicktune.meta.format import MetaDataset

logger = logging.getLogger(__name__)

QT_JSON_META_FILES = ("meta_features.json", "dataset_meta_features.json", "meta-features.json")


def import_meta_dataset(source: str | Path, layout: str = "auto") -> MetaDataset:
    """Import ``source`` (a directory) in ``layout`` ``"qtt-csv"``, ``"qt-json"`` or ``"auto"``."""
    from hf_quicktune.meta.qt_extended import LAYOUT as QT_EXTENDED
    from hf_quicktune.meta.qt_extended import import_qt_extended, is_qt_extended

    source = Path(source)
    if not source.is_dir():
        raise MetaError(f"{source} is not a directory; point to the folder holding the meta-dataset files")
    if layout == "auto":
        if is_qt_extended(source):
            layout = QT_EXTENDED
        elif _find(source, "curve") is not None:
            layout = "qtt-csv"
        elif (source / "eval_top1.json").exists():
            layout = "qt-json"
        else:
            raise MetaError(
                f"{source} holds neither curve.csv[.gz] (QuickTuneTool layout), eval_top1.json (Quick-Tune JSON "
                "layout) nor eval_top1.json.gz + configs_onehot.csv.gz (Quick-Tune extended layout); pass --layout "
                "or check the path"
            )
    if layout == QT_EXTENDED:
        return import_qt_extended(source)
    if layout == "qtt-csv":
        return import_qtt_csv(source)
    if layout == "qt-json":
        return import_qt_json(source)
    raise MetaError(f"unknown layout {layout!r}; use qtt-csv, qt-json, {QT_EXTENDED} or auto")


# -- QuickTuneTool CSV -----------------------------------------------------------------
def _find(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.csv", f"{stem}.csv.gz"):
        if (folder / name).exists():
            return folder / name
    return None


def _read_optional_csv(folder: Path, stem: str) -> pd.DataFrame | None:
    path = _find(folder, stem)
    if path is None:
        return None
    return pd.read_csv(path, index_col=0, float_precision="round_trip")


def _read_csv(folder: Path, stem: str) -> pd.DataFrame:
    frame = _read_optional_csv(folder, stem)
    if frame is None:
        raise MetaError(f"{folder} has no {stem}.csv or {stem}.csv.gz (QuickTuneTool layout needs it)")
    return frame


def import_qtt_csv(folder: str | Path) -> MetaDataset:
    """Import the QuickTuneTool CSV layout (see module docstring)."""
    folder = Path(folder)
    config = _read_csv(folder, "config")
    curve = _read_csv(folder, "curve")
    meta = _read_csv(folder, "meta")
    cost = _read_optional_csv(folder, "cost")
    curve_time = _read_optional_csv(folder, "curve_time")
    frames = {"config": config, "curve": curve, "meta": meta, "cost": cost, "curve_time": curve_time}
    n = len(curve)
    for name, frame in frames.items():
        if frame is not None and (len(frame) != n or not frame.index.equals(curve.index)):
            raise MetaError(
                f"{name} has {len(frame)} rows / a different index than curve ({n} rows); the QuickTuneTool "
                "layout needs all files aligned row by row"
            )
    if "dataset" in config.columns:
        datasets = config["dataset"].astype(str).to_numpy(dtype=object)
    elif "dataset" in meta.columns:
        datasets = meta["dataset"].astype(str).to_numpy(dtype=object)
    else:
        raise MetaError("neither config.csv nor meta.csv has a `dataset` column naming each row's dataset")

    curves = curve.to_numpy(dtype=float)
    if np.nanmax(curves) > 1.0 + 1e-9:
        curves = curves / 100.0  # QuickTuneTool curves are in percent
    lengths = _lengths(curves)
    curves = _mask_after(curves, lengths)

    if curve_time is not None:
        cum = curve_time.to_numpy(dtype=float)
        cum = np.fmax.accumulate(np.where(np.isnan(cum), -np.inf, cum), axis=1)
        per_epoch = np.diff(np.concatenate([np.zeros((n, 1)), cum], axis=1), axis=1)
        costs = _mask_after(per_epoch, lengths)
        source_cost = "curve_time running-max differences"
    elif cost is not None and cost.shape[1] == curves.shape[1]:
        costs = _mask_after(cost.to_numpy(dtype=float), lengths)
        source_cost = "cost.csv per epoch"
    elif cost is not None and cost.shape[1] == 1:
        total = cost.to_numpy(dtype=float)[:, 0]
        per = total / np.maximum(lengths, 1)
        costs = _mask_after(np.repeat(per[:, None], curves.shape[1], axis=1), lengths)
        source_cost = "cost.csv total spread evenly over epochs"
    else:
        raise MetaError("no usable costs: add cost.csv (one column of run seconds) or curve_time.csv (cumulative)")
    if np.any(costs[~np.isnan(costs)] < 0):
        raise MetaError("negative per-epoch costs in the cost files; check the units and alignment")

    models = config["model"].astype(object).where(config["model"].notna(), None).to_numpy(dtype=object) \
        if "model" in config.columns else np.full(n, None, dtype=object)
    hp_cols = [c for c in config.columns if c not in ("dataset", "model")]
    configs = [_clean(rec) for rec in config[hp_cols].to_dict(orient="records")]

    mf_cols = [c for c in meta.columns if c != "dataset" and pd.api.types.is_numeric_dtype(meta[c])]
    mf = meta[mf_cols].astype(float).copy()
    mf.index = datasets
    meta_features = mf[~mf.index.duplicated()]
    keep = lengths > 0
    if not keep.all():
        logger.warning("dropping %d runs without any recorded epoch", int((~keep).sum()))
    idx = np.flatnonzero(keep)
    return MetaDataset(
        datasets=datasets[idx],
        run_ids=np.asarray([str(i) for i in curve.index[idx]], dtype=object),
        models=models[idx],
        configs=[configs[i] for i in idx],
        curves=curves[idx],
        costs=costs[idx],
        meta_features=meta_features,
        info={"source": str(folder), "layout": "qtt-csv", "costs": source_cost},
    )


# -- Quick-Tune JSON ---------------------------------------------------------------------
def import_qt_json(folder: str | Path) -> MetaDataset:
    """Import the Quick-Tune paper JSON layout (see module docstring)."""
    folder = Path(folder)

    def load(name: str, required: bool = True) -> Any:
        path = folder / name
        if not path.exists():
            if required:
                raise MetaError(f"{folder} has no {name} (Quick-Tune JSON layout needs it)")
            return None
        with open(path) as fh:
            return json.load(fh)

    top1 = load("eval_top1.json")
    train_time = load("train_time.json")
    eval_time = load("eval_time.json", required=False) or {}
    args = load("args.json")
    meta_file = next((folder / n for n in QT_JSON_META_FILES if (folder / n).exists()), None)
    if meta_file is None:
        raise MetaError(f"{folder} has no dataset meta-features file (one of {', '.join(QT_JSON_META_FILES)})")
    with open(meta_file) as fh:
        meta_raw = json.load(fh)

    rows: list[tuple[str, str, list[float], list[float]]] = []
    for dataset, runs in top1.items():
        for run_id, values in runs.items():
            if str(run_id) not in args:
                raise MetaError(f"run {run_id} of {dataset} has no entry in args.json")
            tt = train_time.get(dataset, {}).get(run_id)
            if tt is None:
                raise MetaError(f"run {run_id} of {dataset} has no train_time entry")
            et = eval_time.get(dataset, {}).get(run_id) or [0.0] * len(tt)
            m = min(len(values), len(tt), len(et))
            acc = [float("nan") if v is None else float(v) for v in values[:m]]
            cost = [float(a) + float(b) for a, b in zip(tt[:m], et[:m])]
            # a run ends at its first missing value
            end = next((i for i, v in enumerate(acc) if not np.isfinite(v)), m)
            if end == 0:
                continue
            rows.append((str(dataset), str(run_id), acc[:end], cost[:end]))
    if not rows:
        raise MetaError(f"{folder}/eval_top1.json holds no runs")
    width = max(len(r[2]) for r in rows)
    curves = np.full((len(rows), width), np.nan)
    costs = np.full((len(rows), width), np.nan)
    for i, (_, _, acc, cost) in enumerate(rows):
        curves[i, : len(acc)] = acc
        costs[i, : len(cost)] = cost
    if np.nanmax(curves) > 1.0 + 1e-9:
        curves = curves / 100.0
    configs, models = [], []
    for _, run_id, _, _ in rows:
        cfg = _clean(dict(args[run_id]))
        models.append(cfg.pop("model", None))
        cfg.pop("dataset", None)
        configs.append(cfg)
    datasets = np.asarray([r[0] for r in rows], dtype=object)
    missing = sorted(set(datasets) - set(meta_raw))
    if missing:
        raise MetaError(f"{meta_file.name} has no meta-features for datasets {missing[:5]}")
    meta_features = pd.DataFrame.from_dict(
        {d: {k: float(v) for k, v in meta_raw[d].items()} for d in dict.fromkeys(datasets)}, orient="index"
    )
    return MetaDataset(
        datasets=datasets,
        run_ids=np.asarray([r[1] for r in rows], dtype=object),
        models=np.asarray(models, dtype=object),
        configs=configs,
        curves=curves,
        costs=costs,
        meta_features=meta_features,
        info={"source": str(folder), "layout": "qt-json", "costs": "train_time + eval_time"},
    )


# -- helpers -----------------------------------------------------------------------------
def _lengths(curves: np.ndarray) -> np.ndarray:
    """Epochs until the first NaN of each row."""
    nan = np.isnan(curves)
    first = np.where(nan.any(axis=1), nan.argmax(axis=1), curves.shape[1])
    return first.astype(int)


def _mask_after(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    out = np.array(values, dtype=float, copy=True)
    cols = np.arange(out.shape[1])[None, :]
    out[cols >= lengths[:, None]] = np.nan
    return out


def _clean(rec: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe config values: numpy scalars to Python, NaN to None (inactive conditional)."""
    out: dict[str, Any] = {}
    for k, v in rec.items():
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and not np.isfinite(v):
            v = None
        out[str(k)] = v
    return out
