"""Plots and tables shared by run, bench, rank and publish (matplotlib with the Agg backend).

One module per consumer to keep ownership clear: ``curves`` (learning curves, incumbent
over time), ``regret`` (benchmark regret plots), ``ranking`` (zero-cost score bar charts).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def share_percent(fraction: float) -> str:
    """A share in (0, 1] as a percentage for messages: ``"92 %"``; a share below 1 never reads ``"100 %"``
    (0.9953 is ``"99.5 %"``, 0.99996 ``"99.9 %"``: truncated where whole percents would round it up to 100)."""
    pct = 100.0 * float(fraction)
    if pct >= 100.0 or round(pct) < 100:
        return f"{pct:.0f} %"
    for digits in (1, 2, 3):
        scale = 10 ** digits
        down = int(pct * scale) / scale  # truncated: 99.96 -> 99.9, never up to 100
        if down < 100.0:
            return f"{down:.{digits}f} %"
    return "99.999 %"


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (imported on first use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, dpi: int | None = None) -> Path:
    """Lay out ``fig``, write it to ``path`` (creating folders), close it; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    logger.info("wrote %s", path)
    return path
