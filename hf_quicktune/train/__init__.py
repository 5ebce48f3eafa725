"""The fine-tuning engine: trials that train, checkpoint and continue (freeze-thaw) on Accelerate.

- :class:`~hf_quicktune.train.trial.Trial`: ``advance(k, should_stop=...)`` / ``evaluate(split)`` /
  ``export(dir)`` (the facade: lifecycle and files)
- :mod:`~hf_quicktune.train.state` (model/optimizer/scheduler state, built or restored),
  :mod:`~hf_quicktune.train.step` (train step, evaluation), :mod:`~hf_quicktune.train.device`
  (what the engine asks of Accelerate: precision, autocast, OOM detection, seeding, memory)
- :mod:`~hf_quicktune.train.config`: hyperparameter ``DEFAULTS``, choice lists and validation
- :mod:`~hf_quicktune.train.records`: ``EpochRecord`` (``.score``/``.cost``), ``TrialStatus``,
  ``AdvanceResult`` and the ``curve.jsonl`` file
- :mod:`~hf_quicktune.train.optim`, :mod:`~hf_quicktune.train.strategies`,
  :mod:`~hf_quicktune.train.regularizers`: timm optimizers/schedulers, freezing, SP/DELTA/BSS
- :mod:`~hf_quicktune.train.checkpoint`, :mod:`~hf_quicktune.train.export`: files on disk

The names below are imported on first use (PEP 562), so ``hf_quicktune.train.config`` and
``hf_quicktune.train.records`` stay light (no torch) for the CLI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hf_quicktune.train.checkpoint import restore_curve
    from hf_quicktune.train.config import DEFAULTS, validate_config
    from hf_quicktune.train.export import best_epoch, checkpoint_info, export_trial, load_model
    from hf_quicktune.train.records import AdvanceResult, EpochRecord, TrialStatus, load_curve
    from hf_quicktune.train.trial import Trial

    load_trained_model = load_model

_WHERE = {
    "DEFAULTS": "config",
    "validate_config": "config",
    "best_epoch": "export",
    "checkpoint_info": "export",
    "export_trial": "export",
    "load_model": "export",
    "load_trained_model": "export:load_model",
    "AdvanceResult": "records",
    "EpochRecord": "records",
    "TrialStatus": "records",
    "load_curve": "records",
    "Trial": "trial",
    "restore_curve": "checkpoint",
}

__all__ = [
    "DEFAULTS",
    "AdvanceResult",
    "EpochRecord",
    "Trial",
    "TrialStatus",
    "best_epoch",
    "checkpoint_info",
    "export_trial",
    "load_curve",
    "load_model",
    "load_trained_model",
    "restore_curve",
    "validate_config",
]
assert sorted(__all__) == sorted(_WHERE)


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, _, attr = where.partition(":")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
