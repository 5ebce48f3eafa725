"""Click options shared by several commands, built from one definition.

:func:`dataset_options` adds every dataset option of :data:`hf_quicktune.data.options.DATASET_OPTIONS`
(``--dataset-config``, ``--revision``, ``--split ROLE=NAME``, ``--image-column``, ``--label-column``,
``--val-fraction``, ``--test-fraction``) to a command; its body hands them to ``hf_quicktune.data.load``
with :func:`hf_quicktune.data.options.load_kwargs`. All default to None (= ``data.load``'s default), so
``run`` can tell a typed option from a recipe value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from hf_quicktune.data.options import DATASET_KEYS, DATASET_OPTIONS

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["DATASET_KEYS", "dataset_options", "pop_dataset_options"]


def dataset_options(f: F) -> F:
    """Decorator: the shared dataset options (one definition for data inspect, run, rank, estimate, finetune)."""
    for opt in reversed(DATASET_OPTIONS):
        kwargs: dict[str, Any] = {"help": opt.help, "default": None}
        if opt.multiple:
            kwargs.update(multiple=True, metavar=opt.metavar, default=())
        elif opt.type is not str:
            kwargs["type"] = opt.type
        f = click.option(opt.flag, opt.key, **kwargs)(f)
    return f


def pop_dataset_options(options: dict[str, Any]) -> dict[str, Any]:
    """Remove the dataset options from a command's keyword arguments and return them."""
    return {key: options.pop(key, None) for key in DATASET_KEYS}
