"""What one forward pass of a timm architecture costs, counted on the meta device (no memory, no weights).

Two counts of one pass on one image, from a single traced forward (:func:`forward_cost`):

* **GFLOPs**, by torch's ``FlopCounterMode``: the usual measure of compute. It prices a model against others of
  its family well (EfficientNet-Lite1 at 240 px / Lite2 at 260 px count 1.56 / 2.23 x Lite0 at 224 px; their
  forward passes took 1.53 / 2.11 x on 2 CPU cores), across families badly: per GFLOP and image a dense
  ResNet10t took ~8 ms, the depthwise Lites 37-42 ms and MobileNetV3-S-050 81 ms.
* **Activations**: millions of elements written by the convolutions and matrix products (attention included),
  the measure Radosavovic et al. (2020, "Designing Network Design Spaces", their complexity analysis) found to predict
  runtime better than FLOPs: a small depthwise network is bound by memory traffic, not arithmetic. On 2 CPU
  cores 15 timm models (the offline zoo and 9 other families) took 3.2-13.2 ms per million activations and image,
  7.4-154 ms per GFLOP (benchmarks/rank_time_limit.py).

Counts are cached in memory and on disk (``forward_cost.json`` in :func:`~hf_quicktune.constants.cache_dir`, keyed by
the timm and torch versions), so a zoo is traced once per machine.

Both match what timm's benchmark tables publish as ``infer_gmacs`` (GFLOPs / 2) and ``infer_macts`` (ResNet-50 at
224 px: 4.09 GMACs, 11.11 M activations; tests/zoo/test_forward_cost.py).
"""

from __future__ import annotations

import functools
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForwardCost:
    """One forward pass on one image: ``gflops`` and ``activations_m`` (millions of output elements of its
    convolutions and matrix products)."""

    gflops: float
    activations_m: float


def _counted_ops() -> frozenset:
    import torch

    aten = torch.ops.aten
    names = ("convolution", "mm", "addmm", "bmm", "baddbmm", "_scaled_dot_product_flash_attention",
             "_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_efficient_attention",
             "_scaled_dot_product_cudnn_attention", "_efficient_attention_forward", "_flash_attention_forward")
    return frozenset(getattr(aten, n) for n in names if hasattr(aten, n))


def _activation_mode():
    """A dispatch mode that sums the output elements of the ops of :func:`_counted_ops` (``.elements``)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    counted = _counted_ops()

    class ActivationCounter(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.elements = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if func.overloadpacket in counted:
                first = out[0] if isinstance(out, (tuple, list)) else out  # attention: (output, logsumexp, ...)
                if isinstance(first, torch.Tensor):
                    self.elements += first.numel()
            return out

    return ActivationCounter()


def _disk_path() -> Path:
    from hf_quicktune.constants import cache_dir

    return cache_dir() / "forward_cost.json"


def _disk_key(architecture: str, size: int, img_size: int | None, num_classes: int | None) -> str:
    import timm
    import torch

    return f"{architecture}|{size}|{img_size}|{num_classes}|timm {timm.__version__}|torch {torch.__version__}"


def _disk_read() -> dict[str, Any]:
    try:
        data = json.loads(_disk_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none yet, or unreadable: traced again
        return {}
    return data if isinstance(data, dict) else {}


def _disk_write(key: str, cost: ForwardCost) -> None:
    """Add one entry with an atomic replace; a cache that cannot be written is skipped."""
    path = _disk_path()
    try:
        data = {**_disk_read(), key: asdict(cost)}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # one per writer: concurrent runs do not collide
        tmp.write_text(json.dumps(data, indent=0, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as err:
        logger.debug("forward cost not cached on disk (%s)", err)


@functools.lru_cache(maxsize=256)
def forward_cost(architecture: str, size: int, img_size: int | None = None,
                 num_classes: int | None = None) -> ForwardCost | None:
    """The cost of one forward pass of a timm ``architecture`` (eval mode) on one ``size`` px image, traced on the
    meta device (0.03-0.9 s, once: kept on disk); ``img_size`` builds a transformer for that size, ``num_classes``
    its head (default: the pretrained one's). None when timm cannot build or run it there, or it counts nothing."""
    key = _disk_key(architecture, size, img_size, num_classes)
    entry = _disk_read().get(key)
    if isinstance(entry, dict):
        try:
            return ForwardCost(gflops=float(entry["gflops"]), activations_m=float(entry["activations_m"]))
        except (KeyError, TypeError, ValueError):  # an entry of another layout: traced again
            pass
    cost = _trace(architecture, size, img_size, num_classes)
    if cost is not None:  # a failure is not kept: it may not be the architecture's
        _disk_write(key, cost)
    return cost


def _trace(architecture: str, size: int, img_size: int | None, num_classes: int | None) -> ForwardCost | None:
    try:
        import warnings

        import timm
        import torch
        from torch.utils.flop_counter import FlopCounterMode

        kwargs: dict = {"img_size": img_size} if img_size else {}
        if num_classes:
            kwargs["num_classes"] = num_classes
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = timm.create_model(architecture, pretrained=False, **kwargs).eval()
            x = torch.empty(1, 3, size, size)
        activations = _activation_mode()
        with FlopCounterMode(display=False) as flops, activations, torch.no_grad():
            model(x)
    except Exception as err:  # noqa: BLE001 - an architecture timm cannot build or run on the meta device
        logger.debug("no forward cost for %r at %d px (%s)", architecture, size, err)
        return None
    if not flops.get_total_flops() or not activations.elements:
        return None
    return ForwardCost(gflops=flops.get_total_flops() / 1e9, activations_m=activations.elements / 1e6)


def candidate_cost(candidate: Any, image_size: int | None = None, num_classes: int | None = None) -> ForwardCost | None:
    """:func:`forward_cost` of a zoo candidate at ``image_size`` (default: its own input size), with a head of
    ``num_classes``; None for a model timm does not build (a transformers candidate) or cannot count."""
    from hf_quicktune.zoo.input_size import size_args

    if getattr(candidate, "library", "timm") != "timm":
        return None
    size = int(image_size or (candidate.input_size[-1] if candidate.input_size else 224))
    return forward_cost(candidate.architecture, size, size_args(candidate, image_size).get("img_size"), num_classes)
