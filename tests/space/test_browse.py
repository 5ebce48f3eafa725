"""Browsing a published run redraws its learning curves in the metric the run searched (it drew top-1 always)."""

from __future__ import annotations

import json
import sys

import pytest

from .conftest import SPACE_DIR

sys.path.insert(0, str(SPACE_DIR))
from qt_space import browse  # noqa: E402


@pytest.mark.hub
def test_the_curves_of_a_run_that_searched_macro_f1_are_drawn_in_it(hub, tmp_path, monkeypatch):
    repo = hub.unique_repo_id("browse-metric")
    folder = tmp_path / "export"
    (folder / "quicktune").mkdir(parents=True)
    (folder / "README.md").write_text("# run\n")
    curve = [{"epoch": e, "val_top1": 0.9, "val_macro_f1": f, "metric": "macro_f1", "status": "ok"}
             for e, f in ((1, 0.3), (2, 0.5))]
    (folder / "quicktune" / "curves.json").write_text(json.dumps([{"trial_id": 0, "config": {"model": "m"},
                                                                   "curve": curve}]))
    (folder / "quicktune" / "leaderboard.json").write_text(json.dumps([{"trial_id": 0, "metric": "macro_f1"}]))
    hub.api.create_repo(repo)
    hub.api.upload_folder(folder_path=str(folder), repo_id=repo)
    drawn = {}

    def plot(scores, path, **kwargs):
        drawn.update(scores=scores, **kwargs)
        return path

    monkeypatch.setattr(browse, "plot_learning_curves", plot)
    browse.fetch(repo, tmp_path / "browse")
    assert drawn["scores"] == {0: [0.3, 0.5]} and drawn["metric"] == "macro_f1"
    assert drawn["title"].endswith("validation macro F1 per epoch")
