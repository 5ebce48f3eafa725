"""Error hierarchy. Every message says what was found and what to do next.

The CLI turns a :class:`QuickTuneError` into one paragraph and exit code 2; any other
exception is a bug (exit code 1, traceback in the log).
"""

from __future__ import annotations


class QuickTuneError(Exception):
    """Root of all errors that are the user's to fix (bad input, missing weights, ...)."""


class ConfigError(QuickTuneError):
    """A recipe, option or YAML file is invalid."""


class DatasetError(QuickTuneError):
    """The dataset cannot be resolved, decoded or split."""


class ZooError(QuickTuneError):
    """A candidate model cannot be resolved or loaded."""


class SpaceError(QuickTuneError):
    """A search space file or configuration is invalid."""


class HubError(QuickTuneError):
    """The Hugging Face Hub could not be reached or refused the request."""


class TrainError(QuickTuneError):
    """A trial could not be trained (e.g. invalid hyperparameters)."""


class MetaError(QuickTuneError):
    """A meta-dataset or prior is missing or malformed."""
