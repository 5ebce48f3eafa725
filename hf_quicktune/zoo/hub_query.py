"""Hub-query zoos: ``hub:library=timm,pipeline_tag=image-classification,sort=downloads,limit=30,max_params=50M``.

Answered by ``HfApi.list_models``; parameter counts come from the safetensors metadata the Hub
computes from the weight headers (models without it are skipped when a size bound is given).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from hf_quicktune.errors import ZooError
from hf_quicktune.zoo.candidate import Candidate

logger = logging.getLogger(__name__)

QUERY_KEYS = ("library", "pipeline_tag", "sort", "limit", "max_params", "min_params", "search", "author", "filter")
_SCALE = {"": 1, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9}
EXAMPLE = "hub:library=timm,pipeline_tag=image-classification,sort=downloads,limit=30,max_params=50M"


def parse_count(text: str, key: str = "max_params") -> int:
    """``50M`` -> 50_000_000, ``1.5B``, ``800k``, ``12345``."""
    m = re.fullmatch(r"\s*([\d.]+)\s*([kKmMbBgG]?)\s*", str(text))
    if not m:
        raise ZooError(f"Invalid {key} value {text!r} in the Hub query; use a count such as 50M, 800K or 1.5B.")
    return int(float(m.group(1)) * _SCALE[m.group(2).upper()])


def parse_query(spec: str) -> dict[str, Any]:
    """Parse ``hub:k=v,k=v`` into typed options; unknown keys are errors naming the key."""
    body = spec.split(":", 1)[1] if spec.startswith("hub:") else spec
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in body.split(","))):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not value:
            raise ZooError(f"Invalid Hub query part {part!r} in {spec!r}: expected key=value, e.g. {EXAMPLE}.")
        if key not in QUERY_KEYS:
            raise ZooError(f"Unknown Hub query key '{key}' in {spec!r}; allowed keys: {', '.join(QUERY_KEYS)}.")
        if key in ("max_params", "min_params"):
            out[key] = parse_count(value, key)
        elif key == "limit":
            if not value.isdigit() or int(value) < 1:
                raise ZooError(f"Invalid limit {value!r} in the Hub query; use a positive integer.")
            out[key] = int(value)
        elif key == "filter":
            out[key] = [t for t in value.split("+") if t]
        else:
            out[key] = value
    out.setdefault("library", "timm")
    out.setdefault("pipeline_tag", "image-classification")
    out.setdefault("limit", 30)
    if out["library"] not in ("timm", "transformers"):
        raise ZooError(f"library={out['library']} is not supported in a Hub query; use library=timm or library=transformers.")
    return out


def _license(info: Any) -> str | None:
    card = getattr(info, "card_data", None)
    if card is not None:
        value = card.get("license") if hasattr(card, "get") else getattr(card, "license", None)
        if value:
            return str(value)
    for tag in getattr(info, "tags", None) or []:
        if tag.startswith("license:"):
            return tag.split(":", 1)[1]
    return None


def apply_transformers_size(cand: Candidate, config: Mapping[str, Any]) -> Candidate:
    """A transformers model's input size from its ``config.json`` (``image_size``, ``num_channels``): what it was
    built for, which a ``preprocessor_config.json`` read after may refine."""
    size, channels = config.get("image_size"), config.get("num_channels", 3)
    if isinstance(size, list | tuple) and len(size) == 2:
        size = size[0] if size[0] == size[1] else None
    if isinstance(size, int) and size > 0 and isinstance(channels, int):
        cand.input_size = (channels, size, size)
    return cand


def apply_model_config(cand: Candidate, config: Mapping[str, Any]) -> Candidate:
    """Fill ``cand`` from its repo's ``config.json``: timm's ``architecture`` and the preprocessing of its
    ``pretrained_cfg`` (input size, mean, std, interpolation, crop), or a transformers model's class name."""
    arch = config.get("architecture") or (config.get("architectures") or [None])[0]
    if arch:
        cand.architecture = str(arch)
    pcfg = config.get("pretrained_cfg") or {}
    for key in ("input_size", "mean", "std"):
        if isinstance(pcfg.get(key), list | tuple):
            setattr(cand, key, tuple(pcfg[key]))
    if pcfg.get("interpolation"):
        cand.interpolation = pcfg["interpolation"]
    if isinstance(pcfg.get("crop_pct"), int | float):
        cand.crop_pct = float(pcfg["crop_pct"])
    return cand


def fill_from_hub(cand: Candidate) -> Candidate:
    """An ``hf-hub:org/name`` candidate named by its repo alone, filled from the repo's ``config.json`` (from the
    Hub, or the local cache offline): its architecture and preprocessing, and ``library`` transformers for a
    transformers model (a ``config.json`` with ``architectures`` and no timm ``architecture``). Without
    it the candidate would be ranked and trained with ImageNet's 224 px preprocessing whatever the model
    was pretrained with. Unchanged when the file cannot be read (the weights' download then says why)."""
    from huggingface_hub import try_to_load_from_cache

    from hf_quicktune import hub
    from hf_quicktune.constants import hub_reachable

    def read(filename: str) -> dict[str, Any] | None:
        try:
            if hub_reachable():
                path = str(hub.download(str(cand.hub_id), filename, cls=ZooError, retries=1))
            else:
                found = try_to_load_from_cache(str(cand.hub_id), filename)
                if not isinstance(found, str):
                    return None
                path = found
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (ZooError, OSError, ValueError) as err:
            logger.debug("no %s for %s (%s)", filename, cand.name, err)
            return None
        return data if isinstance(data, dict) else None

    config = read("config.json") if cand.hub_id else None
    if config is None:
        return cand
    return apply_repo_config(cand, config, lambda: read("preprocessor_config.json"))


