"""Silence libraries inside library code: ``datasets``' progress bars (progress display belongs to the CLI) and
logged failures (our errors say them once), and any library logger's notices for a block (:func:`quiet_logger`)."""

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
def quiet_logger(name: str, level: int = logging.CRITICAL) -> Iterator[None]:
    """The library logger ``name`` keeps only records at ``level`` and above while the block runs."""
    lib = logging.getLogger(name)
    before = lib.level
    lib.setLevel(level)
    try:
        yield
    finally:
        lib.setLevel(before)


def quiet_datasets() -> contextlib.AbstractContextManager[None]:
    """``datasets`` logs a builder's failure (with traceback) before raising it; our error says it once."""
    return quiet_logger("datasets")
