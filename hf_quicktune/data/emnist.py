"""EMNIST's CSVs (Kaggle's ``emnist-balanced-train.csv``, ``emnist-letters-test.csv``, ...): letters and digits
stored as MNIST is, a label and 784 pixels, but each image column by column (the NIST scans' own order), and the
labels indices into ``emnist-<split>-mapping.txt`` (``label ascii_code`` per line).

Read as MNIST is read, every letter trained on its mirror image turned a quarter (the model learns it, but a
photo of a handwritten letter, the card's samples and ``data inspect --samples`` are the other way round), and
the classes were numbers. :func:`is_emnist` tells the pixel reader to turn them upright; :func:`mapping_names`
names the classes by their characters.
"""

from __future__ import annotations

import re
from pathlib import Path

_NAME = re.compile(r"^emnist-(?P<split>[a-z]+)-(?:train|test)$", re.IGNORECASE)


def is_emnist(path: str | Path | None) -> bool:
    """Whether ``path`` is one of EMNIST's CSVs, by its name (``emnist-balanced-train.csv``)."""
    return path is not None and Path(path).suffix.lower() == ".csv" and bool(_NAME.match(Path(path).stem))


def mapping_names(path: str | Path) -> list[str] | None:
    """The class names of EMNIST's CSV ``path``: the characters of the mapping file beside it
    (``emnist-balanced-mapping.txt``: ``label ascii_code`` per line, label i named by its character; the
    lower and upper case a class merges are named by the upper case, as the file gives it), in label order; None
    where there is no such file, or its labels do not run from 0 (the letters split's 1-26 are left numbers)."""
    match = _NAME.match(Path(path).stem)
    if match is None:
        return None
    mapping = Path(path).with_name(f"emnist-{match.group('split')}-mapping.txt")
    if not mapping.is_file():
        return None
    codes: dict[int, str] = {}
    for line in mapping.read_text(encoding="utf-8", errors="replace").splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0].isdigit() and fields[1].isdigit():
            codes[int(fields[0])] = chr(int(fields[1]))
    if not codes or sorted(codes) != list(range(len(codes))):  # letters' labels start at 1: left as numbers
        return None
    return [codes[i] for i in range(len(codes))]
