"""Classify images with a model hf-quicktune exported: a run's folder, its ``export/`` folder, or the Hub repo it
was pushed to (``hf-quicktune predict``, and the Space's *Try it*).

A model loads as a user of the published model would load it: a timm export through timm (``local-dir:`` /
``hf-hub:``, the preprocessing stored in its ``config.json``), a transformers export through
``AutoModelForImageClassification`` and its ``AutoImageProcessor``. Images are read as training read them (16-bit
and float images stretched to 8 bits over their own range, every mode to RGB).
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hf_quicktune.data import archives
from hf_quicktune.data.table_images import TableRow, is_table, read_hub_split, read_table
from hf_quicktune.data.transforms import ToRGB
from hf_quicktune.errors import ConfigError, DatasetError

logger = logging.getLogger(__name__)

#: ``progress(done, total)`` after each batch
Progress = Callable[[int, int], None]


@dataclass
class LoadedModel:
    """An exported classifier ready to run: ``logits(pixels)`` on a batch the ``transform`` made, its class names."""

    name: str  # what timm / transformers loaded it from (``local-dir:PATH``, ``hf-hub:REPO``)
    logits: Callable[[Any], Any]
    transform: Callable[[Any], Any]
    labels: list[str]
    device: Any = "cpu"  # where the model is: the batches go there


def _device() -> Any:
    """Accelerate's device for this process (a GPU when there is one)."""
    from accelerate import PartialState

    return PartialState().device


def resolve(ref: str) -> str:
    """What to load for ``ref``: a run's folder (its ``export/``), a fine-tune's (its ``model/``), an export folder,
    or a Hub repo id (org/name; or timm's ``hf-hub:org/name``, or the model page's URL)."""
    ref = (ref or "").strip()
    path = Path(os.path.expanduser(ref)) if ref else None
    if path is not None and path.is_dir():
        inner = next((path / sub for sub in ("export", "model") if (path / sub / "config.json").is_file()), None)
        if not (path / "config.json").is_file() and inner is not None:  # a run's export/, a fine-tune's model/
            path = inner
        if not (path / "config.json").is_file():
            hint = (" It is a run that has not exported a model yet: resume it to the end (`hf-quicktune run "
                    f"--output-dir {ref} --resume`)." if (path / "state.json").is_file() else "")
            raise ConfigError(f"{ref} holds no exported model (no config.json).{hint} Pass a run's folder, its "
                              "export/ folder, or a model repo id (org/name).")
        return f"local-dir:{path}"
    from hf_quicktune.hub import model_repo_from_page

    # timm's hf-hub:ORG/NAME, the model page's URL
    ref = ref[len("hf-hub:"):] if ref.startswith("hf-hub:") else model_repo_from_page(ref, rest=True) or ref
    if re.fullmatch(r"[\w.-]+/[\w.-]+", ref) and not ref.startswith((".", "/")):
        return f"hf-hub:{ref}"
    raise ConfigError(f"no model at {ref!r}: pass a run's folder, its export/ folder, or a model repo id "
                      "(org/name) made by hf-quicktune." if ref else "no model given: pass a run's folder, its "
                      "export/ folder, or a model repo id (org/name).")


def _config(name: str) -> dict[str, Any]:
    if name.startswith("local-dir:"):
        path = Path(name[len("local-dir:"):]) / "config.json"
    else:
        from hf_quicktune import hub

        path = Path(hub.download(name[len("hf-hub:"):], "config.json"))
    return json.loads(path.read_text(encoding="utf-8"))


def _load_transformers(name: str) -> LoadedModel:
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    source = name.split(":", 1)[1]
    device = _device()
    model = AutoModelForImageClassification.from_pretrained(source).eval().to(device)
    processor = AutoImageProcessor.from_pretrained(source)
    extra = {"interpolate_pos_encoding": True} if (
        getattr(model.config, "hf_quicktune", None) or {}).get("interpolate_pos_encoding") else {}
    id2label = model.config.id2label or {}
    return LoadedModel(
        name=name, logits=lambda pixels: model(pixel_values=pixels, **extra).logits,
        transform=lambda image: processor(image, return_tensors="pt")["pixel_values"][0],
        labels=[str(id2label.get(i, i)) for i in range(model.config.num_labels)], device=device)


