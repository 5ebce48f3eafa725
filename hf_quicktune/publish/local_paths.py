"""Nothing published names a path of the user's machine.

A local dataset (a CSV, parquet or JSON file, an image folder) is named by its file or folder name,
marked local: ``digits.csv (local file)`` in prose, ``local:digits.csv`` in settings. The run's
output directory, a local search space, recipe or prior likewise keep only their names.
:func:`scrub_text_files` is the last line of defence: it rewrites any remaining occurrence of the
run's absolute paths in the export's text files (and logs it, since it means a writer leaked one).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = (".json", ".jsonl", ".md", ".csv", ".txt", ".yaml", ".yml")


def is_local_path(value: Any) -> bool:
    """A string that names a file or folder of this machine (not a Hub id, not ``builtin:``)."""
    if not isinstance(value, str) or not value or value.startswith("builtin:") or "://" in value:
        return False
    expanded = os.path.expanduser(value)
    if os.path.isabs(expanded) or value.startswith(("./", "../", "~")):
        return True
    return Path(expanded).exists()  # a relative file or folder name (a Hub id is not a local path)


def public_dataset(spec: str) -> tuple[str, bool]:
    """(name to publish, is local). Hub ids and ``builtin:`` names are public as they are."""
    if is_local_path(spec):
        return Path(os.path.expanduser(spec).rstrip("/\\")).name or "dataset", True
    return spec, False


def public_value(value: Any) -> Any:
    """``value`` with local paths replaced by ``local:<name>`` (recursively in lists and dicts)."""
    if isinstance(value, Mapping):
        return {k: public_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [public_value(v) for v in value]
    if is_local_path(value):
        return f"local:{Path(os.path.expanduser(value).rstrip('/')).name}"
    return value


def public_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The run's settings as published: every local path reduced to its name; no output directory."""
    out = public_value(dict(settings))
    if settings.get("output_dir"):
        out["output_dir"] = f"local:{Path(str(settings['output_dir'])).name}"
    return out


def local_roots(paths: Iterable[Any]) -> list[str]:
    """Absolute forms (as given and resolved) of the local paths among ``paths``, longest first."""
    found: set[str] = set()
    for p in paths:
        if not p or not is_local_path(str(p)):
            continue
        path = Path(os.path.expanduser(str(p)))
        for form in (path.absolute(), path.resolve()):
            text = str(form).rstrip("/")
            if len(text) > 1:
                found.add(text)
    home = str(Path.home())
    if len(home) > 1:
        found.add(home)
    return sorted(found, key=len, reverse=True)


def scrub_text_files(directory: Path, roots: list[str]) -> list[Path]:
    """Replace each root in the text files under ``directory`` by its last component (home by ``~``).
    Returns the files that had to be changed."""
    home = str(Path.home())
    changed = []
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in TEXT_SUFFIXES:
            continue
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        new = text
        for root in roots:
            new = new.replace(root, "~" if root == home else f"local:{Path(root).name}")
        if new != text:
            path.write_text(new, encoding="utf-8", errors="surrogateescape")
            changed.append(path)
            logger.warning("removed a local path from %s before publishing", path.name)
    return changed
