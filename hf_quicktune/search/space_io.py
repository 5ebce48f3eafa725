"""Reading and writing :class:`~hf_quicktune.search.space.Space` objects: the YAML / dict layout
(``recipes/spaces/*.yaml``, the ``order`` key written by :func:`space_to_dict`) and the inference of a
space from the configurations of a finite pool (a tabular benchmark)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hf_quicktune.errors import SpaceError
from hf_quicktune.search.distributions import TYPES, Hyperparameter, canonical, plain

if TYPE_CHECKING:
    from hf_quicktune.search.space import Space

KNOWN_KEYS = {"type", "choices", "low", "high", "log", "when", "optional", "help"}


def parse_hp(name: str, spec: Any, source: str) -> Hyperparameter:
    """One ``hyperparameters.NAME`` entry -> its :class:`Hyperparameter` (validated; errors name ``source``)."""
    where = f"{source}: hyperparameters.{name}"
    if not isinstance(spec, dict):
        raise SpaceError(f"{where} must be a mapping like {{type: float, low: 0.0, high: 1.0}}, got {spec!r}.")
    unknown = set(spec) - KNOWN_KEYS
    if unknown:
        raise SpaceError(f"{where} has unknown keys {sorted(unknown)}; allowed: {sorted(KNOWN_KEYS)}.")
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
    hp.check(source)
    return hp


def space_from_dict(cls: type[Space], data: dict[str, Any], source: str = "<dict>") -> Space:
    if not isinstance(data, dict) or not isinstance(data.get("hyperparameters"), dict):
        raise SpaceError(
            f"{source}: expected a mapping with a 'hyperparameters' mapping "
            "(name -> {type: ..., ...}); see recipes/spaces/quicktune.yaml for an example."
        )
    specs = data["hyperparameters"]
    order = data.get("order")  # written by space_to_dict: JSON writers may sort the mapping's keys
    if isinstance(order, list) and sorted(order) == sorted(specs):
        specs = {k: specs[k] for k in order}
    hps = [parse_hp(name, spec, source) for name, spec in specs.items()]
    return cls(hps, name=str(data.get("name", Path(source).stem if source != "<dict>" else "space")), source=source)


def space_from_yaml(cls: type[Space], path: str | Path) -> Space:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise SpaceError(f"search space file {str(path)!r} does not exist; pass a path to a YAML file "
                         "such as recipes/spaces/quicktune.yaml.")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise SpaceError(f"{path}: is not valid YAML ({e}); fix the syntax.") from e
    return space_from_dict(cls, data, source=str(path))


def space_to_dict(space: Space) -> dict[str, Any]:
    return {"name": space.name, "order": list(space.hps),
            "hyperparameters": {n: hp.to_dict() for n, hp in space.hps.items()}}


def infer_hyperparameters(pool: Sequence[dict[str, Any]]) -> list[Hyperparameter]:
    """Hyperparameters of a finite pool: booleans and strings become categoricals; numerics with at most 12
    distinct values ordinals, others int/float (log when positive and spanning > 2 decades); keys that are
    sometimes None become ``optional``."""
    keys: list[str] = []
    for c in pool:
        for k in c:
            if k not in keys:
                keys.append(k)
    hps: list[Hyperparameter] = []
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
            first: dict[Any, Any] = {}
            for v in present:
                first.setdefault(canonical(v), plain(v))
            hps.append(Hyperparameter(k, "categorical", choices=list(first.values()), optional=optional))
    return hps
