"""Mixed search spaces: categorical / ordinal / int / float (linear or log) / conditional.

A configuration is a flat dict (names in DEVELOPING.md). A conditional (or ``optional``)
hyperparameter that is inactive has the value ``None`` (or is absent).

The vector encoding follows Quick-Tune's surrogate input (Arango et al., ICLR 2024, §4 and
App. C): one-hot columns for categoricals, numerics scaled to [0, 1] (on the log scale where
``log: true``), ordinals by their rank in [0, 1]; an inactive value is written as the sentinel
``-1`` (all zeros for a one-hot block) plus a separate "inactive" indicator column.

YAML layout (``recipes/spaces/*.yaml``)::

    name: my-space
    hyperparameters:
      lr:        {type: float, low: 1.0e-5, high: 1.0e-2, log: true}
      opt:       {type: categorical, choices: [sgd, adam]}
      momentum:  {type: ordinal, choices: [0.0, 0.9, 0.99], when: {opt: [sgd]}}
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hf_quicktune.errors import SpaceError
from hf_quicktune.search import space_io
from hf_quicktune.search.distributions import (  # noqa: F401 (re-exported: the names callers import from here)
    INACTIVE_SENTINEL,
    TYPES,
    Categorical,
    Float,
    Hyperparameter,
    Int,
    Ordinal,
    canonical,
)
from hf_quicktune.search.distributions import plain as _plain


class Space:
    """An ordered set of hyperparameters with sampling, validation and a fixed-length encoding."""

    def __init__(self, hyperparameters: Sequence[Hyperparameter], name: str = "space", source: str = "<dict>"):
        self.name = name
        self.source = source
        self.hps: dict[str, Hyperparameter] = {}
        for hp in hyperparameters:
            if hp.name in self.hps:
                raise SpaceError(f"{source}: hyperparameter {hp.name!r} is defined twice; keep one definition.")
            self.hps[hp.name] = hp
        self._order = self._topological_order()

    # -- construction (space_io.py) -----------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> Space:
        return space_io.space_from_dict(cls, data, source)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Space:
        """Load and validate a space file; errors name the file and the key (SpaceError)."""
        return space_io.space_from_yaml(cls, path)

    @classmethod
    def from_pool(cls, pool: Sequence[dict[str, Any]], name: str = "inferred") -> Space:
        """Infer a space from the configurations of a finite pool (e.g. a tabular benchmark):
        :func:`~hf_quicktune.search.space_io.infer_hyperparameters`."""
        return cls(space_io.infer_hyperparameters(pool), name=name)

    def to_dict(self) -> dict[str, Any]:
        return space_io.space_to_dict(self)

    def with_choices(self, name: str, choices: Sequence[Any]) -> Space:
        """A copy where categorical ``name`` takes ``choices`` (e.g. the zoo's candidate names)."""
        if name not in self.hps:
            raise SpaceError(f"{self.source}: no hyperparameter {name!r} to set choices for; "
                             f"known: {', '.join(self.hps)}.")
        if not choices:
            raise SpaceError(f"{self.source}: empty choices for {name!r}; pass at least one value.")
        new = copy.deepcopy(self)
        hp = new.hps[name]
        if not isinstance(hp, (Categorical, Ordinal)):
            raise SpaceError(f"{self.source}: {name!r} is {hp.type}, only categorical/ordinal take choices.")
        hp.choices = [_plain(c) for c in choices]
        hp.check(self.source)
        new._order = new._topological_order()
        return new

    def without(self, *names: str) -> Space:
        """A copy without the given hyperparameters (which no condition may depend on)."""
        return Space([copy.deepcopy(hp) for n, hp in self.hps.items() if n not in names], self.name, self.source)

    # -- queries -----------------------------------------------------------------------
    def __contains__(self, name: str) -> bool:
        return name in self.hps

    def __len__(self) -> int:
        return len(self.hps)

    @property
    def names(self) -> list[str]:
        return list(self.hps)

    @property
    def dim(self) -> int:
        """Length of :meth:`encode` vectors."""
        return sum(hp.width for hp in self.hps.values())

    def is_active(self, name: str, config: Mapping[str, Any]) -> bool:
        """Whether ``name``'s ``when`` condition holds for ``config`` (parents active and matching)."""
        hp = self.hps[name]
        for parent, allowed in hp.when.items():
            if not self.is_active(parent, config):
                return False
            value = config.get(parent)
            if value is None or canonical(value) not in {canonical(a) for a in allowed}:
                return False
        return True

    def validate(self, config: dict[str, Any]) -> None:
        """Raise SpaceError if ``config`` is not a member of the space."""
        unknown = [k for k in config if k not in self.hps]
        if unknown:
            raise SpaceError(f"configuration has unknown keys {unknown}; the space {self.name!r} has {self.names}.")
        for name, hp in self.hps.items():
            value = config.get(name)
            active = self.is_active(name, config)
            if value is None:
                if active and not hp.optional and not hp.accepts_none():
                    raise SpaceError(f"configuration misses a value for {name!r} (active); add one.")
                continue
            if not active:
                raise SpaceError(f"{name!r}={value!r} is set but inactive (needs {hp.when}); drop it or set None.")
            if not hp.contains(value):
                raise SpaceError(f"{name!r}={value!r} is outside the space ({hp.to_dict()}).")

    # -- sampling ----------------------------------------------------------------------
    def sample(self, n: int, seed: int = 0, unique: bool = True) -> list[dict[str, Any]]:
        """``n`` seeded configurations; inactive conditionals are None. Duplicates are redrawn
        (up to a limit, so tiny discrete spaces still return ``n`` configurations)."""
        empty = [n for n, hp in self.hps.items() if hp.choices is not None and not hp.choices]
        if empty:
            raise SpaceError(f"{self.source}: {empty} have no choices yet; fill them with "
                             "space.with_choices(name, values) (e.g. the zoo's model names) before sampling.")
        rng = np.random.default_rng(seed)
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        attempts = 0
        while len(out) < n:
            cfg: dict[str, Any] = {}
            for name in self._order:
                hp = self.hps[name]
                cfg[name] = hp.sample(rng) if self.is_active(name, cfg) else None
            cfg = {k: cfg[k] for k in self.hps}
            key = json.dumps(cfg, sort_keys=True, default=str)
            attempts += 1
            if unique and key in seen and attempts < 20 * n:
                continue
            seen.add(key)
            out.append(cfg)
        return out

    # -- encoding ----------------------------------------------------------------------
    def encoded_columns(self, exclude: Iterable[str] = ()) -> list[str]:
        """Human-readable names of the encoded columns (for debugging and tests)."""
        exclude = set(exclude)
        cols = []
        for name, hp in self.hps.items():
            if name in exclude:
                continue
            cols += hp.column_names()
            if hp.conditional:
                cols.append(f"{name}:inactive")
        return cols

    def encode(self, configs: Sequence[Mapping[str, Any]], exclude: Iterable[str] = ()) -> np.ndarray:
        """Configurations -> float32 array ``(n, dim)`` (``exclude``: names left out, e.g. ``model``)."""
        exclude = set(exclude)
        hps = [hp for n, hp in self.hps.items() if n not in exclude]
        out = np.zeros((len(configs), sum(hp.width for hp in hps)), dtype=np.float32)
        for r, cfg in enumerate(configs):
            col = 0
            for hp in hps:
                value = cfg.get(hp.name)
                inactive = hp.conditional and (value is None or not self.is_active(hp.name, cfg))
                if inactive:
                    hp.encode_inactive(out[r], col)
                elif value is None and not isinstance(hp, Categorical):
                    raise SpaceError(f"configuration misses a value for {hp.name!r}; add one.")
                else:
                    hp.encode_value(out[r], col, value)
                col += hp.value_width
                if hp.conditional:
                    out[r, col] = 1.0 if inactive else 0.0
                    col += 1
        return out

    def decode(self, X: np.ndarray, exclude: Iterable[str] = ()) -> list[dict[str, Any]]:
        """Inverse of :meth:`encode` (nearest member of the space)."""
        exclude = set(exclude)
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        hps = [hp for n, hp in self.hps.items() if n not in exclude]
        if X.shape[1] != sum(hp.width for hp in hps):
            raise SpaceError(f"cannot decode {X.shape[1]} columns with space {self.name!r} "
                             f"({sum(hp.width for hp in hps)} columns).")
        configs = []
        for row in X:
            cfg: dict[str, Any] = {}
            col = 0
            for hp in hps:
                n = hp.value_width
                inactive = hp.conditional and row[col + n] > 0.5
                cfg[hp.name] = None if inactive else hp.decode_value(row[col:col + n])
                col += hp.width
            configs.append(cfg)
        return configs

    # -- internals ---------------------------------------------------------------------
    def _topological_order(self) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(name: str, path: tuple[str, ...]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                raise SpaceError(f"{self.source}: conditions form a cycle: {' -> '.join(path + (name,))}; "
                                 "make the conditions acyclic.")
            state[name] = 1
            for parent, allowed in self.hps[name].when.items():
                if parent not in self.hps:
                    raise SpaceError(f"{self.source}: hyperparameters.{name}.when refers to unknown "
                                     f"hyperparameter {parent!r}; define it or fix the name.")
                php = self.hps[parent]
                if php.choices is not None:
                    bad = [a for a in allowed if canonical(a) not in {canonical(c) for c in php.choices}]
                    if bad and php.choices:
                        raise SpaceError(f"{self.source}: hyperparameters.{name}.when.{parent} lists {bad}, "
                                         f"which are not choices of {parent!r} ({php.choices}).")
                visit(parent, path + (name,))
            state[name] = 2
            order.append(name)

        for n in self.hps:
            visit(n, ())
        return order

    def __repr__(self) -> str:
        return f"Space({self.name!r}, {len(self.hps)} hyperparameters, dim={self.dim})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self.to_dict() == other.to_dict()
