"""The Space's named API endpoints, called the way a script would: gradio_client against the running app."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from .conftest import SEARCH_ARGS, TINY

pytestmark = [pytest.mark.slow, pytest.mark.hub]


def _rows(table: dict) -> list[list]:
    return table["data"]


def test_rank_shows_the_libraries_ranking_of_every_candidate(client):
    from hf_quicktune.data import load
    from hf_quicktune.rank import rank
    from hf_quicktune.zoo import load_zoo

    table, bars, text = client.predict(TINY["dataset"], None, TINY["zoo"], TINY["image_size"], api_name="/rank")
    zoo = load_zoo("offline")
    expected = rank(load("builtin:digits"), zoo, n=100, image_size=32)  # features cached by the call above
    assert [r[1] for r in _rows(table)] == expected.order()
    assert [r[0] for r in _rows(table)] == list(range(1, len(zoo) + 1))
    assert [float(r[2]) for r in _rows(table)] == pytest.approx(
        [expected.table[n]["ensemble"] for n in expected.order()], abs=1e-3)
    assert [b[0] for b in bars["data"]] == expected.order()
    assert f"Ranked {len(zoo)} candidates" in text and "on 100 training images" in text and "10 classes" in text


def test_search_refuses_a_budget_too_small_with_what_to_do(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=r"budget of 10s is too small.*at least 30s"):
        client.predict(*SEARCH_ARGS[:3], "10s", *SEARCH_ARGS[4:], api_name="/search")


@pytest.fixture(scope="module")
def searched(client):
    """The final views of a tiny search on builtin:digits (and the run name the status shows)."""
    out = client.predict(*SEARCH_ARGS, api_name="/search")
    status = out[0]
    name = re.search(r"run `(run-[\w-]+)`", status).group(1)
    return out, name


def test_search_streams_to_a_finished_run_with_a_leaderboard(client, searched, session_tmp):
    (status, ranking, bars, board, curves, incumbent), name = searched
    assert status.startswith("**Finished**"), status
    rows = _rows(board)
    assert rows and [r[0] for r in rows] == list(range(1, len(rows) + 1))
    kept = {r[1] for r in _rows(ranking) if r[4] == "yes"}
    assert {r[2] for r in rows} <= kept
    # the curves hold one point per trained epoch of every trial in the leaderboard
    assert len(curves["data"]) == sum(int(r[3]) for r in rows)
    best = max(float(r[5].rstrip(" %")) for r in rows)  # "best val %": the best epoch of each trial
    assert incumbent["data"][-1][1] == pytest.approx(best, abs=0.01)
    run = session_tmp / "space-runs" / name
    assert (run / "export" / "model.safetensors").is_file()
    summary = json.loads((run / "summary.json").read_text())
    assert sum(int(r[3]) for r in rows) == summary["epoch_steps"] >= TINY["max_epochs_total"]
    assert f"trial {summary['best_trial']} **{summary['best_model']}**" in status


def test_predict_gives_top5_class_names_for_the_searched_model(client, searched, tmp_path):
    from gradio_client import handle_file

    from hf_quicktune.data import load

    _, name = searched
    image = load("builtin:digits").validation[0]["image"]
    path = tmp_path / "digit.png"
    image.convert("RGB").save(path)
    result = client.predict(handle_file(str(path)), f"run:{name}", api_name="/predict")
    labels = [c["label"] for c in result["confidences"]]
    assert len(labels) == 5 and set(labels) <= {str(i) for i in range(10)}
    confidences = [c["confidence"] for c in result["confidences"]]
    assert confidences == sorted(confidences, reverse=True) and 0 < sum(confidences) <= 1 + 1e-6
    assert result["label"] == labels[0]


def test_predict_many_classifies_an_uploaded_zip_into_a_csv_with_the_accuracy(client, searched, tmp_path):
    """A zip of a labelled test folder (CLASS/IMAGE.png) -> predictions.csv as the CLI writes it, the upload's own
    paths (not the server's), and the accuracy its folders give; nothing uploaded: what to do."""
    import csv
    import zipfile

    from gradio_client import handle_file

    from hf_quicktune.data import load

    _, name = searched
    split = load("builtin:digits").validation
    with zipfile.ZipFile(tmp_path / "test.zip", "w") as zf:
        for i in range(12):
            path = tmp_path / f"{i}.png"
            split[i]["image"].convert("RGB").save(path)
            zf.write(path, f"test/{split.features['label'].int2str(split[i]['label'])}/{i}.png")
    out, text = client.predict(handle_file(str(tmp_path / "test.zip")), f"run:{name}", api_name="/predict_many")
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 12 and all(r["path"].startswith("test.zip:test/") for r in rows)
    assert all(r["label"] in {str(i) for i in range(10)} and not r["error"] for r in rows)
    right = sum(r["label"] == r["true"] for r in rows)
    assert f"12 image(s) of `test.zip` classified; accuracy **{100 * right / 12:.2f} %** on 12 images" in text
    with pytest.raises(Exception, match="upload a zip / tar of images"):
        client.predict(None, f"run:{name}", api_name="/predict_many")


def test_predict_lays_a_transparent_upload_on_white_as_training_did(client, searched, tmp_path):
    """An RGBA upload whose transparent border hides noise is classified as the same picture on white (the
    transforms' flatten_alpha); gradio's default upload mode (RGB) dropped the alpha and showed the noise."""
    import numpy as np
    from gradio_client import handle_file

    from hf_quicktune.data import load

    _, name = searched
    digit = np.asarray(load("builtin:digits").validation[1]["image"].convert("RGB").resize((24, 24)))
    on_white = np.full((32, 32, 3), 255, dtype=np.uint8)
    on_white[4:28, 4:28] = digit
    rgba = np.concatenate([np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8),
                           np.zeros((32, 32, 1), dtype=np.uint8)], axis=-1)
    rgba[4:28, 4:28] = np.concatenate([digit, np.full((24, 24, 1), 255, dtype=np.uint8)], axis=-1)
    Image.fromarray(on_white).save(tmp_path / "white.png")
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "transparent.png")
    white, transparent = (client.predict(handle_file(str(tmp_path / f)), f"run:{name}", api_name="/predict")
                          for f in ("white.png", "transparent.png"))
    assert [c["label"] for c in transparent["confidences"]] == [c["label"] for c in white["confidences"]]
    assert [c["confidence"] for c in transparent["confidences"]] == pytest.approx(
        [c["confidence"] for c in white["confidences"]], abs=1e-5)


