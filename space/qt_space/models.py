"""Classify an image with a run's export (``run:NAME``), a local export folder or a published model (``org/name``),
through the same loader as ``hf-quicktune predict`` (:mod:`hf_quicktune.predict`: a timm export through timm, a
transformers export through ``AutoModelForImageClassification`` and its image processor).
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

from hf_quicktune import predict
from hf_quicktune.data.transforms import ToRGB
from hf_quicktune.errors import ConfigError

_LOCK = threading.Lock()


def resolve(model_ref: str) -> str:
    """What to load for ``run:NAME`` (a run of this Space), a local export folder or a Hub id."""
    ref = (model_ref or "").strip()
    if ref.startswith("run:"):
        from qt_space.jobs import run_dir

        try:
            export = run_dir(ref[4:]) / "export"
        except ValueError as err:
            raise ConfigError(str(err)) from None
        if not (export / "config.json").is_file():
            raise ConfigError(f"{ref} has no exported model yet: run a search to the end (or press Finish now).")
        return str(export)
    if not ref:
        raise ConfigError("no model to classify with: run a search first, or type a model repo id made by "
                          "hf-quicktune (org/name).")
    return ref


@lru_cache(maxsize=4)
def _load(ref: str, version: str = "") -> predict.LoadedModel:
    """``version`` changes when a local export is rewritten (its weights' mtime), so it is reloaded."""
    return predict.load(ref)


def load(model_ref: str) -> predict.LoadedModel:
    """The model, its eval transform and class names; a run's export is reloaded when it changed on disk."""
    ref = resolve(model_ref)
    name = predict.resolve(ref)
    version = ""
    if name.startswith("local-dir:"):
        weights = Path(name[len("local-dir:"):]) / "model.safetensors"
        version = str(weights.stat().st_mtime_ns) if weights.exists() else ""
    with _LOCK:
        return _load(ref, version)


def classify(image, model_ref: str, top_k: int = 5) -> dict[str, float]:
    """Probabilities of the ``top_k`` most likely classes (by name) for a PIL image."""
    if image is None:
        raise ConfigError("no image given: upload one or click an example.")
    return predict.classify(image, load(model_ref), top_k)


def classify_many(upload: str, model_ref: str, out_dir: Path,
                  progress: predict.Progress | None = None) -> tuple[str, str]:
    """``(predictions.csv, a line saying what was classified)`` for an uploaded zip / tar of images or a table of
    them (CSV, .npz, HDF5, a WebDataset shard), as ``hf-quicktune predict`` writes them: the upload's own paths
    by its name (not the server's), the true class and the accuracy where the upload names the classes;
    ``progress(done, total)`` after each batch."""
    from hf_quicktune.errors import DatasetError

    loaded = load(model_ref)
    try:
        items = predict.find_images([upload])
    except DatasetError as err:
        raise ConfigError(f"{Path(upload).name}: {err.message}") from None
    rows = predict.predict(loaded, items, progress=progress)
    for row in rows:  # "<gradio upload folder>/test.zip:test/1.png" -> "test.zip:test/1.png"
        row["path"] = row["path"].replace(str(Path(upload).parent) + "/", "", 1)
    truth = predict.true_labels(rows, loaded.labels)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "predictions.csv"
    predict.write_predictions(out, rows, truth)
    failed = sum(1 for r in rows if r["error"])
    line = f"{len(rows) - failed} image(s) of `{Path(upload).name}` classified" + (
        f", {failed} unreadable (rows without a label)" if failed else "")
    if truth:
        acc, scored = predict.accuracy(rows, truth)
        if acc is not None:
            line += f"; accuracy **{100 * acc:.2f} %** on {scored} images (the upload names their classes)"
    return str(out), line + "."


def example_images(dataset_spec: str, out_dir: Path, n: int = 8, seed: int = 0) -> list[tuple[str, str, str]]:
    """``n`` validation images of the run's dataset, one class after another, saved as PNG:
    (image as in the dataset, a copy at least 128 px wide for display, true label)."""
    from hf_quicktune.data import load as load_dataset

    ds = load_dataset(dataset_spec, seed=seed)
    split = ds.test if ds.test is not None else ds.validation
    names = ds.class_names
    out_dir.mkdir(parents=True, exist_ok=True)
    picked: list[tuple[str, str, str]] = []
    seen: set[int] = set()
    for i in range(len(split)):
        label = int(split[i]["label"])
        if label in seen and len(seen) < min(n, len(names)):
            continue
        seen.add(label)
        image = ToRGB()(split[i]["image"])
        path, shown = out_dir / f"example-{len(picked)}.png", out_dir / f"example-{len(picked)}-shown.png"
        image.save(path)
        display_copy(image).save(shown)  # 8x8 digits are unreadable at their own size
        picked.append((str(path), str(shown), names[label]))
        if len(picked) >= n:
            break
    return picked


def display_copy(image, min_side: int = 128):
    """``image`` enlarged (nearest neighbour) so that its short side is at least ``min_side`` pixels."""
    scale = max(1, -(-min_side // max(1, min(image.size))))
    return image.resize((image.width * scale, image.height * scale), resample=0) if scale > 1 else image
