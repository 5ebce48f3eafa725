"""The model card of a hf-quicktune run (``huggingface_hub.ModelCard`` / ``ModelCardData``).

Metadata: ``library_name`` (timm), ``pipeline_tag: image-classification``, ``base_model``,
``datasets``, ``license`` (inherited from the base model when known), ``tags`` and a
``model-index`` with the validation (and test) top-1 accuracy of the exported checkpoint.
The body says what was searched, under which budget, the chosen hyperparameters, the top-10
leaderboard and embeds the learning-curve plot.

The card is true for every kind of winner: a random-initialisation (``scratch:``) candidate is
"trained from scratch", has no base model and no freezing / linear-probing hyperparameters; the
exported weights are those of the trial's best validation epoch, and the card names it. A local
dataset is named by its file or folder name, marked local (never by its path).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from hf_quicktune.report import share_percent
from hf_quicktune.report.curves import leaderboard_markdown
from hf_quicktune.train.metrics import metric_label

TAGS = ["hf-quicktune", "image-classification", "timm"]


@dataclass
class CardInfo:
    """Everything the card says. Accuracies are fractions in [0, 1]."""

    model_name: str  # repo name or local name of the export
    base_model: str | None  # Hub id of the pretrained source (None for scratch / package weights)
    candidate: str  # candidate name in the zoo
    architecture: str
    dataset: str  # dataset spec as given (Hub id when from the Hub)
    dataset_is_hub: bool
    config: dict[str, Any]
    epochs: int
    val_top1: float
    test_top1: float | None = None
    license: str | None = None
    library_name: str = "timm"
    budget: str = ""
    budget_used_s: float = 0.0
    zoo: str = ""
    candidates: list[str] = field(default_factory=list)
    num_trials: int = 0
    num_steps: int = 0
    optimizer: str = "Quick-Tune"
    image_size: int | None = None
    leaderboard: list[dict[str, Any]] = field(default_factory=list)
    curve_plot: str | None = "plots/learning_curves.png"
    pretraining: str | None = None
    model_ref: str | None = None  # what the library's loader takes; default "hf-hub:<model_name>" (timm), "<model_name>"
    from_scratch: bool = False  # random initialisation: not fine-tuned, no base model
    dataset_is_local: bool = False  # `dataset` is then the file/folder name of a local dataset
    best_epoch: int | None = None  # epoch of the exported weights (best validation top-1); default `epochs`
    #: how the trial's training ended after its best epoch where it failed (``diverged (a non-finite loss) at epoch
    #: 4``: its best epoch's weights are still the ones exported); None: it did not fail
    failed_after: str | None = None
    quality: str | None = None  # one sentence: against chance and the majority-class baseline
    prior: str | None = None  # the meta-learned prior the search used (None: no prior)
    dataset_local_kind: str | None = None  # "file" or "folder" for a local dataset (default: guessed from the name)
    #: the smallest share of the training images an epoch trained (< 1: a budget too small for whole epochs)
    epoch_fraction: float | None = None
    #: False: the budget was too small to search; the run fine-tuned the configuration a practitioner would run
    searched: bool = True
    #: a transformers model fine-tuned at another size than its config's image_size: its forward needs the flag
    interpolate_pos_encoding: bool = False
    #: the training images' PIL mode (``I;16``: the usage stretches an image as training did), None: unknown
    image_mode: str | None = None
    #: the training images' file format as Pillow names it (``DICOM``: the usage opens a scan as training did)
    image_format: str | None = None
    #: the exported model's size and the cost of one forward pass at its input size, as timm's cards list them:
    #: ``params_m``, ``gmacs``, ``macts`` (millions of activations), ``image_size`` (px); None: not counted
    stats: dict[str, float] | None = None
    #: the validation metric the search selected on (train/metrics.py; the best epoch is its best)
    metric: str = "top1"
    #: the exported epoch's other metrics: ``val_balanced_accuracy``, ``val_macro_f1``, ``test_...`` (None: unknown)
    scores: dict[str, float | None] = field(default_factory=dict)
    #: the per-class section's body (report/classes.markdown) of the validation split; None: not evaluated
    per_class: str | None = None
    confusion_plot: str = "plots/confusion_matrix.png"
    #: each split's size and where it came from (data/describe.py), in order: ``("validation", 60, "fold 0 of
    #: the table's 'kfold' column")``; empty: not said
    data_splits: list[tuple[str, int, str]] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    #: a Hub dataset's configuration, the revision asked for and the commit read (what reproduces the data)
    dataset_config: str | None = None
    dataset_revision: str | None = None
    dataset_commit: str | None = None

    @property
    def safe_name(self) -> str:
        """The model name without characters the model-index and repo names reject (``scratch:x`` -> ``scratch-x``)."""
        return self.model_name.replace(":", "-")

    @property
    def dataset_text(self) -> str:
        kind = self.dataset_local_kind or ("file" if "." in self.dataset else "folder")
        if self.dataset_is_local:
            return f"`{self.dataset}` (local {kind})"
        pinned = [f"configuration `{self.dataset_config}`"] if self.dataset_config else []
        if self.dataset_commit:
            pinned.append(f"commit `{self.dataset_commit[:10]}`"
                          + (f" of `{self.dataset_revision}`" if self.dataset_revision else ""))
        elif self.dataset_revision:
            pinned.append(f"revision `{self.dataset_revision}`")
        return f"**{self.dataset}**" + (f" ({', '.join(pinned)})" if pinned else "")


def _eval_results(info: CardInfo) -> list:
    from huggingface_hub import EvalResult

    if info.dataset_is_hub:
        dataset_type, dataset_name = info.dataset, info.dataset
    elif info.dataset_is_local:
        dataset_type, dataset_name = info.dataset, f"{info.dataset} (local)"
    else:
        dataset_type = dataset_name = info.dataset.split(":")[-1]
    common = dict(task_type="image-classification", task_name="Image Classification",
                  dataset_type=dataset_type, dataset_name=dataset_name, metric_type="accuracy",
                  metric_name="top-1 accuracy", **({"dataset_config": info.dataset_config} if info.dataset_config
                                                    and info.dataset_is_hub else {}),
                  **({"dataset_revision": info.dataset_commit} if info.dataset_commit and info.dataset_is_hub
                     else {}))
    out = [EvalResult(dataset_split="validation", metric_value=round(float(info.val_top1), 6), **common)]
    if info.test_top1 is not None:
        out.append(EvalResult(dataset_split="test", metric_value=round(float(info.test_top1), 6), **common))
    if info.metric != "top1":  # the metric the search selected on, beside top-1
        chosen = {**common, "metric_type": {"balanced_accuracy": "balanced_accuracy", "macro_f1": "f1"}[info.metric],
                  "metric_name": metric_label(info.metric), "metric_args": {"average": "macro"}
                  if info.metric == "macro_f1" else None}
        for split, prefix in (("validation", "val"), ("test", "test")):
            value = info.scores.get(f"{prefix}_{info.metric}")
            if value is not None:
                out.append(EvalResult(dataset_split=split, metric_value=round(float(value), 6), **chosen))
    return out


def _other_metrics(info: CardInfo, prefix: str) -> str:
    """``, balanced accuracy X %, macro F1 Y %`` of the exported epoch on a split (the metric the search selected on
    in bold), or nothing when unknown."""
    parts = [f"{metric_label(m)} " + (f"**{100 * v:.2f} %**" if m == info.metric else f"{100 * v:.2f} %")
             for m in ("balanced_accuracy", "macro_f1") if (v := info.scores.get(f"{prefix}_{m}")) is not None]
    return "".join(f", {p}" for p in parts)


def retarget_card(text: str, repo_id: str) -> str:
    """A card written for an export on disk, made to load the model from the Hub repo ``repo_id``: timm's
    ``local-dir:PATH`` becomes ``hf-hub:REPO``, transformers' ``from_pretrained("PATH")`` ``from_pretrained("REPO")``."""
    text = re.sub(r"local-dir:[^\"'`\s)]+", f"hf-hub:{repo_id}", text)
    return re.sub(r'from_pretrained\("[^"]*"\)', f'from_pretrained("{repo_id}")', text)