@contextlib.contextmanager
def _cache_only(active: bool) -> Iterator[None]:
    """huggingface_hub's offline mode while ``active``: a Hub that does not answer is not retried for each file (a
    cached model loads at once, an uncached one fails at once)."""
    if not active:
        yield
        return
    import huggingface_hub.constants as hub_constants

    saved = hub_constants.HF_HUB_OFFLINE
    hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        hub_constants.HF_HUB_OFFLINE = saved


def load(ref: str) -> LoadedModel:
    """The model of :func:`resolve`'s ``ref`` in eval mode, on Accelerate's device (a Hub model from the local cache
    when the Hub does not answer)."""
    from hf_quicktune import constants

    name = resolve(ref)
    with _cache_only(name.startswith("hf-hub:") and not constants.hub_reachable()):
        return _load(name)


def _load(name: str) -> LoadedModel:
    import timm
    from timm.data import create_transform, resolve_data_config

    config = _config(name)
    if "architecture" not in config and config.get("architectures"):  # a transformers export
        return _load_transformers(name)
    device = _device()
    model = timm.create_model(name, pretrained=True).eval().to(device)
    labels = model.pretrained_cfg.get("label_names") or [str(i) for i in range(model.num_classes)]
    return LoadedModel(name=name, logits=model, transform=create_transform(**resolve_data_config({}, model=model)),
                       labels=list(labels), device=device)


def classify(image: Any, model: LoadedModel, top_k: int = 5) -> dict[str, float]:
    """Probabilities of the ``top_k`` most likely classes (by name) for one PIL image (turned upright by its EXIF
    orientation, as training decoded its images)."""
    import torch
    from PIL import Image, ImageOps

    if image.getexif().get(Image.ExifTags.Base.Orientation) is not None:
        image = ImageOps.exif_transpose(image)
    with torch.no_grad():
        probs = model.logits(model.transform(ToRGB()(image)).unsqueeze(0).to(model.device)).float().softmax(-1)[0]
    values, indices = probs.topk(min(top_k, len(model.labels)))
    return {model.labels[i]: float(v) for v, i in zip(values.tolist(), indices.tolist())}


def find_images(inputs: Iterable[str], split: str | None = None) -> list[Item]:
    """The image files named, those under the folders and zip / tar archives named (recursively, hidden ones
    skipped; a folder holding its images only in archives: those inside them), the rows of the tables named (CSV /
    parquet / JSON: image paths, bytes or pixels), and the rows of a Hub dataset's ``split`` (default: its test
    split, else its validation split), in order."""
    from collections import Counter

    from hf_quicktune.data.folder_files import NOT_IMAGES, read_extensions
    from hf_quicktune.data.masks import mask_rows

    readable = read_extensions()
    found: list[Item] = []
    skipped: Counter[str] = Counter()
    for item in inputs:
        path = Path(os.path.expanduser(item))
        archive = None
        if archives.is_archive(path) and not is_table(path):  # a zipped test set (not a WebDataset shard): unpacked
            archive, path = item, archives.unpacked_folder(path)  # once into the cache, its images read there
        packed = [str(p) for p in sorted(path.iterdir()) if archives.is_archive(p) and not is_table(p)] if (
            archive is None and path.is_dir() and archives.holds_archived_images(path)) else []
        if packed:  # a download unzipped once (test_images.zip, test1.zip): the images inside its archives
            found += find_images(packed)
        elif is_table(path):  # a Kaggle test.csv, an .npz, a WebDataset shard: a row per image
            found += read_table(path)
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file()
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            images = [p for p in files if p.suffix.lower() in readable or _bare_scan(p)]  # (a PACS export's IM0001)
            masks = set(mask_rows([f"./{p.relative_to(path).as_posix()}" for p in images]))
            if masks:  # segmentation masks beside the images (data/masks.py): not pictures to classify
                logger.warning("%d file(s) in %s are segmentation masks beside the images (e.g. %s): not classified",
                               len(masks), item, images[min(masks)].relative_to(path).as_posix())
                images = [p for i, p in enumerate(images) if i not in masks]
            found += [ArchivedImage(p, archive, p.relative_to(path).as_posix()) for p in images] if archive else images
            kept = set(images)
            skipped.update(p.suffix.lower() or "(none)" for p in files
                           if p not in kept and p.suffix.lower() not in readable and p.suffix.lower() not in NOT_IMAGES)
        elif path.is_file():
            found.append(path)
        elif _hub_dataset(item):  # org/name: its test split's images, with their classes
            found += read_hub_split(item, split)
        else:
            hub_word = "/" not in item and re.fullmatch(r"[A-Za-z0-9][\w.\-]*", item) is not None
            raise DatasetError(f"{item}: no such file or folder.", input=item, code="missing_input",
                               fix="Pass image files, folders of images, a table of them or a Hub dataset id"
                                   + (f" (a Hub dataset without an owner as hf://datasets/{item})." if hub_word
                                      else "."))
    if skipped:
        logger.warning("%d file(s) are not of an image type hf-quicktune reads and are not classified (%s); convert "
                       "them to JPEG or PNG.", sum(skipped.values()),
                       ", ".join(f"{n} {ext}" for ext, n in skipped.most_common(4)))
    if not found:
        raise DatasetError("no image found in " + ", ".join(map(str, inputs)) + ".", code="no_images",
                           fix="Pass image files or folders holding images (.jpg, .png, .webp, ...).")
    return found


