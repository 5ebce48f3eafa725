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
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hf_quicktune.errors import SpaceError

TYPES = ("categorical", "ordinal", "int", "float")
INACTIVE_SENTINEL = -1.0
_KNOWN_KEYS = {"type", "choices", "low", "high", "log", "when", "optional", "help"}


def canonical(value: Any) -> Any:
    """A hashable canonical form: tuples -> lists -> JSON text, integral floats -> int, bools kept."""
    if isinstance(value, (tuple, list)):
        return json.dumps([_canon_num(v) for v in value])
    return _canon_num(value)


def _canon_num(v: Any) -> Any:
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return int(f) if f.is_integer() else f
    if isinstance(v, (tuple, list)):
        return json.dumps([_canon_num(x) for x in v])
    return v


def _plain(value: Any) -> Any:
    """JSON-friendly copy (tuples -> lists, numpy scalars -> python)."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass
class Hyperparameter:
    """One dimension of a :class:`Space`."""

    name: str
    type: str
    choices: list[Any] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    when: dict[str, list[Any]] = field(default_factory=dict)
    optional: bool = False

    @property
    def conditional(self) -> bool:
        """True when the value may be inactive (a ``when`` condition, or ``optional``)."""
        return bool(self.when) or self.optional

    @property
    def width(self) -> int:
        """Number of encoded columns."""
        base = len(self.choices) if self.type == "categorical" else 1
        return base + (1 if self.conditional else 0)

    def sample(self, rng: np.random.Generator) -> Any:
        if self.type in ("categorical", "ordinal"):
            return _plain(self.choices[int(rng.integers(len(self.choices)))])
        lo, hi = float(self.low), float(self.high)
        if self.log:
            u = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        else:
            u = rng.uniform(lo, hi)
        if self.type == "int":
            return int(min(max(round(u), int(lo)), int(hi)))
        return float(u)

    def scale(self, value: Any) -> float:
        """Numeric value -> [0, 1] (ordinals by rank, log scale where ``log``)."""
        if self.type == "ordinal":
            if len(self.choices) == 1:
                return 0.0
            idx = int(np.argmin([abs(float(c) - float(value)) for c in self.choices]))
            return idx / (len(self.choices) - 1)
        lo, hi, v = float(self.low), float(self.high), float(value)
        if self.log:
            lo, hi, v = math.log(lo), math.log(hi), math.log(max(v, float(self.low)))
        return 0.0 if hi == lo else float(min(max((v - lo) / (hi - lo), 0.0), 1.0))

    def unscale(self, u: float) -> Any:
        u = float(min(max(u, 0.0), 1.0))
        if self.type == "ordinal":
            return _plain(self.choices[int(round(u * (len(self.choices) - 1)))])
        lo, hi = float(self.low), float(self.high)
        v = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))) if self.log else lo + u * (hi - lo)
        return int(min(max(round(v), int(lo)), int(hi))) if self.type == "int" else float(v)

    def contains(self, value: Any) -> bool:
        if self.type in ("categorical", "ordinal"):
            return canonical(value) in {canonical(c) for c in self.choices}
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            return False
        if self.type == "int" and not float(value).is_integer():
            return False
        eps = 1e-9 * max(1.0, abs(float(self.high)))
        return float(self.low) - eps <= float(value) <= float(self.high) + eps

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type}
        if self.choices is not None:
            d["choices"] = _plain(self.choices)
        if self.low is not None:
            d["low"], d["high"] = self.low, self.high
        if self.log:
            d["log"] = True
        if self.when:
            d["when"] = {k: _plain(v) for k, v in self.when.items()}
        if self.optional:
            d["optional"] = True
        return d


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

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> Space:
        if not isinstance(data, dict) or not isinstance(data.get("hyperparameters"), dict):
            raise SpaceError(
                f"{source}: expected a mapping with a 'hyperparameters' mapping "
                "(name -> {type: ..., ...}); see recipes/spaces/quicktune.yaml for an example."
            )
        specs = data["hyperparameters"]
        order = data.get("order")  # written by to_dict: JSON writers may sort the mapping's keys
        if isinstance(order, list) and sorted(order) == sorted(specs):
            specs = {k: specs[k] for k in order}
        hps = [_parse_hp(name, spec, source) for name, spec in specs.items()]
        return cls(hps, name=str(data.get("name", Path(source).stem if source != "<dict>" else "space")), source=source)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Space:
        """Load and validate a space file; errors name the file and the key (SpaceError)."""
        import yaml

        path = Path(path)
        if not path.is_file():
            raise SpaceError(f"search space file {str(path)!r} does not exist; pass a path to a YAML file "
                             "such as recipes/spaces/quicktune.yaml.")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise SpaceError(f"{path}: is not valid YAML ({e}); fix the syntax.") from e
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_pool(cls, pool: Sequence[dict[str, Any]], name: str = "inferred") -> Space:
        """Infer a space from the configurations of a finite pool (e.g. a tabular benchmark).

        Booleans and strings become categoricals; numerics with at most 12 distinct values
        become ordinals, others int/float (log when positive and spanning > 2 decades);
        keys that are sometimes None become ``optional``.
        """
        keys: list[str] = []
        for c in pool:
            for k in c:
                if k not in keys:
                    keys.append(k)
        hps = []
        for k in keys:
            vals = [c.get(k) for c in pool]
            present = [v for v in vals if v is not None]
            optional = len(present) < len(vals)
            if not present:
                continue
            numeric = all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                          for v in present)
            distinct = sorted({canonical(v) for v in present}, key=lambda x: (str(type(x)), x))
            if numeric and len(distinct) > 12:
                lo, hi = float(min(present)), float(max(present))
                is_int = all(float(v).is_integer() for v in present)
                log = lo > 0 and hi / lo > 100
                hps.append(Hyperparameter(k, "int" if is_int else "float", low=lo, high=hi, log=log, optional=optional))
            elif numeric:
                hps.append(Hyperparameter(k, "ordinal", choices=sorted(distinct), optional=optional))
            else:
                first = {}
                for v in present:
                    first.setdefault(canonical(v), _plain(v))
                hps.append(Hyperparameter(k, "categorical", choices=list(first.values()), optional=optional))
        return cls(hps, name=name)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "order": list(self.hps),
                "hyperparameters": {n: hp.to_dict() for n, hp in self.hps.items()}}

    def with_choices(self, name: str, choices: Sequence[Any]) -> Space:
        """A copy where categorical ``name`` takes ``choices`` (e.g. the zoo's candidate names)."""
        if name not in self.hps:
            raise SpaceError(f"{self.source}: no hyperparameter {name!r} to set choices for; "
                             f"known: {', '.join(self.hps)}.")
        if not choices:
            raise SpaceError(f"{self.source}: empty choices for {name!r}; pass at least one value.")
        new = copy.deepcopy(self)
        hp = new.hps[name]
        if hp.type not in ("categorical", "ordinal"):
            raise SpaceError(f"{self.source}: {name!r} is {hp.type}, only categorical/ordinal take choices.")
        hp.choices = [_plain(c) for c in choices]
        _check_hp(hp, self.source)
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

    def is_active(self, name: str, config: dict[str, Any]) -> bool:
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
                if active and not hp.optional and not (hp.type == "categorical" and None in hp.choices):
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
            if hp.type == "categorical":
                cols += [f"{name}={c!r}" for c in hp.choices]
            else:
                cols.append(name)
            if hp.conditional:
                cols.append(f"{name}:inactive")
        return cols

    def encode(self, configs: Sequence[dict[str, Any]], exclude: Iterable[str] = ()) -> np.ndarray:
        """Configurations -> float32 array ``(n, dim)`` (``exclude``: names left out, e.g. ``model``)."""
        exclude = set(exclude)
        hps = [hp for n, hp in self.hps.items() if n not in exclude]
        width = sum(hp.width for hp in hps)
        out = np.zeros((len(configs), width), dtype=np.float32)
        lookups = {hp.name: {canonical(c): i for i, c in enumerate(hp.choices)}
                   for hp in hps if hp.type == "categorical"}
        for r, cfg in enumerate(configs):
            col = 0
            for hp in hps:
                value = cfg.get(hp.name)
                inactive = hp.conditional and (value is None or not self.is_active(hp.name, cfg))
                if hp.type == "categorical":
                    n = len(hp.choices)
                    if not inactive:
                        key = canonical(value)
                        if key not in lookups[hp.name]:
                            raise SpaceError(f"{hp.name!r}={value!r} is not one of the choices {hp.choices}; "
                                             "use a value of the space or add it to the space file.")
                        out[r, col + lookups[hp.name][key]] = 1.0
                    col += n
                else:
                    if inactive:
                        out[r, col] = INACTIVE_SENTINEL
                    elif value is None:
                        raise SpaceError(f"configuration misses a value for {hp.name!r}; add one.")
                    else:
                        out[r, col] = hp.scale(value)
                    col += 1
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
                n = len(hp.choices) if hp.type == "categorical" else 1
                block = row[col:col + n]
                inactive = hp.conditional and row[col + n] > 0.5
                if inactive:
                    cfg[hp.name] = None
                elif hp.type == "categorical":
                    cfg[hp.name] = _plain(hp.choices[int(np.argmax(block))])
                else:
                    cfg[hp.name] = hp.unscale(block[0])
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


def _parse_hp(name: str, spec: Any, source: str) -> Hyperparameter:
    where = f"{source}: hyperparameters.{name}"
    if not isinstance(spec, dict):
        raise SpaceError(f"{where} must be a mapping like {{type: float, low: 0.0, high: 1.0}}, got {spec!r}.")
    unknown = set(spec) - _KNOWN_KEYS
    if unknown:
        raise SpaceError(f"{where} has unknown keys {sorted(unknown)}; allowed: {sorted(_KNOWN_KEYS)}.")
    typ = spec.get("type")
    if typ not in TYPES:
        raise SpaceError(f"{where}.type is {typ!r}; use one of {', '.join(TYPES)}.")
    when = spec.get("when") or {}
    if not isinstance(when, dict):
        raise SpaceError(f"{where}.when must map a parent name to a list of values, got {when!r}.")
    when = {str(k): list(v) if isinstance(v, (list, tuple)) else [v] for k, v in when.items()}
    hp = Hyperparameter(
        name=str(name),
        type=typ,
        choices=list(spec["choices"]) if isinstance(spec.get("choices"), (list, tuple)) else spec.get("choices"),
        low=spec.get("low"),
        high=spec.get("high"),
        log=bool(spec.get("log", False)),
        when=when,
        optional=bool(spec.get("optional", False)),
    )
    _check_hp(hp, source)
    return hp


def _check_hp(hp: Hyperparameter, source: str) -> None:
    where = f"{source}: hyperparameters.{hp.name}"
    if hp.type in ("categorical", "ordinal"):
        if not isinstance(hp.choices, list):
            raise SpaceError(f"{where}.choices must be a list for type {hp.type}.")
        if hp.low is not None or hp.high is not None:
            raise SpaceError(f"{where}: low/high are for int/float; a {hp.type} takes 'choices' only.")
        if len({canonical(c) for c in hp.choices}) != len(hp.choices):
            raise SpaceError(f"{where}.choices has duplicates: {hp.choices}.")
        if hp.type == "ordinal":
            if not hp.choices:
                raise SpaceError(f"{where}.choices is empty; list at least one value.")
            if not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in hp.choices):
                raise SpaceError(f"{where}.choices must be numbers for an ordinal (got {hp.choices}); "
                                 "in YAML write exponents with a dot, e.g. 1.0e-5, or use type categorical.")
            hp.choices = sorted(hp.choices)
        if hp.conditional and hp.type == "categorical" and None in hp.choices:
            raise SpaceError(f"{where}: a conditional/optional categorical cannot list null as a choice "
                             "(None means inactive); use a string such as 'none'.")
    else:
        if hp.choices is not None:
            raise SpaceError(f"{where}: 'choices' is for categorical/ordinal; a {hp.type} takes low/high.")
        for key in ("low", "high"):
            v = getattr(hp, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise SpaceError(f"{where}.{key} must be a number (got {v!r}); in YAML write 1.0e-5, not 1e-5.")
        if hp.low > hp.high:
            raise SpaceError(f"{where}: low ({hp.low}) is above high ({hp.high}).")
        if hp.log and hp.low <= 0:
            raise SpaceError(f"{where}: log scale needs low > 0 (got {hp.low}); use log: false or a positive low.")
        if hp.type == "int" and not (float(hp.low).is_integer() and float(hp.high).is_integer()):
            raise SpaceError(f"{where}: int bounds must be integers (got {hp.low}, {hp.high}).")
