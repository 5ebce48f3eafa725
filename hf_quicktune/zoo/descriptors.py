"""Model descriptors: numeric features every image model has, so a meta-learned prior transfers
to models it never saw in meta-training (Quick-Tune §4.2 encodes models by identity only).

A descriptor is ``{name: float}`` with

=====================  ==================================================================================
``params_m``           parameters in millions (the capacity)
``input_px``           the resolution the model is trained at (its native one unless the run overrides it)
``pretrain_images_m``  millions of images it was pretrained on: 0 for random init, 1.28 ImageNet-1k,
                       14.2 ImageNet-21k/22k, 300 JFT (Noisy Student), 400 CLIP/LAION-400M, 2,000 LAION-2B;
                       read from the timm pretrained tag (or the candidate's ``pretraining`` field)
``attention``          share of the parameters inside attention layers (0 for a convnet, about 1/3 for a
                       ViT whose MLPs hold the rest, less for hybrids such as MobileViT / EdgeNeXt)
=====================  ==================================================================================

The architecture's facts come from instantiating it on the ``meta`` device (no memory, no weights, about
0.1-0.8 s for the largest models): with timm, or for a transformers candidate with transformers from the
``config.json`` of its repo or folder (its class name is not a timm architecture); what cannot be read is
``None`` (the prior's scaler then uses its meta-training mean).
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DESCRIPTOR_NAMES = ("params_m", "input_px", "pretrain_images_m", "attention")

#: millions of pretraining images by a token of the timm tag / pretraining field (checked in order)
_PRETRAIN_SCALE = (
    (r"laion2b|laion-2b", 2000.0),
    (r"laion|openai|clip|dfn|datacomp|metaclip", 400.0),
    (r"jft|ns_|noisy", 300.0),
    (r"in12k|imagenet-12k", 12.0),
    (r"in21k|in22k|22k|21k|imagenet-21k|imagenet-22k", 14.2),
    (r"in1k|imagenet|sail|cvnets|usi|ra_|ra2|ra3|tv_|gluon|a1_|a2_|a3_|fb_dist|dist", 1.28),
)
#: class names of attention layers (timm: Attention, WindowAttention, OutlookAttention, CrossCovarianceAttn, XCA)
_ATTENTION_MODULE = re.compile(r"(attention|attn|^xca|mhsa)$", re.IGNORECASE)


def pretraining_images_m(tag: str | None, scratch: bool = False) -> float | None:
    """Millions of pretraining images implied by a timm tag (``ns_jft_in1k``) or a pretraining
    name (``imagenet-1k``); 0 for random init; None when nothing is recognised."""
    if scratch:
        return 0.0
    if not tag:
        return None
    text = str(tag).lower()
    if text in ("none", "scratch", "random"):
        return 0.0
    for pattern, value in _PRETRAIN_SCALE:
        if re.search(pattern, text):
            return value
    return None


def _model_facts(model: Any, input_size: Any, tag: str | None) -> dict[str, Any]:
    """Parameters, attention share, input size and pretraining tag of a model built on the meta device."""
    total = sum(p.numel() for p in model.parameters())
    in_attention: set[int] = set()
    for module in model.modules():
        if _ATTENTION_MODULE.search(type(module).__name__):
            in_attention.update(id(p) for p in module.parameters())
    attention = sum(p.numel() for p in model.parameters() if id(p) in in_attention)
    size = input_size[-1] if isinstance(input_size, (list, tuple)) else input_size
    return {"params_m": total / 1e6, "input_px": float(size or 224), "attention": attention / max(total, 1),
            "tag": tag}


@functools.lru_cache(maxsize=256)
def architecture_facts(architecture: str) -> dict[str, Any]:
    """``{"params_m", "input_px", "attention", "tag"}`` of a timm architecture (meta device; cached)."""
    try:
        import warnings

        import timm
        import torch

        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # timm's deprecation notes for old names (e.g. *_in22ft1k)
            model = timm.create_model(architecture, pretrained=False)
    except Exception as err:  # noqa: BLE001 - any unknown/unbuildable name: no facts, not an error
        logger.info("no timm facts for %r (%s); its descriptor uses the prior's means", architecture, err)
        return {}
    cfg = getattr(model, "pretrained_cfg", {}) or {}
    return _model_facts(model, cfg.get("input_size") or (3, 224, 224), cfg.get("tag"))


@functools.lru_cache(maxsize=64)
def transformers_facts(source: str) -> dict[str, Any]:
    """The facts of a transformers image classifier (a Hub id in the local cache, or a folder), built from its
    ``config.json`` on the meta device; ``{}`` when the config cannot be read (cached)."""
    try:
        import torch
        from transformers import AutoConfig, AutoModelForImageClassification

        from hf_quicktune.constants import hub_reachable

        offline = not Path(source).is_dir() and not hub_reachable()  # the cache then, no network retries
        config = AutoConfig.from_pretrained(source, trust_remote_code=False, local_files_only=offline)
        with torch.device("meta"):
            model = AutoModelForImageClassification.from_config(config)
    except Exception as err:  # noqa: BLE001 - no config here: no facts, not an error
        logger.info("no transformers facts for %r (%s); its descriptor uses the prior's means", source, err)
        return {}
    return _model_facts(model, getattr(config, "image_size", None), None)


def describe_architecture(architecture: str, *, pretraining: str | None = None, scratch: bool = False,
                          num_params: int | None = None, input_px: int | None = None,
                          facts: dict[str, Any] | None = None) -> dict[str, float | None]:
    """The descriptor of ``architecture`` (a timm name, deprecated names included); ``pretraining``
    overrides the tag's pretraining data, ``input_px`` the native resolution (a run's ``--image-size``);
    ``facts``: the model's facts when they are not a timm architecture's (:func:`transformers_facts`)."""
    facts = architecture_facts(architecture) if facts is None else facts
    params = num_params / 1e6 if num_params else facts.get("params_m")
    images = pretraining_images_m(pretraining, scratch) if (pretraining or scratch) else None
    if images is None:
        images = pretraining_images_m(facts.get("tag"), scratch)
    return {"params_m": params, "input_px": float(input_px) if input_px else facts.get("input_px"),
            "pretrain_images_m": images, "attention": facts.get("attention")}


def describe_candidate(candidate: Any, image_size: int | None = None) -> dict[str, float | None]:
    """The descriptor of a :class:`~hf_quicktune.zoo.candidate.Candidate` trained at ``image_size``
    (None: its native input size). A transformers candidate is described from its own config, its pretraining
    read from the candidate's fields or its Hub id (``google/vit-base-patch16-224-in21k``: ImageNet-21k)."""
    pretraining = candidate.pretraining or candidate.pretrained_tag
    native = candidate.input_size[-1] if candidate.input_size else None
    facts = None
    if getattr(candidate, "library", "timm") == "transformers":
        source = candidate.hub_id or candidate.path
        facts = transformers_facts(str(source)) if source else {}
        if pretraining_images_m(pretraining) is None and pretraining_images_m(candidate.hub_id) is not None:
            pretraining = candidate.hub_id
    return describe_architecture(candidate.architecture, pretraining=pretraining, scratch=candidate.is_scratch,
                                 num_params=candidate.num_params, input_px=image_size or native, facts=facts)