def _bare_scan(path: Path) -> bool:
    """A DICOM scan without an extension (``IM000001``, a UID): :mod:`hf_quicktune.data.dicom` opens it by its
    marker."""
    from hf_quicktune.data.dicom import is_scan_file
    from hf_quicktune.data.folder_files import BARE, suffix_of

    return suffix_of(path.name) == BARE and is_scan_file(path)


def _hub_dataset(item: str) -> bool:
    """Whether ``item`` names a Hub dataset (``org/name``, its page's URL, timm's ``hfds/`` prefix), not a path (a
    missing folder named without a slash stays "no such file or folder")."""
    from hf_quicktune.data.sources import check_dataset_spec

    if "/" not in item:
        return False
    try:
        return check_dataset_spec(item) == "hub"
    except DatasetError:
        return False


@dataclass(frozen=True)
class ArchivedImage:
    """An image of a zip / tar archive, read where the archive was unpacked (the cache) and named by the archive
    and its path inside it (``test.zip:test/1.png``), not by the cache's folder."""

    file: Path
    archive: str
    member: str

    def __str__(self) -> str:
        return f"{self.archive}:{self.member}"


Item = Path | TableRow | ArchivedImage


def _row(item: Item, **fields: Any) -> dict[str, Any]:
    table = {"key": item.key, "key_name": item.key_name, "true": item.true} if isinstance(item, TableRow) else {}
    return {"path": str(item), **table, **fields}


def predict(model: LoadedModel, paths: list[Item], top_k: int = 3, batch_size: int = 32,
            progress: Progress | None = None, threads: int | None = None) -> list[dict[str, Any]]:
    """One row per image: ``path`` (a table's row: ``TABLE:KEY``), ``label`` (the most likely class),
    ``probability``, ``top`` (the ``top_k`` classes and probabilities) and ``error`` (why an image could not be
    read; its row has no label); a table's row also ``key`` and ``key_name`` (its id column's, or its number) and
    ``true`` (its label column's class, if any). Images are decoded and transformed by ``threads`` threads
    (Pillow and torch release the GIL; default: the cores, at most :data:`DECODE_THREADS`), the next batch's while
    the model classifies this one, as a DataLoader's workers would: a GPU is not left waiting on one core's
    decoding. ``threads=1``: one after the other in this thread."""
    workers = max(1, threads or min(os.cpu_count() or 1, DECODE_THREADS))
    batches = [list(enumerate(paths[start:start + batch_size], start)) for start in range(0, len(paths), batch_size)]
    rows: list[tuple[int, dict[str, Any]]] = []  # (position in ``paths``, row): unreadable ones come first
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    try:
        pending = [pool.submit(_prepare, model, item) for _, item in batches[0]] if pool and batches else []
        for k, items in enumerate(batches):
            if pool is None:  # one thread: decoded, then classified
                prepared = [_prepare(model, item) for _, item in items]
            else:  # the next batch is decoded while this one is classified
                current = pending
                pending = [pool.submit(_prepare, model, item) for _, item in batches[k + 1]] \
                    if k + 1 < len(batches) else []
                prepared = [future.result() for future in current]
            rows += _classified(model, items, prepared, top_k)
            if progress is not None:
                progress(items[-1][0] + 1, len(paths))
    finally:  # after a Ctrl-C too: the next batch's decoding is dropped, not waited for
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return [row for _, row in sorted(rows, key=lambda pair: pair[0])]


