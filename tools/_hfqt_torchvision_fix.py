"""Make ``import torchvision`` work when its compiled ops cannot load (CPU torch + CUDA torchvision).

Why this exists: on a CPU-only machine the registry's torchvision 0.28.0 is a CUDA build.
Its ``_C`` extension cannot load against the CPU build of torch 2.13.0, torchvision then
carries on without ops, but ``torchvision/_meta_registrations.py`` calls
``torch.library.register_fake("torchvision::nms")`` unguarded and raises
``RuntimeError: operator torchvision::nms does not exist`` (upstream pytorch/vision#9085),
so ``import torchvision`` -- and therefore ``import timm`` -- crashes.

The fix: just before ``torchvision._meta_registrations`` executes, if the extension did not
load, declare the two operator schemas it needs (``nms`` and ``qnms``) in a
``torch.library.Library("torchvision", "FRAGMENT")``. The ops still have no kernel (calling
``torchvision.ops.nms`` raises as it would without the extension); transforms and models work.

This file is installed into the virtual environment by ``tools/setup_venv.sh`` only when
``import torchvision`` fails in exactly this way; a GPU user's normal install never has it,
and hf-quicktune itself never imports it. It does nothing until torchvision is imported.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys

_TARGET = "torchvision._meta_registrations"
_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_LIBS: list = []  # keep the Library objects alive, or the schemas are dropped


def _declare_missing_schemas() -> None:
    import torch
    import torchvision.extension as ext

    if ext._has_ops():
        return
    lib = torch.library.Library("torchvision", "FRAGMENT")
    for schema in _SCHEMAS:
        name = schema.split("(")[0]
        try:
            getattr(torch.ops.torchvision, name)
        except (AttributeError, RuntimeError):
            lib.define(schema)
    _LIBS.append(lib)


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        _declare_missing_schemas()
        self.inner.exec_module(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != _TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


def install() -> None:
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
