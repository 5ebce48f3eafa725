"""Segmentation masks shipped beside a classification set's images, left out of its classes.

Medical and industrial sets are often published for both tasks: the COVID-19 Radiography set's class folders hold
``images/`` and ``masks/``, BUSI's breast ultrasounds lie beside their ``benign (1)_mask.png`` (other sets name
them ``_seg``, ``_segmentation``, ``_gt``), Kvasir-SEG's beside ``masks/``. Read as torchvision's ImageFolder reads them, every mask is one more "image" of its class (half the
dataset: outlines, not pictures, scored as the class).
"""

from __future__ import annotations

import re

#: folder names (lower case) under a class folder that hold masks, not pictures
MASK_FOLDERS = frozenset({"mask", "masks", "segmentation", "segmentations", "groundtruth", "ground_truth", "gt"})
#: a mask's file name beside its image: ``benign (1)_mask.png``, BUSI's second mask ``benign (4)_mask_1.png``,
#: ``ISIC_0000000_segmentation.png``, ``case_12_seg.png``, ``scan_gt.png``
_MASK_NAME = re.compile(r"^(?P<image>.+?)[_-](?:mask|seg|segmentation|gt|groundtruth|ground_truth)(?:[_-]?\d+)?$",
                        re.IGNORECASE)


def mask_rows(relative: list[str]) -> list[int]:
    """The rows of ``relative`` (image paths below a split's root, ``CLASS/.../NAME.EXT``) that are masks: in a
    :data:`MASK_FOLDERS` folder below the class folder, or named as a mask of an image beside it (the image's
    name + ``_mask``, ``_seg``, ``_segmentation`` or ``_gt``, with or without a number)."""
    out: list[int] = []
    named: list[tuple[int, list[str], str]] = []  # rows named like a mask: one if its image lies beside it
    for row, rel in enumerate(relative):
        parts = rel.split("/")
        if len(parts) > 2 and any(part.lower() in MASK_FOLDERS for part in parts[1:-1]):
            out.append(row)
            continue
        match = _MASK_NAME.match(parts[-1].rsplit(".", 1)[0])
        if match:
            named.append((row, parts, match.group("image")))
    if named:  # every image's name is looked at only where some file is named like a mask
        present = {rel.rsplit(".", 1)[0].lower() for rel in relative}
        out += [row for row, parts, image in named if "/".join([*parts[:-1], image]).lower() in present]
    return sorted(out)


#: folder names (lower case) of the pictures beside a ``masks/`` folder in a segmentation set (Kvasir-SEG's)
_PICTURE_FOLDERS = frozenset({"image", "images", "img", "imgs", "original", "originals", "input", "inputs"})


def segmentation_layout(classes: list[str]) -> bool:
    """Whether an ImageFolder's top folders (its would-be ``classes``) are a segmentation set's pictures and masks
    (Kvasir-SEG's ``images/`` and ``masks/``), not classes."""
    names = {c.lower() for c in classes}
    return bool(names & MASK_FOLDERS) and bool(names - MASK_FOLDERS) and names - MASK_FOLDERS <= _PICTURE_FOLDERS