def test_browse_shows_a_run_pushed_to_the_hub(client, searched, hub, session_tmp):
    from hf_quicktune.publish import push_to_hub

    _, name = searched
    repo = hub.unique_repo_id("space-browse")
    push_to_hub(session_tmp / "space-runs" / name / "export", repo, token=hub.token)
    head, card, board, curves_png, ranking, confusion_png = client.predict(repo, api_name="/browse")  # (+ a State)
    rows = json.loads(Path(hub.api.hf_hub_download(repo, "quicktune/leaderboard.json")).read_text())
    assert head.startswith(f"**{repo}**: {len(rows)} trials on `builtin:digits`")
    assert [r[1] for r in _rows(board)] == [r["trial_id"] for r in rows]
    assert "fine-tuned on **builtin:digits**" in card and "---" not in card.splitlines()[0]
    assert Image.open(curves_png).size[0] > 100
    pushed = hub.api.hf_hub_download(repo, "plots/confusion_matrix.png")  # the card's plot, shown as published
    assert Path(confusion_png).read_bytes() == Path(pushed).read_bytes()
    assert {r[1] for r in _rows(ranking)} == set(json.loads(Path(hub.api.hf_hub_download(
        repo, "quicktune/ranking.json")).read_text())["order"])


def test_browse_says_when_a_repo_was_not_made_by_hf_quicktune(client, hub, tmp_path):
    from gradio_client.exceptions import AppError

    repo = hub.unique_repo_id("not-quicktune")
    hub.api.create_repo(repo)
    (tmp_path / "README.md").write_text("# just a model\n")
    hub.api.upload_file(path_or_fileobj=str(tmp_path / "README.md"), path_in_repo="README.md", repo_id=repo)
    with pytest.raises(AppError, match="was not published by hf-quicktune"):
        client.predict(repo, api_name="/browse")
    with pytest.raises(AppError, match="no model repo"):
        client.predict("qt-org/does-not-exist-123", api_name="/browse")
