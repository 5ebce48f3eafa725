"""Give a transformers ``AutoModelForImageClassification`` timm's feature/head API.

Ranking and training use ``forward_features`` / ``forward_head(pre_logits=True)`` /
``reset_classifier``; this adapter provides them on top of the model's backbone and classifier.
A backbone that interpolates its position embeddings on request (ViT, DeiT, BEiT, Swin ...:
``interpolate_pos_encoding``) is asked to at any input size other than its config's ``image_size``.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from hf_quicktune.errors import ZooError


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
