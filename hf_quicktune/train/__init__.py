"""The fine-tuning engine: trials that train, checkpoint and continue (freeze-thaw) on Accelerate.

- :class:`~hf_quicktune.train.trial.Trial`: ``advance(k)`` / ``evaluate(split)`` / ``export(dir)``
- :mod:`~hf_quicktune.train.config`: hyperparameter ``DEFAULTS`` and validation
- :mod:`~hf_quicktune.train.records`: ``EpochRecord`` and the ``curve.jsonl`` file
- :mod:`~hf_quicktune.train.optim`, :mod:`~hf_quicktune.train.strategies`,
  :mod:`~hf_quicktune.train.regularizers`: timm optimizers/schedulers, freezing, SP/DELTA/BSS
- :mod:`~hf_quicktune.train.checkpoint`, :mod:`~hf_quicktune.train.export`: files on disk
"""

from __future__ import annotations

from hf_quicktune.train.config import DEFAULTS, validate_config
from hf_quicktune.train.export import best_epoch, checkpoint_info, export_trial, load_model
from hf_quicktune.train.records import EpochRecord, load_curve
from hf_quicktune.train.trial import Trial, restore_curve

load_trained_model = load_model

__all__ = [
    "DEFAULTS",
    "EpochRecord",
    "Trial",
    "best_epoch",
    "checkpoint_info",
    "export_trial",
    "load_curve",
    "load_model",
    "load_trained_model",
    "restore_curve",
    "validate_config",
]
