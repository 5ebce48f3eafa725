"""The hyperparameter types of a :class:`~hf_quicktune.search.space.Space`, one class per distribution
(like Optuna's ``CategoricalDistribution`` / ``IntDistribution`` / ``FloatDistribution``).

``Hyperparameter(name, type, ...)`` builds the class of ``type`` (``categorical``, ``ordinal``, ``int``,
``float``); each class samples, scales to [0, 1], checks membership, validates its own definition and
writes its columns of the surrogate's input (Quick-Tune, Arango et al. ICLR 2024, §4 and App. C:
one-hot for categoricals, numerics in [0, 1] on the log scale where ``log``, ordinals by rank; an
inactive value is the sentinel ``-1`` (all zeros for a one-hot block) plus an "inactive" column).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hf_quicktune.errors import SpaceError

TYPES = ("categorical", "ordinal", "int", "float")
INACTIVE_SENTINEL = -1.0


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


def plain(value: Any) -> Any:
    """JSON-friendly copy (tuples -> lists, numpy scalars -> python)."""
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass
class Hyperparameter:
    """One dimension of a :class:`Space`; ``Hyperparameter(name, type, ...)`` returns the subclass of ``type``."""

    name: str
    type: str
    choices: list[Any] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    when: dict[str, list[Any]] = field(default_factory=dict)
    optional: bool = False

    def __new__(cls, *args: Any, **kwargs: Any) -> Hyperparameter:
        if cls is Hyperparameter:
            typ = args[1] if len(args) > 1 else kwargs.get("type")
            cls = _BY_TYPE.get(typ, cls)
        return super().__new__(cls)

    @property
    def conditional(self) -> bool:
        """True when the value may be inactive (a ``when`` condition, or ``optional``)."""
        return bool(self.when) or self.optional

    @property
    def value_width(self) -> int:
        """Encoded columns of the value (without the inactive flag)."""
        return 1

    @property
    def width(self) -> int:
        """Number of encoded columns."""
        return self.value_width + (1 if self.conditional else 0)

    def accepts_none(self) -> bool:
        """Whether None is a value of its own (not "inactive")."""
        return False

    def column_names(self) -> list[str]:
        return [self.name]

    def encode_value(self, row: np.ndarray, col: int, value: Any) -> None:
        """Write an active ``value`` into ``row[col : col + value_width]``."""
        row[col] = self.scale(value)

    def encode_inactive(self, row: np.ndarray, col: int) -> None:
        row[col] = INACTIVE_SENTINEL

    def decode_value(self, block: np.ndarray) -> Any:
        return self.unscale(block[0])

    def sample(self, rng: np.random.Generator) -> Any:
        raise SpaceError(f"hyperparameter {self.name!r} has unknown type {self.type!r}; use one of {', '.join(TYPES)}.")

    def scale(self, value: Any) -> float:
        """Value -> [0, 1] (ordinals by rank, numerics on the log scale where ``log``)."""
        raise SpaceError(f"{self.type} hyperparameter {self.name!r} has no scale")

    def unscale(self, u: float) -> Any:
        raise SpaceError(f"{self.type} hyperparameter {self.name!r} has no scale")

    def contains(self, value: Any) -> bool:
        raise NotImplementedError

    def check(self, source: str) -> None:
        """Raise SpaceError naming ``source`` when the definition is inconsistent (and normalise it)."""
        raise SpaceError(f"{source}: hyperparameters.{self.name}.type is {self.type!r}; use one of {', '.join(TYPES)}.")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type}
        if self.choices is not None:
            d["choices"] = plain(self.choices)
        if self.low is not None:
            d["low"], d["high"] = self.low, self.high
        if self.log:
            d["log"] = True
        if self.when:
            d["when"] = {k: plain(v) for k, v in self.when.items()}
        if self.optional:
            d["optional"] = True
        return d


class _Choices(Hyperparameter):
    """A finite list of ``choices``."""

    def sample(self, rng: np.random.Generator) -> Any:
        return plain(self.choices[int(rng.integers(len(self.choices)))])  # type: ignore[index, arg-type]

    def contains(self, value: Any) -> bool:
        return canonical(value) in {canonical(c) for c in self.choices or []}

    def check(self, source: str) -> None:
        where = f"{source}: hyperparameters.{self.name}"
        if not isinstance(self.choices, list):
            raise SpaceError(f"{where}.choices must be a list for type {self.type}.")
        if self.low is not None or self.high is not None:
            raise SpaceError(f"{where}: low/high are for int/float; a {self.type} takes 'choices' only.")
        if len({canonical(c) for c in self.choices}) != len(self.choices):
            raise SpaceError(f"{where}.choices has duplicates: {self.choices}.")


class Categorical(_Choices):
    """Unordered choices, one-hot encoded."""

    @property
    def value_width(self) -> int:
        return len(self.choices or [])

    def accepts_none(self) -> bool:
        return None in (self.choices or [])

    def column_names(self) -> list[str]:
        return [f"{self.name}={c!r}" for c in self.choices or []]

    def _lookup(self) -> dict[Any, int]:
        """{canonical choice: column}, cached while ``choices`` is the same list object."""
        cache = self.__dict__.get("_lookup_cache")
        if cache is None or cache[0] is not self.choices:
            cache = (self.choices, {canonical(c): i for i, c in enumerate(self.choices or [])})
            self.__dict__["_lookup_cache"] = cache
        return cache[1]

    def encode_value(self, row: np.ndarray, col: int, value: Any) -> None:
        lookup = self._lookup()
        key = canonical(value)
        if key not in lookup:
            raise SpaceError(f"{self.name!r}={value!r} is not one of the choices {self.choices}; "
                             "use a value of the space or add it to the space file.")
        row[col + lookup[key]] = 1.0

    def encode_inactive(self, row: np.ndarray, col: int) -> None:
        pass  # an all-zero one-hot block

    def decode_value(self, block: np.ndarray) -> Any:
        return plain(self.choices[int(np.argmax(block))])  # type: ignore[index]

    def check(self, source: str) -> None:
        super().check(source)
        if self.conditional and None in (self.choices or []):
            raise SpaceError(f"{source}: hyperparameters.{self.name}: a conditional/optional categorical cannot list "
                             "null as a choice (None means inactive); use a string such as 'none'.")


class Ordinal(_Choices):
    """Ordered numeric choices, encoded by rank in [0, 1]."""

    def scale(self, value: Any) -> float:
        choices = self.choices or []
        if len(choices) == 1:
            return 0.0
        idx = int(np.argmin([abs(float(c) - float(value)) for c in choices]))
        return idx / (len(choices) - 1)

    def unscale(self, u: float) -> Any:
        u = float(min(max(u, 0.0), 1.0))
        return plain(self.choices[int(round(u * (len(self.choices) - 1)))])  # type: ignore[index, arg-type]

    def check(self, source: str) -> None:
        super().check(source)
        where = f"{source}: hyperparameters.{self.name}"
        if not self.choices:
            raise SpaceError(f"{where}.choices is empty; list at least one value.")
        if not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in self.choices):
            raise SpaceError(f"{where}.choices must be numbers for an ordinal (got {self.choices}); "
                             "in YAML write exponents with a dot, e.g. 1.0e-5, or use type categorical.")
        self.choices = sorted(self.choices)


class _Range(Hyperparameter):
    """A numeric range ``[low, high]``, on the log scale where ``log``."""

    @property
    def bounds(self) -> tuple[float, float]:
        """``(low, high)`` as floats (:meth:`check` validated them when the space was built)."""
        if self.low is None or self.high is None:
            raise SpaceError(f"hyperparameters.{self.name}: a {self.type} range needs low and high.")
        return float(self.low), float(self.high)

    def _draw(self, rng: np.random.Generator) -> float:
        lo, hi = self.bounds
        return math.exp(rng.uniform(math.log(lo), math.log(hi))) if self.log else float(rng.uniform(lo, hi))

    def _unscaled(self, u: float) -> float:
        u = float(min(max(u, 0.0), 1.0))
        lo, hi = self.bounds
        return math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))) if self.log else lo + u * (hi - lo)

    def scale(self, value: Any) -> float:
        (lo, hi), v = self.bounds, float(value)
        if self.log:
            lo, hi, v = math.log(lo), math.log(hi), math.log(max(v, lo))
        return 0.0 if hi == lo else float(min(max((v - lo) / (hi - lo), 0.0), 1.0))

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            return False
        lo, hi = self.bounds
        eps = 1e-9 * max(1.0, abs(hi))
        return lo - eps <= float(value) <= hi + eps

    def check(self, source: str) -> None:
        where = f"{source}: hyperparameters.{self.name}"
        if self.choices is not None:
            raise SpaceError(f"{where}: 'choices' is for categorical/ordinal; a {self.type} takes low/high.")
        for key in ("low", "high"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise SpaceError(f"{where}.{key} must be a number (got {v!r}); in YAML write 1.0e-5, not 1e-5.")
        if self.low > self.high:  # type: ignore[operator]
            raise SpaceError(f"{where}: low ({self.low}) is above high ({self.high}).")
        if self.log and self.low <= 0:  # type: ignore[operator]
            raise SpaceError(f"{where}: log scale needs low > 0 (got {self.low}); use log: false or a positive low.")


class Float(_Range):
    """A real number in ``[low, high]``."""

    def sample(self, rng: np.random.Generator) -> Any:
        return float(self._draw(rng))

    def unscale(self, u: float) -> Any:
        return float(self._unscaled(u))


class Int(_Range):
    """An integer in ``[low, high]`` (sampled on the continuous range, then rounded)."""

    def _round(self, v: float) -> int:
        lo, hi = self.bounds
        return int(min(max(round(v), int(lo)), int(hi)))

    def sample(self, rng: np.random.Generator) -> Any:
        return self._round(self._draw(rng))

    def unscale(self, u: float) -> Any:
        return self._round(self._unscaled(u))

    def contains(self, value: Any) -> bool:
        return super().contains(value) and float(value).is_integer()

    def check(self, source: str) -> None:
        super().check(source)
        if not (float(self.low).is_integer() and float(self.high).is_integer()):  # type: ignore[arg-type]
            raise SpaceError(f"{source}: hyperparameters.{self.name}: int bounds must be integers "
                             f"(got {self.low}, {self.high}).")


_BY_TYPE: dict[Any, type[Hyperparameter]] = {"categorical": Categorical, "ordinal": Ordinal, "int": Int,
                                             "float": Float}
