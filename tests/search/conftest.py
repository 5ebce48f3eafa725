"""Search tests: tiny tensors, so run torch single-threaded (much faster on the shared 2-core machine)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _single_torch_thread():
    from hf_quicktune.search.threads import torch_threads

    with torch_threads(1):
        yield