def _usage(info: CardInfo) -> str:
    """How to load the exported model and classify an image, in its own library."""
    if info.library_name == "transformers":
        ref = info.model_ref or info.safe_name
        flag = ", interpolate_pos_encoding=True" if info.interpolate_pos_encoding else ""
        why = (f"    # fine-tuned at {info.image_size} px: its position embeddings are interpolated\n"
               if info.interpolate_pos_encoding else "")
        return f"""import torch
from PIL import Image, ImageOps
from transformers import AutoImageProcessor, AutoModelForImageClassification
processor = AutoImageProcessor.from_pretrained("{ref}")
model = AutoModelForImageClassification.from_pretrained("{ref}").eval()
{_open_image(info.image_format)}{_flatten(info.image_mode)}with torch.no_grad():
{why}    logits = model(**processor(image, return_tensors="pt"){flag}).logits
print(model.config.id2label[logits.argmax(-1).item()])"""
    ref = info.model_ref or "hf-hub:" + info.safe_name
    return f"""import timm, torch
from PIL import Image, ImageOps
model = timm.create_model("{ref}", pretrained=True).eval()
transform = timm.data.create_transform(**timm.data.resolve_data_config({{}}, model=model))
{_open_image(info.image_format)}{_stretch(info.image_mode)}{_flatten(info.image_mode)}with torch.no_grad():
    probs = model(transform(image.convert("RGB")).unsqueeze(0)).softmax(-1)
print(model.pretrained_cfg["label_names"][probs.argmax().item()])"""


