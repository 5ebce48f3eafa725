"""The memory layout convolutions run in: channels-last (NHWC) where it is faster, as timm's ``train.py
--channels-last`` and PyTorch's memory-format guide recommend.

On a CPU, oneDNN's convolutions in NHWC are much faster than in the default NCHW layout for the depthwise
convolutions of the EfficientNet family and no slower for ResNets (a training step of EfficientNet-Lite0 at
batch 32 on 2 cores: 2.5x faster at 32 px, 1.6x at 224 px; ``benchmarks/channels_last.py`` prints it per model,
size and layout). On CUDA, NHWC is what tensor cores want under mixed precision; in fp32 nothing was measured here, so
it stays off there. ``HF_QUICKTUNE_CHANNELS_LAST`` = ``1`` / ``0`` forces it on or off everywhere.

A model in channels-last keeps its results (the same arithmetic on another stride order, up to float rounding);
its checkpoints are written contiguous (:func:`~hf_quicktune.train.checkpoint.save_checkpoint`), so nothing on
disk depends on the layout. Batches follow the model's layout (:func:`batch_layout`); a step timed for a
schedule follows the layout its model was given (:func:`uses_channels_last`), so a run prices the epochs it trains.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import torch
from torch import nn

logger = logging.getLogger(__name__)

#: "1" / "0" (or true/false, on/off, yes/no): channels-last forced on or off; unset or empty: :func:`use_channels_last`
ENV = "HF_QUICKTUNE_CHANNELS_LAST"
_ON, _OFF = {"1", "true", "on", "yes"}, {"0", "false", "off", "no"}


def use_channels_last(device_type: str, mixed_precision: bool) -> bool:
    """Whether a model trains and evaluates in channels-last on ``device_type``: on a CPU; on CUDA under mixed
    precision (``mixed_precision``: the trial's autocast is on and the process has a precision); else not, unless
    :data:`ENV` says otherwise."""
    forced = os.environ.get(ENV, "").strip().lower()
    if forced in _ON:
        return True
    if forced in _OFF:
        return False
    if forced:
        logger.warning("%s=%r is neither 1 nor 0: the layout is chosen by device", ENV, os.environ[ENV])
    return device_type == "cpu" or (device_type == "cuda" and mixed_precision)


def to_layout(model: nn.Module, channels_last: bool) -> nn.Module:
    """``model`` with its 4-D weights in channels-last when ``channels_last`` (in place, as ``Module.to``)."""
    return model.to(memory_format=torch.channels_last) if channels_last else model


def batch_layout(x: Any, channels_last: bool) -> Any:
    """A batch of images in the layout of a model with ``channels_last``; other tensors as they are."""
    if channels_last and isinstance(x, torch.Tensor) and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def _distinct(p: torch.Tensor) -> bool:
    """Whether a 4-D tensor's two layouts differ (more than one channel and one pixel)."""
    return p.dim() == 4 and p.shape[1] > 1 and p.shape[2] * p.shape[3] > 1


def _channels_last(p: torch.Tensor) -> bool:
    return p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()


def uses_channels_last(model: nn.Module) -> bool:
    """Whether ``model``'s first convolution weight whose layouts differ is stored channels-last (the layout
    :func:`to_layout` gave it; False for a model without one)."""
    for p in model.parameters():
        if _distinct(p):
            return _channels_last(p)
    return False


def match_optimizer_state(optimizer: Any) -> None:
    """Moments restored from a checkpoint in the layout of their parameters (a checkpoint written in another
    layout, or loaded before the model changed it): element-wise updates across layouts are correct but slow."""
    inner = getattr(optimizer, "optimizer", optimizer)
    for group in inner.param_groups:
        for p in group["params"]:
            state = inner.state.get(p)
            if not state or not _distinct(p):
                continue
            fmt = torch.channels_last if _channels_last(p) else torch.contiguous_format
            for key, value in state.items():
                if isinstance(value, torch.Tensor) and value.shape == p.shape:
                    state[key] = value.contiguous(memory_format=fmt)