def apply_repo_config(cand: Candidate, config: Mapping[str, Any],
                      read_processor: Callable[[], Mapping[str, Any] | None]) -> Candidate:
    """Fill ``cand`` from a model repo's or folder's ``config.json``: a transformers model (``architectures`` and
    no timm ``architecture``) is ``library`` transformers, its input size from the config refined by its
    ``preprocessor_config.json`` (``read_processor()``, read only for one); a timm model's architecture and
    ``pretrained_cfg`` (:func:`apply_model_config`)."""
    if "architecture" not in config and config.get("architectures"):
        cand.library = "transformers"
        apply_transformers_size(cand, config)
        apply_processor_config(cand, read_processor() or {})
    return apply_model_config(cand, config)


def apply_processor_config(cand: Candidate, processor: Mapping[str, Any]) -> Candidate:
    """Fill ``cand``'s preprocessing from a transformers ``preprocessor_config.json``: mean, std, resampling,
    and the input size (``crop_size``, else ``size``) with the crop (``size.shortest_edge`` above the crop;
    none when the processor resizes straight to the size, as ViT's does)."""
    for key, attr in (("image_mean", "mean"), ("image_std", "std")):
        if isinstance(processor.get(key), list | tuple) and len(processor[key]) == 3:
            setattr(cand, attr, tuple(float(v) for v in processor[key]))
    from hf_quicktune.zoo.transformers_adapter import PIL_RESAMPLE

    resample = processor.get("resample")
    interpolation = next((name for name, code in PIL_RESAMPLE.items() if code == resample), None)
    if interpolation:
        cand.interpolation = interpolation

    def side(value: Any) -> int | None:
        if isinstance(value, int):
            return value
        if isinstance(value, Mapping):
            found = value.get("height") or value.get("shortest_edge")
            return int(found) if isinstance(found, int | float) else None
        return None

    size, crop = side(processor.get("size")), side(processor.get("crop_size")) if processor.get("do_center_crop") else None
    if crop and size and size >= crop:
        cand.input_size, cand.crop_pct = (3, crop, crop), crop / size
    elif size:
        cand.input_size, cand.crop_pct = (3, size, size), 1.0
    return cand


def candidate_from_info(info: Any) -> Candidate:
    """A Candidate from a ``ModelInfo`` (list_models/model_info with safetensors + config)."""
    from hf_quicktune.zoo.availability import weights_status

    st = getattr(info, "safetensors", None)
    library = getattr(info, "library_name", None) or "timm"
    config = getattr(info, "config", None) or {}
    cand = Candidate(name=f"hf-hub:{info.id}", architecture=info.id.rsplit("/", 1)[-1], source="hf-hub",
                     library=library, hub_id=info.id, num_params=int(st.total) if st is not None else None,
                     license=_license(info), pretraining="hub")
    apply_model_config(cand, config)
    cand.extra["has_safetensors"] = st is not None
    cand.weights = weights_status(cand)
    return cand


def query_zoo(spec: str, api: Any = None) -> list[Candidate]:
    """Run a Hub query zoo; the result is ordered as the Hub sorted it."""
    from huggingface_hub import HfApi

    from hf_quicktune.constants import hub_reachable

    q = parse_query(spec)
    if api is None and not hub_reachable():
        raise ZooError(
            f"The Hub query zoo {spec!r} needs the Hub, which cannot be reached (offline mode or no connection). "
            "Use a curated zoo (--zoo offline works without network), or connect and retry."
        )
    api = api or HfApi()
    bounds = []
    if "min_params" in q:
        bounds.append(f"min:{q['min_params']}")
    if "max_params" in q:
        bounds.append(f"max:{q['max_params']}")
    kwargs: dict[str, Any] = {
        "filter": [q["library"], *q.get("filter", [])],
        "pipeline_tag": q["pipeline_tag"],
        "limit": q["limit"],
        "expand": ["safetensors", "library_name", "pipeline_tag", "config", "cardData", "tags", "downloads"],
    }
    for key in ("sort", "search", "author"):
        if key in q:
            kwargs[key] = q[key]
    if bounds:
        kwargs["num_parameters"] = ",".join(bounds)
    from hf_quicktune import hub

    infos = hub.call(lambda: list(api.list_models(**kwargs)), repo_id=None, action=f"run the Hub query {spec!r} on",
                     cls=ZooError, fix="Check the query keys, or use a curated zoo (--zoo offline works offline).")
    out = []
    for info in infos:
        if getattr(info, "library_name", None) not in (None, q["library"]):
            continue
        cand = candidate_from_info(info)
        if bounds and cand.num_params is None:
            logger.warning("skipping %s: the Hub reports no safetensors parameter count to check the size bound", info.id)
            continue
        if cand.num_params is not None and not (q.get("min_params", 0) <= cand.num_params <= q.get("max_params", float("inf"))):
            continue
        out.append(cand)
    if not out:
        raise ZooError(f"The Hub query {spec!r} matched no model. Loosen it (e.g. a larger max_params or limit).")
    return out
