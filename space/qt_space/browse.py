"""A published hf-quicktune run, read back from its model repo: the card and the ``quicktune/`` files
(``leaderboard.json``, ``curves.json``, ``ranking.json``) the run pushed with the model."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hf_quicktune.errors import ConfigError, HubError
from hf_quicktune.report.curves import plot_learning_curves
from hf_quicktune.train.metrics import metric_label
from hf_quicktune.train.records import score_of
from qt_space.views import read_json

FILES = ["README.md", "quicktune/*.json", "plots/confusion_matrix.png"]


def fetch(repo_id: str, out_dir: Path) -> dict[str, Any]:
    """Download the card and ``quicktune/`` files of ``repo_id``; returns what the page shows.

    Keys: ``card`` (markdown), ``leaderboard`` (rows), ``curves`` (trial records), ``ranking``
    (or None), ``curves_png`` (learning curves redrawn from ``curves.json``), ``confusion_png`` (the card's
    confusion-matrix plot, or None: runs published before per-class results)."""
    repo_id = (repo_id or "").strip()
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo_id):
        raise ConfigError(f"{repo_id!r} is not a model repo id; type one of the form org/name.")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    try:
        local = Path(snapshot_download(repo_id, allow_patterns=FILES, local_dir=out_dir / repo_id.replace("/", "--")))
    except RepositoryNotFoundError:
        raise HubError(f"no model repo {repo_id!r} on the Hub (or it is private). Check the id.") from None
    except HfHubHTTPError as err:
        raise HubError(f"could not read {repo_id!r} from the Hub ({type(err).__name__}). Try again later.") from None
    leaderboard = read_json(local / "quicktune" / "leaderboard.json")
    curves = read_json(local / "quicktune" / "curves.json")
    if leaderboard is None or curves is None:
        raise ConfigError(f"{repo_id} has no quicktune/leaderboard.json and curves.json: it was not published by "
                          "hf-quicktune (`hf-quicktune run --push-to-hub`), so there is no search to show.")
    card = (local / "README.md").read_text() if (local / "README.md").exists() else ""
    incumbent = leaderboard[0]["trial_id"] if leaderboard else None
    # in the metric the run searched (its records name it; top-1 in runs published before it was recorded)
    metric = next((r["metric"] for t in curves for r in t.get("curve", []) if r.get("metric")), "top1")
    scores = {int(t["trial_id"]): [v for r in t.get("curve", []) if (v := score_of(r)) is not None] for t in curves}
    labels = {int(t["trial_id"]): (t.get("config") or {}).get("model", "") for t in curves}
    png = plot_learning_curves(scores, local / "space-plots" / "learning_curves.png", incumbent=incumbent,
                               labels=labels, metric=metric,
                               title=f"{repo_id}: validation {metric_label(metric)} per epoch")
    confusion = local / "plots" / "confusion_matrix.png"
    return {"card": card, "leaderboard": leaderboard, "curves": curves, "curves_png": str(png),
            "confusion_png": str(confusion) if confusion.is_file() else None,
            "ranking": read_json(local / "quicktune" / "ranking.json"),
            "settings": read_json(local / "quicktune" / "settings.json")}
