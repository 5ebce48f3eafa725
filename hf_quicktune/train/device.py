"""What the train engine asks of Accelerate: the process-wide Accelerator (device, mixed precision),
one fresh Accelerator per trial state (its loss scaler and the objects it prepared), autocast per
trial, OOM detection, seeding and device memory.

Accelerate's state is one per process, so the precision is chosen once for the device (bf16 where the
GPU has it, else fp16 with Accelerate's GradScaler; none on CPU, whose bf16 kernels are slower than
fp32) or taken from ``accelerate launch --mixed_precision``. The ``amp`` hyperparameter then turns
Accelerate's autocast on or off per trial.
"""

from __future__ import annotations

import logging
import os
import resource
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from accelerate import Accelerator

logger = logging.getLogger(__name__)

_ACCELERATOR: Accelerator | None = None


def mixed_precision_for(device_type: str, bf16_supported: bool) -> str:
    """Accelerate's ``mixed_precision`` for ``amp: true`` on a device type."""
    if device_type == "cuda":
        return "bf16" if bf16_supported else "fp16"
    if device_type in ("xpu", "npu", "mlu"):
        return "bf16"
    return "no"


def default_accelerator() -> Accelerator:
    """The process-wide Accelerator (Accelerate's state is global). Its mixed precision comes from
    ``ACCELERATE_MIXED_PRECISION`` when set (``accelerate launch``), else :func:`mixed_precision_for`
    the device. The zero-cost ranking uses it too, so both agree on the process's state."""
    global _ACCELERATOR
    if _ACCELERATOR is None:
        from accelerate import Accelerator, PartialState

        precision = None
        if not os.environ.get("ACCELERATE_MIXED_PRECISION"):
            device = PartialState().device
            precision = mixed_precision_for(device.type, device.type == "cuda" and torch.cuda.is_bf16_supported())
        try:
            _ACCELERATOR = Accelerator(mixed_precision=precision)
        except ValueError as err:  # another Accelerator fixed the process's precision first
            logger.warning("mixed precision follows the Accelerator created before this one (%s)", err)
            _ACCELERATOR = Accelerator()
    return _ACCELERATOR


def autocast(accelerator: Accelerator, enabled: bool) -> AbstractContextManager[Any]:
    """Accelerate's autocast when ``enabled`` (a no-op where the process has no mixed precision)."""
    from accelerate.utils import AutocastKwargs

    return accelerator.autocast(None if enabled else AutocastKwargs(enabled=False))


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (every device) through Accelerate."""
    from accelerate.utils import set_seed

    set_seed(seed % 2**32)


def is_oom(err: BaseException) -> bool:
    """An out-of-memory error of any device (torch's typed error, Python's, or one Accelerate knows)."""
    from accelerate.utils.memory import should_reduce_batch_size

    if isinstance(err, torch.OutOfMemoryError | MemoryError):
        return True
    return isinstance(err, Exception) and should_reduce_batch_size(err)


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory of the epoch: allocated on a CUDA device, else the process's resident peak."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB; process peak


def trial_accelerator() -> Accelerator:
    """A new Accelerator for one trial's in-memory state (or one ranked model), on the process's Accelerate
    state: the device, processes and precision :func:`default_accelerator` fixed, with a loss scaler of its
    own under fp16. It alone tracks what it prepares (models, optimizers, loaders: what ``save_state`` and
    the gradient unscaling of ``clip_grad_norm_`` walk), so these go with it when the state is dropped,
    and trials interleaved in one process share neither tracked objects nor a loss scale.

    Scoping by Accelerator is Accelerate's public way to forget prepared objects cheaply: its other one,
    ``free_memory()``/``clear()`` on a shared Accelerator, always runs ``gc.collect()`` (about 0.2 s in
    a process with torch and timm loaded; Accelerate calls it "a *considerable* slowdown"), and a run
    switches trials at every epoch. A new Accelerator costs well under a millisecond (accelerate 1.15)."""
    from accelerate import Accelerator

    default_accelerator()  # the first Accelerator fixes the process's precision; this one inherits it
    return Accelerator()


def free_device_cache() -> None:
    """Return cached device memory to the device after a state was dropped (no ``gc.collect()``)."""
    from accelerate.utils.memory import clear_device_cache

    clear_device_cache(garbage_collection=False)
