"""Repository cards (README.md YAML front matter): parsing, validation and the tags the Hub derives.

The Hub indexes a repo by the metadata of its card: ``library_name``, ``pipeline_tag``, ``tags``,
``license``, ``datasets``, ``language``... and adds computed tags (``license:x``, ``dataset:x``,
file formats). ``POST /api/validate-yaml`` rejects metadata that the Hub would refuse; the checks
here are the ones that matter to a client (types of the common fields, known licenses and tasks),
not the Hub's complete JSON schema.
"""

from __future__ import annotations

from typing import Any

import yaml

KNOWN_LICENSES = frozenset(
    """apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0
    bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear
    c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0
    cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0
    cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0 cdla-permissive-1.0 cdla-permissive-2.0 wtfpl
    ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl
    lgpl-2.1 lgpl-3.0 isc h-research intel-research lppl-1.3c ms-pl apple-ascl apple-amlr mpl-2.0
    odc-by odbl openmdw-1.0 openrail++ osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib pddl
    lgpl-lr deepfloyd-if-license fair-noncommercial-research-license llama2 llama3 llama3.1
    llama3.2 llama3.3 llama4 gemma unknown other""".split()
)

KNOWN_PIPELINE_TAGS = frozenset(
    """text-classification token-classification table-question-answering question-answering
    zero-shot-classification translation summarization feature-extraction text-generation
    fill-mask sentence-similarity text-to-speech text-to-audio automatic-speech-recognition
    audio-to-audio audio-classification voice-activity-detection depth-estimation
    image-classification object-detection image-segmentation text-to-image image-to-text
    image-to-image image-to-video unconditional-image-generation video-classification
    reinforcement-learning robotics tabular-classification tabular-regression tabular-to-text
    table-to-text multiple-choice text-ranking text-retrieval time-series-forecasting
    text-to-video image-text-to-text visual-question-answering document-question-answering
    zero-shot-image-classification graph-ml mask-generation zero-shot-object-detection
    text-to-3d image-to-3d image-feature-extraction video-text-to-text keypoint-detection
    visual-document-retrieval any-to-any video-to-video other""".split()
)

_LIST_OF_STRINGS_FIELDS = ("tags", "datasets", "language", "metrics", "base_model")


class CardError(ValueError):
    """Metadata the Hub would reject."""


def split_front_matter(text: str) -> tuple[str | None, str]:
    """Return (YAML block or None, body) of a card whose first line is ``---``."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return None, text
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return "".join(lines[1:i]), "".join(lines[i + 1 :])
    return None, text


def parse_card_data(text: str) -> dict[str, Any]:
    """Card metadata as a dict; ``{}`` when the card has no (or unreadable) front matter."""
    block, _ = split_front_matter(text)
    if block is None:
        return {}
    try:
        data = yaml.safe_load(block)
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def validate_card(text: str, repo_type: str) -> tuple[list[str], list[str]]:
    """Errors and warnings for a card, as ``POST /api/validate-yaml`` reports them."""
    block, _ = split_front_matter(text)
    if block is None or not block.strip():
        return [], ["Empty metadata: the card has no YAML front matter"]
    try:
        data = yaml.safe_load(block)
    except yaml.YAMLError as exc:
        return [f"Invalid YAML: {exc}"], []
    if data is None:
        return [], ["Empty metadata: the card has no YAML front matter"]
    if not isinstance(data, dict):
        return [f"Metadata must be a YAML mapping, got {type(data).__name__}"], []
    errors: list[str] = []
    for key in _LIST_OF_STRINGS_FIELDS:
        value = data.get(key)
        if value is None or isinstance(value, str):
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            errors.append(f'"{key}" must be a string or an array of strings')
    licenses = data.get("license")
    for lic in [licenses] if isinstance(licenses, str) else licenses or []:
        if not isinstance(lic, str) or lic.lower() not in KNOWN_LICENSES:
            errors.append(f'"license" must be one of the Hub\'s license identifiers, got {lic!r}')
    if repo_type == "model":
        tag = data.get("pipeline_tag")
        if tag is not None and tag not in KNOWN_PIPELINE_TAGS:
            errors.append(f'"pipeline_tag" must be a known task, got {tag!r}')
        if data.get("library_name") is not None and not isinstance(data["library_name"], str):
            errors.append('"library_name" must be a string')
        errors.extend(_validate_model_index(data.get("model-index")))
    if repo_type == "dataset":
        for key in ("task_categories", "size_categories", "task_ids"):
            value = data.get(key)
            if value is not None and not (
                isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
            ):
                errors.append(f'"{key}" must be a string or an array of strings')
        if data.get("configs") is not None and not isinstance(data["configs"], list):
            errors.append('"configs" must be an array')
    return errors, []


def _validate_model_index(index: Any) -> list[str]:
    if index is None:
        return []
    if not isinstance(index, list):
        return ['"model-index" must be an array']
    errors = []
    for item in index:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            errors.append('"model-index[].name" is required and must be a string')
            continue
        for result in item.get("results", []):
            if not isinstance(result, dict) or not isinstance(result.get("task"), dict) or "type" not in result["task"]:
                errors.append('"model-index[].results[].task.type" is required')
                continue
            dataset = result.get("dataset")
            if not isinstance(dataset, dict) or "type" not in dataset or "name" not in dataset:
                errors.append('"model-index[].results[].dataset" needs "type" and "name"')
            for metric in result.get("metrics", []):
                if not isinstance(metric, dict) or "type" not in metric or "value" not in metric:
                    errors.append('"model-index[].results[].metrics[]" needs "type" and "value"')
    return errors


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return []


def derive_tags(repo_type: str, card: dict[str, Any], files: list[str], library_name: str | None,
                pipeline_tag: str | None) -> list[str]:
    """The Hub's ``tags`` of a repo: card tags plus the ones it computes from metadata and files."""
    tags: list[str] = []

    def add(tag: str) -> None:
        if tag and tag not in tags:
            tags.append(tag)

    if library_name:
        add(library_name)
    if repo_type == "model":
        if any(f.endswith(".safetensors") for f in files):
            add("safetensors")
        if any(f.endswith((".bin", ".pt", ".pth")) for f in files):
            add("pytorch")
    if pipeline_tag:
        add(pipeline_tag)
    for tag in _as_list(card.get("tags")):
        add(tag)
    if repo_type == "dataset":
        for task in _as_list(card.get("task_categories")):
            add(f"task_categories:{task}")
        for size in _as_list(card.get("size_categories")):
            add(f"size_categories:{size}")
        if any(f.endswith(".parquet") for f in files):
            add("format:parquet")
        if card.get("dataset_info") or card.get("configs"):
            add("library:datasets")
    for dataset in _as_list(card.get("datasets")):
        add(f"dataset:{dataset}")
    for base in _as_list(card.get("base_model")):
        add(f"base_model:{base}")
    for lang in _as_list(card.get("language")):
        add(lang if repo_type == "model" else f"language:{lang}")
    for lic in _as_list(card.get("license")):
        add(f"license:{lic}")
    add("region:us")
    return tags
