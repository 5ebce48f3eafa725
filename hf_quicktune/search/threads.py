"""Thread control for the search's small tensor work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(n: int | None = 1) -> Iterator[None]:
    """Temporarily limit torch's intra-op threads (restored on exit; ``None`` leaves them).

    The surrogate's tensors are tiny (hundreds of rows), so one thread avoids synchronisation
    costs: on a loaded 2-core machine a GP fit ran ~10x faster with 1 thread than with 2.
    """
    if not n:
        yield
        return
    old = torch.get_num_threads()
    if old == n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)
