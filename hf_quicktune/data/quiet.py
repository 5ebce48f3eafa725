"""Silence ``datasets`` inside library code: its progress bars (progress display belongs to the CLI) and its
logged failures (our errors say them once)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator


@contextlib.contextmanager
def no_progress_bars() -> Iterator[None]:
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


@contextlib.contextmanager
def quiet_datasets() -> Iterator[None]:
    """``datasets`` logs a builder's failure (with traceback) before raising it; our error says it once."""
    lib = logging.getLogger("datasets")
    level = lib.level
    lib.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        lib.setLevel(level)