def _classified(model: LoadedModel, items: list[tuple[int, Item]], prepared: list[tuple[Any, str | None]],
                top_k: int) -> list[tuple[int, dict[str, Any]]]:
    """``(position, row)`` of each of a batch's ``items`` from its ``prepared`` tensor (or why it is unreadable)."""
    import torch

    rows: list[tuple[int, dict[str, Any]]] = []
    batch, kept = [], []
    for (position, item), (tensor, error) in zip(items, prepared, strict=True):
        if tensor is None:
            rows.append((position, _row(item, label=None, probability=None, top=[], error=error)))
        else:
            batch.append(tensor)
            kept.append((position, item))
    if batch:
        with torch.no_grad():
            probs = model.logits(torch.stack(batch).to(model.device)).float().softmax(-1)
        values, indices = probs.topk(min(top_k, len(model.labels)), dim=-1)
        for (position, item), vals, idx in zip(kept, values.tolist(), indices.tolist()):
            top = [(model.labels[i], float(v)) for v, i in zip(vals, idx)]
            rows.append((position, _row(item, label=top[0][0], probability=top[0][1], top=top, error=None)))
    return rows


#: the most threads decoding images
DECODE_THREADS = 8


def _prepare(model: LoadedModel, item: Item) -> tuple[Any, str | None]:
    """``(tensor, None)`` of ``item`` decoded as training decoded its images (a phone photo's EXIF orientation
    applied) and transformed for ``model``; ``(None, why)`` where it cannot be read."""
    from hf_quicktune.data.decoding import decode_image
    from hf_quicktune.data.images import decode_error

    source = item.value if isinstance(item, TableRow) else item.file if isinstance(item, ArchivedImage) else str(item)
    try:
        image = decode_image(source if isinstance(source, dict) else str(source))
        return model.transform(ToRGB()(image)), None
    except Exception as err:  # PIL raises many types for unreadable files
        return None, decode_error(err, source)


def true_labels(rows: list[dict[str, Any]], labels: list[str]) -> list[str] | None:
    """Each image's class when every image's class is known: a table's label column (its names, or ids of the
    model's classes), a folder named after one of the model's classes (a labelled test folder,
    ``test/CLASS/IMAGE.png``), or file names that carry them (``cat.0.jpg``: data/name_labels); else None."""
    from hf_quicktune.data.name_labels import class_of

    known = set(labels)
    truth = [r["true"] if "key" in r else Path(r["path"]).parent.name for r in rows]
    if truth and all("key" in r for r in rows) and not all(t in known for t in truth) and all(
            t is not None and t.isdigit() and int(t) < len(labels) for t in truth):
        truth = [labels[int(t)] for t in truth]  # a table's label ids, the model's classes named (--class-names)
    if truth and not all(t in known for t in truth) and not any("key" in r for r in rows):
        truth = [class_of(Path(r["path"]).name) for r in rows]  # a test folder of Dogs vs. Cats' names
    return truth if truth and all(t in known for t in truth) else None


def write_predictions(out: Path, rows: list[dict], truth: list[str] | None) -> None:
    """A row per image: its path (one table's rows: its id column or row number), label, probability, top-k,
    error, and the true class where known."""
    # one table's rows (a competition's test.csv): keyed by its id column (or row number), as a submission is
    keyed = len({r["path"].rsplit(":", 1)[0] for r in rows}) == 1 and all("key" in r for r in rows)
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([rows[0]["key_name"] if keyed else "path", "label", "probability", "top_k", "error"]
                        + (["true"] if truth else []))
        for i, r in enumerate(rows):
            top = "; ".join(f"{name} {p:.4f}" for name, p in r["top"])
            prob = "" if r["probability"] is None else f"{r['probability']:.6f}"
            writer.writerow([r["key"] if keyed else r["path"], r["label"] or "", prob, top, r["error"] or ""]
                            + ([truth[i]] if truth else []))


def accuracy(rows: list[dict[str, Any]], truth: list[str]) -> tuple[float | None, int]:
    """``(top-1 accuracy, images scored)`` of ``rows`` against their true classes (unreadable images left out)."""
    scored = [(r["label"], t) for r, t in zip(rows, truth) if not r["error"]]
    return (sum(p == t for p, t in scored) / len(scored) if scored else None), len(scored)
