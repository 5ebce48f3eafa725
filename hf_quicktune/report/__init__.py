"""Plots and tables shared by run, bench, rank and publish (matplotlib with the Agg backend).

One module per consumer to keep ownership clear: ``curves`` (learning curves, incumbent
over time), ``regret`` (benchmark regret plots), ``ranking`` (zero-cost score bar charts).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


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
