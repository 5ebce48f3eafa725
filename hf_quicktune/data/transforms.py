"""Per-candidate preprocessing from timm's data config, and lazy conversion to tensors.

``build_transform`` wraps :func:`timm.data.create_transform` (input size, interpolation,
mean/std, crop) and maps the search-space augmentation names (Quick-Tune search_space_v1:
``data_augmentation`` in none / trivial_augment / random_augment / auto_augment, with
``ra_num_ops``, ``ra_magnitude``, ``auto_augment``) to timm's auto-augment strings.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hf_quicktune.data.decoding import MIN_SIDE_ATTR, decode_image, min_source_side, undecoded
from hf_quicktune.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import datasets

AUGMENTATIONS = ("none", "trivial_augment", "random_augment", "auto_augment")
#: extra ``augmentation`` keys passed straight to timm's create_transform
#: Random-resized-crop area range for fine-tuning. timm's default (0.08, 1) is ImageNet pre-training's;
#: on small or low-resolution images it crops to a few source pixels. `benchmarks/transfer_sanity.py --only crop`
#: compares both (builtin:digits, pretrained EfficientNet-Lite0, 32 px, 4 epochs): val top-1 0.446 with
#: (0.08, 1) vs 0.54 (OMP_NUM_THREADS=2) to 0.64 (=1) with (0.5, 1). Override with the augmentation key ``scale``.
FINETUNE_CROP_SCALE = (0.5, 1.0)

TIMM_AUG_KEYS = ("hflip", "vflip", "scale", "ratio", "color_jitter", "re_prob", "no_aug")


def to_8bit(img: Any) -> Any:
    """A 16-bit, 32-bit integer or float PIL image (modes ``I;16*``, ``I``, ``F``: medical, microscopy, satellite
    images) as 8-bit grayscale stretched over its own range, as ImageJ / Fiji display one; other modes unchanged.

    PIL's own ``convert("RGB")`` clips such values at 255 (a 16-bit image turns white, a float one in [0, 1] black),
    and the bits a file actually uses (12 of 16, say) are not recorded, so the image's own minimum and maximum are
    the scale. NaNs become its minimum; a constant image becomes black."""
    if not (img.mode.startswith("I") or img.mode == "F"):
        return img
    import numpy as np
    from PIL import Image

    values = np.asarray(img, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return Image.new("L", img.size)
    lo, hi = float(values[finite].min()), float(values[finite].max())
    scaled = np.where(finite, values - lo, 0.0) * (255.0 / (hi - lo) if hi > lo else 0.0)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")


#: the background transparent pixels are laid on (what a browser, the Hub's viewer and most image viewers show)
ALPHA_BACKGROUND = (255, 255, 255)


def has_alpha(img: Any) -> bool:
    """Whether ``img`` has transparent parts: an alpha channel (RGBA, LA, PA) or a transparent colour (a palette
    GIF or PNG's ``transparency``, an RGB or grayscale PNG's colour key)."""
    return img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info


def flatten_alpha(img: Any) -> Any:
    """An image with transparent parts laid on :data:`ALPHA_BACKGROUND` (an RGB image); others unchanged.

    ``convert("RGB")`` drops the alpha channel and shows the colours stored under it, which nothing draws: black in
    many files, anything in others (editors keep the erased colours, PNG optimisers rewrite them to whatever
    compresses best), so one icon or sprite set reaches a model on backgrounds that differ by file, and half
    transparent edges at full strength. Compositing gives every image the background it is seen on."""
    if not has_alpha(img):
        return img
    from PIL import Image

    rgba = img.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, (*ALPHA_BACKGROUND, 255)), rgba).convert("RGB")


class ToRGB:
    """Grayscale, palette, RGBA, CMYK, 16-bit or float PIL images -> RGB (picklable for DataLoader workers); images
    of more than 8 bits are first stretched to 8 over their own range (:func:`to_8bit`), transparent parts are
    laid on white (:func:`flatten_alpha`)."""

    def __call__(self, img: Any) -> Any:
        return img if img.mode == "RGB" and not has_alpha(img) else flatten_alpha(to_8bit(img)).convert("RGB")

    def __repr__(self) -> str:
        return "ToRGB()"


def auto_augment_policy(augmentation: dict[str, Any] | None) -> str | None:
    """timm auto-augment string for the search-space augmentation keys (None = no policy).

    trivial_augment: one random op at a magnitude drawn uniformly (TrivialAugment,
    Müller & Hutter 2021) = timm ``rand-n1-m10-mstd101``; random_augment: RandAugment with
    ``ra_num_ops`` ops at magnitude ``ra_magnitude`` (timm caps magnitudes at 10);
    auto_augment: AutoAugment with policy ``auto_augment`` (``v0`` or ``original``).
    """
    aug = augmentation or {}
    kind = aug.get("data_augmentation") or "none"
    if kind not in AUGMENTATIONS:
        raise ConfigError(f"data_augmentation must be one of {AUGMENTATIONS}, got {kind!r}.")
    if kind == "none":
        return None
    if kind == "trivial_augment":
        return "rand-n1-m10-mstd101"
    if kind == "random_augment":
        n = int(aug.get("ra_num_ops") or 2)
        m = int(aug.get("ra_magnitude") or 9)
        return f"rand-m{m}-n{n}-mstd0.5"
    policy = aug.get("auto_augment") or "v0"
    if policy not in ("v0", "original", "v0r", "originalr", "3a"):
        raise ConfigError(f"auto_augment policy must be 'v0' or 'original', got {policy!r}.")
    return policy


def build_transform(
    data_config: dict[str, Any],
    *,
    train: bool,
    augmentation: dict[str, Any] | None = None,
    image_size: int | None = None,
) -> Callable[[Any], Any]:
    """PIL image -> normalised float tensor (C, H, W) for one candidate.

    ``data_config`` is a timm data config (``Candidate.data_config()`` or
    ``timm.data.resolve_data_config``). ``image_size`` overrides its input size (small
    images on CPU). ``train=True`` gives timm's training pipeline (random resized crop,
    flip, colour jitter unless an auto-augment policy is set) plus the augmentation policy;
    ``train=False`` the deterministic resize + centre crop. The crop's area range defaults to
    :data:`FINETUNE_CROP_SCALE`, not ImageNet pre-training's (0.08, 1).
    """
    from timm.data import create_transform
    from torchvision import transforms as T

    cfg = dict(data_config)
    input_size = tuple(cfg.get("input_size", (3, 224, 224)))
    if image_size is not None:
        input_size = (3, int(image_size), int(image_size))
    kwargs: dict[str, Any] = {
        "input_size": input_size,
        "is_training": train,
        "interpolation": cfg.get("interpolation", "bicubic"),
        "mean": tuple(cfg.get("mean", (0.485, 0.456, 0.406))),
        "std": tuple(cfg.get("std", (0.229, 0.224, 0.225))),
        "crop_pct": cfg.get("crop_pct"),
        "crop_mode": cfg.get("crop_mode"),
    }
    if train:
        kwargs["auto_augment"] = auto_augment_policy(augmentation)
        kwargs["scale"] = FINETUNE_CROP_SCALE
        for key in TIMM_AUG_KEYS:
            if augmentation and augmentation.get(key) is not None:
                value = augmentation[key]
                kwargs[key] = tuple(value) if isinstance(value, list) else value
    transform = create_transform(**kwargs)
    if train:
        _make_posterize_safe(transform)
    pipeline = T.Compose([ToRGB(), transform])
    setattr(pipeline, MIN_SIDE_ATTR, _min_source_side(kwargs, int(input_size[-1])))
    return pipeline


def _min_source_side(kwargs: dict[str, Any], size: int) -> int:
    """The shorter side a source image needs for the pipeline built from timm ``kwargs`` never to upsample
    (a JPEG is decoded no larger: :mod:`~hf_quicktune.data.decoding`). Evaluation resizes the shorter side to
    ``size / crop_pct`` (timm's default crop_pct 0.875); a random resized crop of at least ``scale[0]`` of the
    area at the narrowest aspect ratio is ``sqrt(scale[0] * ratio[0])`` of a square image's side."""
    crop_pct = float(kwargs.get("crop_pct") or 0.875)
    side = size / min(1.0, crop_pct)
    if kwargs.get("is_training") and not kwargs.get("no_aug"):
        scale = kwargs.get("scale") or (0.08, 1.0)
        ratio = kwargs.get("ratio") or (3 / 4, 4 / 3)
        narrowest = min(float(ratio[0]), 1 / float(ratio[1]))
        side = max(side, size / math.sqrt(max(1e-6, float(scale[0])) * narrowest))
    return int(math.ceil(side))


def _posterize_safe(img, bits_to_keep, **__):
    """timm's posterize, valid for 0 bits too (then every pixel becomes 0).

    timm's RandAugment/AutoAugment level-to-argument maps give ``bits_to_keep = 0`` at low
    magnitudes (TrivialAugment's uniform magnitudes, AutoAugment ``v0``); Pillow >= 12 rejects
    that ("bits must be between or equal to 1 and 8") where older Pillow returned a black image.
    """
    from PIL import ImageOps

    bits = int(bits_to_keep)
    if bits >= 8:
        return img
    if bits <= 0:
        return img.point(lambda _: 0)
    return ImageOps.posterize(img, bits)


def _make_posterize_safe(transform: Any) -> None:
    """Swap the posterize function of every timm ``AugmentOp`` inside ``transform`` (in place)."""
    stack = [transform]
    while stack:
        t = stack.pop()
        if isinstance(t, (list, tuple)):  # AutoAugment's policy is a list of sub-policy lists
            stack.extend(t)
            continue
        if "Posterize" in str(getattr(t, "name", "")) and hasattr(t, "aug_fn"):
            t.aug_fn = _posterize_safe
        for attr in ("transforms", "ops", "policy"):
            children = getattr(t, attr, None)
            if isinstance(children, (list, tuple)):
                stack.extend(children)


class _ToTorch:
    """Batch transform for ``Dataset.with_transform``: image -> pixel_values, label -> int. ``min_side``: the
    images arrive undecoded and are decoded no larger than that (:func:`~hf_quicktune.data.decoding.decode_image`)."""

    def __init__(self, transform: Callable[[Any], Any], min_side: int | None = None):
        self.transform = transform
        self.min_side = min_side

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        images = batch["image"]
        if self.min_side is not None:
            images = [decode_image(value, self.min_side) for value in images]
        return {
            "pixel_values": [self.transform(img) for img in images],
            "label": [int(v) for v in batch["label"]],
        }


def to_torch(split: datasets.Dataset, transform: Callable[[Any], Any]) -> datasets.Dataset:
    """The split with ``transform`` applied lazily on access (``with_transform``).

    Items are ``{"pixel_values": Tensor(C, H, W), "label": int}``; nothing is materialised,
    so it plugs into a ``torch.utils.data.DataLoader`` with the default collate. A transform of
    :func:`build_transform` knows the smallest source it needs: JPEGs are decoded no larger
    (:mod:`~hf_quicktune.data.decoding`).
    """
    min_side = min_source_side(transform)
    raw = undecoded(split, "image") if min_side is not None else None
    if raw is None:
        return split.with_transform(_ToTorch(transform))
    return raw.with_transform(_ToTorch(transform, min_side))
