"""Give a transformers ``AutoModelForImageClassification`` timm's feature/head API.

Ranking and training use ``forward_features`` / ``forward_head(pre_logits=True)`` /
``reset_classifier``; this adapter provides them on top of the model's backbone and classifier.
A backbone that interpolates its position embeddings on request (ViT, DeiT, BEiT, Swin ...:
``interpolate_pos_encoding``) is asked to at any input size other than its config's ``image_size``.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

import torch
from torch import nn

from hf_quicktune.errors import ZooError

logger = logging.getLogger(__name__)

#: resampling as transformers' image processors name it (PIL's integer codes) for timm's interpolation names
PIL_RESAMPLE = {"nearest": 0, "bilinear": 2, "bicubic": 3}


class TimmStyleAdapter(nn.Module):
    """Wrap a transformers image classifier (``model.<base_model_prefix>`` + ``model.classifier``)."""

    def __init__(self, hf_model: Any):
        super().__init__()
        self.hf_model = hf_model
        head = getattr(hf_model, "classifier", None)
        if isinstance(head, nn.Sequential):  # e.g. ResNet: Flatten + Linear
            linears = [m for m in head if isinstance(m, nn.Linear)]
            head = linears[-1] if linears else None
        if not isinstance(head, nn.Linear):
            raise ZooError(
                f"The transformers model {type(hf_model).__name__} has no linear `classifier` head hf-quicktune "
                "can replace; use a timm candidate or one of the standard transformers image classifiers."
            )
        self.num_features = head.in_features
        self.num_classes = head.out_features
        self.pretrained_cfg = {"architecture": type(hf_model).__name__, "library": "transformers"}
        self._can_interpolate = "interpolate_pos_encoding" in inspect.signature(self.backbone.forward).parameters

    def interpolates(self, height: int, width: int | None = None) -> bool:
        """Whether an input of ``height`` x ``width`` px runs with ``interpolate_pos_encoding=True``: the backbone
        takes it and the size is not its config's ``image_size``."""
        size = getattr(self.hf_model.config, "image_size", None)
        if not self._can_interpolate or size is None:
            return False
        own = tuple(size) if isinstance(size, list | tuple) else (size, size)
        return (height, width if width is not None else height) != tuple(own)

    @property
    def backbone(self) -> nn.Module:
        return getattr(self.hf_model, self.hf_model.base_model_prefix)

    @property
    def blocks(self) -> nn.Module | None:
        """The backbone's stack of blocks, where timm-style code looks for the last block (LGC's gradient
        features): a ViT's ``layers`` (transformers 5) or ``encoder.layer`` (4), a ConvNeXt's ``encoder.stages``."""
        backbone = self.backbone
        for owner in (backbone, getattr(backbone, "encoder", None)):
            for name in ("layers", "layer", "stages", "blocks"):
                found = getattr(owner, name, None) if owner is not None else None
                if isinstance(found, nn.Module) and len(list(found.children())) > 0:
                    return found
        return None

    def get_classifier(self) -> nn.Linear:
        head = self.hf_model.classifier
        if isinstance(head, nn.Sequential):
            return [m for m in head if isinstance(m, nn.Linear)][-1]
        return head

    def reset_classifier(self, num_classes: int) -> None:
        new = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        head = self.hf_model.classifier
        if isinstance(head, nn.Sequential):
            idx = max(i for i, m in enumerate(head) if isinstance(m, nn.Linear))
            head[idx] = new
        else:
            self.hf_model.classifier = new
        self.num_classes = num_classes
        self.hf_model.config.num_labels = num_classes

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        extra = {"interpolate_pos_encoding": True} if self.interpolates(int(x.shape[-2]), int(x.shape[-1])) else {}
        out = self.backbone(pixel_values=x, **extra)
        pooled = getattr(out, "pooler_output", None)
        if pooled is not None:
            return pooled.flatten(1)
        return out.last_hidden_state[:, 0]  # ViT-style: the CLS token feeds the classifier

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x if pre_logits else self.hf_model.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def built_for(self, size: int) -> nn.Module | None:
        """A copy of the transformers model built for ``size`` px (``config.image_size``), its absolute position
        embeddings resampled once by the model's own ``interpolate_pos_encoding`` (what its forward does on
        every call when asked to), checked to give the same logits; None when the model has no such
        embeddings or the copy differs (e.g. relative position biases)."""
        import copy

        from transformers import AutoModelForImageClassification

        hf = self.hf_model
        embeddings = getattr(self.backbone, "embeddings", None)
        position = getattr(embeddings, "position_embeddings", None)
        patch = getattr(hf.config, "patch_size", None)
        if (embeddings is None or not isinstance(position, nn.Parameter) or not isinstance(patch, int)
                or position.dim() != 3):
            return None
        try:
            key = next(k for k, v in hf.state_dict(keep_vars=True).items() if v is position)
            own = int(hf.config.image_size)
            prefix = position.shape[1] - (own // patch) ** 2
            with torch.no_grad():
                shape = (1, prefix + (size // patch) ** 2, position.shape[-1])
                resampled = embeddings.interpolate_pos_encoding(torch.zeros(shape), size, size).detach().clone()
                config = copy.deepcopy(hf.config)
                config.image_size = size
                built = AutoModelForImageClassification.from_config(config).eval()
                state = hf.state_dict()
                state[key] = resampled
                built.load_state_dict(state)
                x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
                was_training = hf.training
                wanted = hf.eval()(pixel_values=x, interpolate_pos_encoding=True).logits
                same = torch.allclose(built(pixel_values=x).logits, wanted, atol=1e-4, rtol=1e-4)
                hf.train(was_training)
        except Exception as err:  # noqa: BLE001 - any model this cannot rebuild keeps the interpolation flag
            logger.info("%s kept at its config's size (%s): it needs interpolate_pos_encoding", type(hf).__name__, err)
            return None
        return built if same else None


def eval_processor(data_config: dict[str, Any], size: int) -> Any:
    """A transformers image processor doing timm's evaluation preprocessing at ``size`` px for ``data_config``:
    the shorter side resized to ``size / crop_pct``, a centre crop, the normalisation, which is what
    ``BitImageProcessor`` does."""
    import math

    from timm.data import DEFAULT_CROP_PCT
    from transformers import BitImageProcessor

    crop_pct = float(data_config.get("crop_pct") or DEFAULT_CROP_PCT)  # what timm's eval transform defaults to
    return BitImageProcessor(
        size={"shortest_edge": math.floor(size / crop_pct)}, crop_size={"height": size, "width": size},
        resample=PIL_RESAMPLE.get(str(data_config.get("interpolation")), PIL_RESAMPLE["bicubic"]),
        image_mean=list(data_config.get("mean") or (0.485, 0.456, 0.406)),
        image_std=list(data_config.get("std") or (0.229, 0.224, 0.225)), do_convert_rgb=True,
    )
