"""A contact sheet of a dataset's images, a row per class (``hf-quicktune data inspect --samples grid.png``).

Looking at the images is the first check a practitioner makes of a dataset: that the classes are what their
names say, that a table of pixels was read the right way round (channels, rows), that scans were stretched to
a visible range. The images come decoded as training decodes them (``data.sampling.images_per_class``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hf_quicktune.report import pyplot, save_figure

#: images shown per class, and classes shown (above it, the most frequent ones: said in the title)
PER_CLASS = 8
MAX_CLASSES = 20


def plot_samples(images: Mapping[str, Sequence[Any]], path: str | Path, *, title: str = "Training images",
                 classes: int | None = None) -> Path:
    """Draw each class's PIL ``images`` (class name -> images) as a row of a grid into ``path``; ``classes``: how
    many the dataset has, when more than are drawn (said in the title)."""
    if classes and classes > len(images):
        title += f" ({len(images)} of {classes} classes: the most frequent)"
    plt = pyplot()
    rows, cols = len(images), max(len(v) for v in images.values())
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols + 1.6, 1.3 * rows + 0.6), dpi=100, squeeze=False)
    for r, (name, row) in enumerate(images.items()):
        for c in range(cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if c < len(row):
                ax.imshow(np.asarray(row[c]), interpolation="nearest" if max(row[c].size) < 64 else "antialiased")
        axes[r][0].set_ylabel(str(name), rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