def _pipeline(info: CardInfo) -> str:
    """transformers' pipeline for a timm export (its ``TimmWrapper`` reads timm's config.json and preprocessing),
    where it reads the images as training did: 8-bit ones, not DICOM scans or images of more bits."""
    mode = info.image_mode or ""
    if info.library_name != "timm" or info.image_format in ("DICOM", "TIFF16") or mode.startswith("I") or mode == "F":
        return ""
    ref = (info.model_ref or info.safe_name).removeprefix("hf-hub:").removeprefix("local-dir:")
    return f"""
Or with transformers (its timm wrapper), the same probabilities:
`pipeline("image-classification", model="{ref}")("image.jpg")`.
"""


def _open_image(image_format: str | None) -> str:
    """The line that opens an image: upright as datasets decodes it (EXIF orientation), or a DICOM scan or a TIFF
    of 16-bit colour through hf-quicktune's Pillow plugins, as training read it (:mod:`hf_quicktune.data.dicom`,
    :mod:`hf_quicktune.data.deep_tiff`)."""
    if image_format == "DICOM":
        return """import hf_quicktune.data  # pip install hf-quicktune: Pillow then opens DICOM scans as training did (windowed)
image = Image.open("image.dcm")
"""
    if image_format == "TIFF16":  # hf_quicktune.data.deep_tiff
        return """import hf_quicktune.data  # pip install hf-quicktune: Pillow then reads 16-bit colour TIFFs in full, as training did
image = Image.open("image.tif")
"""
    return """image = ImageOps.exif_transpose(Image.open("image.jpg"))  # upright, as training read it (a phone photo's EXIF)
"""


def _stretch(mode: str | None) -> str:
    """For images of more than 8 bits (``I;16``, ``I``, ``F``): the stretch to 8 bits over the image's own range
    that training applied (:func:`hf_quicktune.data.transforms.to_8bit`), which ``convert("RGB")`` does not."""
    if not mode or not (mode.startswith("I") or mode == "F"):
        return ""
    return f"""# trained on {mode} images, each stretched to 8 bits over its own range first (PIL would clip them)
import numpy as np
a = np.asarray(image, dtype=np.float64)
lo, hi = np.nanmin(a), np.nanmax(a)
image = Image.fromarray(np.nan_to_num((a - lo) * (255 / max(hi - lo, 1e-12))).round().clip(0, 255).astype(np.uint8))
"""


def _flatten(mode: str | None) -> str:
    """For images with transparent parts (modes that can carry them): laid on white as training laid them
    (:func:`hf_quicktune.data.transforms.flatten_alpha`), where ``convert("RGB")`` shows the colours under them."""
    if mode not in ("RGBA", "LA", "PA", "P"):
        return ""
    return """if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:  # transparent parts on white, as trained
    image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA")).convert("RGB")
"""


def _stats(info: CardInfo) -> str:
    """A "Model stats" section like timm's cards (parameters, GMACs, activations, image size), or nothing."""
    if not info.stats:
        return ""
    labels = (("params_m", "Params (M)", ".1f"), ("gmacs", "GMACs", ".2f"), ("macts", "Activations (M)", ".1f"))
    lines = [f"- {label}: {format(info.stats[key], fmt)}" for key, label, fmt in labels if info.stats.get(key)]
    if info.stats.get("image_size"):
        side = int(info.stats["image_size"])
        lines.append(f"- Image size: {side} x {side}")
    return "## Model stats\n\n" + "\n".join(lines) + "\n\n" if lines else ""


def _data(info: CardInfo) -> str:
    """The "Training and evaluation data" section (as transformers' Trainer names it): the classes, and each split's
    size and origin, so that a reader knows what the validation score was measured on."""
    if not info.data_splits:
        return ""
    names = ", ".join(f"`{n}`" for n in info.class_names[:12]) + (" ..." if len(info.class_names) > 12 else "")
    lines = [f"- {len(info.class_names)} classes: {names}"] if info.class_names else []
    lines += [f"- {split}: {n:,} images, {origin}" for split, n, origin in info.data_splits]
    return f"## Training and evaluation data\n\nDataset: {info.dataset_text}\n\n" + "\n".join(lines) + "\n\n"


def _per_class(info: CardInfo) -> str:
    """The exported weights' per-class results on the validation split, with the confusion matrix; or nothing."""
    if not info.per_class:
        return ""
    return (f"### Per-class results (validation)\n\n{info.per_class}\n![confusion matrix]({info.confusion_plot})\n\n"
            "Per split and class in [`quicktune/per_class.csv`](quicktune/per_class.csv).\n\n")


