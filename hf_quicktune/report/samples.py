"""A contact sheet of a split's images, a row per class (``hf-quicktune data inspect --samples grid.png``).

Looking at the images is the first check a practitioner makes of a dataset: that the classes are what their
names say, that a table of pixels was read the right way round (channels, rows), that scans were stretched to
a visible range. The images are drawn as training decodes them (EXIF orientation applied, 16-bit and float
images stretched to 8 bits, every mode to RGB), at their stored size scaled to a common cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hf_quicktune.report import pyplot, save_figure

if TYPE_CHECKING:  # pragma: no cover
    import datasets

#: images shown per class, and classes shown (above it, the most frequent ones: said in the title)
PER_CLASS = 8
MAX_CLASSES = 20


def pick_rows(labels: Sequence[int], per_class: int = PER_CLASS, max_classes: int = MAX_CLASSES,
              seed: int = 0) -> dict[int, list[int]]:
    """Class id -> up to ``per_class`` row indices of it, drawn with ``seed``; the ``max_classes`` most frequent
    classes (ties by id) when there are more."""
    values = np.asarray(labels)
    ids, counts = np.unique(values, return_counts=True)
    order = sorted(zip(ids.tolist(), counts.tolist()), key=lambda t: (-t[1], t[0]))[:max_classes]
    rng = np.random.default_rng(seed)
    out = {}
    for cls, _ in sorted(order):
        rows = np.flatnonzero(values == cls)
        out[int(cls)] = sorted(rng.choice(rows, size=min(per_class, len(rows)), replace=False).tolist())
    return out


def plot_samples(split: datasets.Dataset, names: Sequence[str], path: str | Path, *, per_class: int = PER_CLASS,
                 max_classes: int = MAX_CLASSES, seed: int = 0, title: str = "Training images") -> Path:
    """Draw up to ``per_class`` images of each class of ``split`` (columns ``image`` and ``label``) into ``path``."""
    from hf_quicktune.data.columns import column_values
    from hf_quicktune.data.decoding import decode_image, undecoded
    from hf_quicktune.data.transforms import ToRGB

    rows = pick_rows(column_values(split, "label"), per_class, max_classes, seed)
    raw = undecoded(split, "image") or split
    shown = len(rows)
    if len(names) > shown:
        title += f" ({shown} of {len(names)} classes: the most frequent)"
    plt = pyplot()
    cols = max(len(r) for r in rows.values())
    fig, axes = plt.subplots(shown, cols, figsize=(1.3 * cols + 1.6, 1.3 * shown + 0.6), dpi=100, squeeze=False)
    for r, (cls, indices) in enumerate(rows.items()):
        for c in range(cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if c < len(indices):
                image = ToRGB()(decode_image(raw[indices[c]]["image"]))
                ax.imshow(np.asarray(image), interpolation="nearest" if max(image.size) < 64 else "antialiased")
        axes[r][0].set_ylabel(str(names[cls]), rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
