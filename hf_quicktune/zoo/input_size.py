"""Building a timm model for another input size than the one it was pretrained at.

Convolutional networks take any input size as they are. Transformers are built for one: ViT, DeiT and EVA-02
size their position embeddings, Swin its windows and relative position tables, for the resolution they were
pretrained at, and fail a forward pass at another (``--image-size 32``, or a budget that trains smaller). timm
builds them for any ``img_size`` and resamples the pretrained position embeddings while loading the weights,
which is what a practitioner does by hand: ``timm.create_model(name, pretrained=True, img_size=32)`` (Dosovitskiy
et al. 2021, "An image is worth 16x16 words", section 3.2: fine-tuning at another resolution interpolates the
position embeddings). :func:`size_args` gives those arguments; the exported ``config.json`` keeps them as
``model_args``, so ``timm.create_model("hf-hub:...")`` rebuilds the model at the size it was trained at.

LeViT takes ``img_size`` too, but timm does not resample its pretrained attention biases: a pretrained LeViT
trains at its own size only (:func:`~hf_quicktune.zoo.factory.create_model` says so with a ``ZooError``).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

logger = logging.getLogger(__name__)


@functools.cache
def accepts_img_size(architecture: str) -> bool:
    """Whether timm's constructor of ``architecture`` takes ``img_size`` (built on the meta device: no memory,
    no weights; an architecture timm does not know, or cannot build there, counts as not resizable)."""
    import timm
    import torch

    if not timm.models.is_model(architecture):
        return False
    try:
        with torch.device("meta"):
            timm.create_model(architecture, pretrained=False, img_size=224)
    except TypeError as err:
        if "img_size" not in str(err):
            logger.debug("%s: cannot tell whether it takes img_size (%s)", architecture, err)
        return False
    except Exception as err:  # noqa: BLE001 - a constructor that needs real tensors: keep today's behaviour
        logger.debug("%s: cannot tell whether it takes img_size (%s)", architecture, err)
        return False
    return True


def size_args(candidate: Any, image_size: int | None) -> dict[str, int]:
    """The ``timm.create_model`` arguments that build ``candidate`` for ``image_size`` px: ``{"img_size": N}``
    for a timm architecture whose constructor takes it, when ``N`` differs from the candidate's own size; ``{}``
    otherwise (a CNN, the candidate's own size, a transformers model, a local checkpoint: timm resamples
    position embeddings only while loading pretrained weights through its own loader)."""
    if not image_size or getattr(candidate, "library", "timm") != "timm" or getattr(candidate, "source", "") == "local":
        return {}
    architecture = getattr(candidate, "architecture", None)
    own = getattr(candidate, "input_size", None)
    if not architecture or (own is not None and int(own[-1]) == int(image_size)):
        return {}
    return {"img_size": int(image_size)} if accepts_img_size(str(architecture)) else {}