def build_model_card(info: CardInfo):
    """Return a ``huggingface_hub.ModelCard`` (metadata validated by ``ModelCardData``)."""
    from huggingface_hub import ModelCard, ModelCardData

    data = ModelCardData(
        model_name=info.safe_name,
        library_name=info.library_name,
        pipeline_tag="image-classification",
        base_model=None if info.from_scratch else info.base_model,
        datasets=[info.dataset] if info.dataset_is_hub else None,
        license=info.license,
        tags=list(TAGS) if info.library_name == "timm" else [t for t in TAGS if t != "timm"] + [info.library_name],
        metrics=["accuracy"],
        eval_results=_eval_results(info),
    )
    # freezing and linear probing mean nothing on random weights (the search never applies them there)
    skip = {"model"} | ({"linear_probing", "pct_to_freeze"} if info.from_scratch else set())
    hp = {k: v for k, v in sorted(info.config.items()) if v is not None and k not in skip}
    test_line = (f"- test top-1: **{100 * info.test_top1:.2f} %**{_other_metrics(info, 'test')}\n"
                 if info.test_top1 is not None else "")
    quality_line = f"- quality check: {info.quality}\n" if info.quality else ""
    prior_line = ""
    if info.prior:  # loaded by a run that did not search, it chose nothing
        prior_line = f"- meta-learned prior: `{info.prior}`" + ("" if info.searched else " (loaded; unused: no search)") + "\n"
    fraction_line = ""
    if info.epoch_fraction is not None and info.epoch_fraction < 1:
        fraction_line = (f"- epochs of {share_percent(info.epoch_fraction)} or more of the training images each (a fresh "
                         "random subset per epoch), so that the schedule ended with the budget\n")
    plot = f"\n![learning curves]({info.curve_plot})\n" if info.curve_plot else ""
    best = info.best_epoch or info.epochs
    selected = "" if info.metric == "top1" else f" {metric_label(info.metric)}"
    failed = f"; training then {info.failed_after}" if info.failed_after else ""
    if info.from_scratch:
        what = f"`{info.architecture}` trained from scratch (random initialisation) on {info.dataset_text}"
        base = "- initialisation: random (no pretrained weights; a from-scratch baseline won the search)"
    else:
        what = f"`{info.architecture}` fine-tuned on {info.dataset_text}"
        source = f"`{info.base_model}`" if info.base_model else f"`{info.candidate}`"
        pretrained = f" (pretrained on {info.pretraining})" if info.pretraining and info.pretraining != "none" else ""
        base = f"- base model: {source}{pretrained}"
    if info.searched:
        chosen = ("chosen by\n**hf-quicktune** (Quick-Tune: meta-learned gray-box\nBayesian optimisation over pretrained "
                  "models and their fine-tuning hyperparameters, Arango et al., ICLR 2024).")
        how = f"ranked without training, then {info.optimizer} over models, hyperparameters and epochs"
    else:
        chosen = ("trained by **hf-quicktune**\nwithout a search: the budget bought too few epochs to search, so it "
                  "fine-tuned the configuration a\npractitioner would run (AdamW, lr 1e-3, cosine) on the fastest "
                  "kept candidate.")
        how = "ranked without training; the budget was too small to search, so one configuration was fine-tuned"
    body = f"""
# {info.safe_name}

{what} for image classification, {chosen}

{base}
- validation top-1: **{100 * info.val_top1:.2f} %**{_other_metrics(info, 'val')} (weights of epoch {best}, the best validation{selected} epoch of the {info.epochs} trained{failed})
{test_line}{quality_line}{prior_line}
{_stats(info)}{_data(info)}## Use it

```python
{_usage(info)}
```
{_pipeline(info)}
## How it was found

- {"searched" if info.searched else "ranked"}: {len(info.candidates)} candidate models from zoo `{info.zoo}` ({", ".join(f"`{c}`" for c in info.candidates[:12])}{" ..." if len(info.candidates) > 12 else ""}),
  {how}
- budget: {info.budget or "n/a"} ({info.budget_used_s:.0f} s used, ranking and optimiser overhead included)
- {info.num_trials} trial{"" if info.num_trials == 1 else "s"}, {info.num_steps} epoch-steps{f", input size {info.image_size} px" if info.image_size else ""}
{fraction_line}
### Chosen hyperparameters

```json
{json.dumps(hp, indent=2, default=str)}
```

{_per_class(info)}### Leaderboard (top 10)

{leaderboard_markdown(info.leaderboard, limit=10)}
{plot}
The run's learning curves and full leaderboard are in [`quicktune/`](quicktune/) (JSON and CSV), in the
format hf-quicktune reads to build meta-datasets.
"""
    content = f"---\n{data.to_yaml()}\n---\n{body}"
    return ModelCard(content, ignore_metadata_errors=False)
