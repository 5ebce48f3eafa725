"""``--train-limit`` / ``--eval-limit`` on a dataset stored in many files: only enough of them are read
(``data/file_draw.py``): Hub repos against the local Hub, and local folders of shards."""

from __future__ import annotations

import io
import json
import logging
import math

import datasets
import numpy as np
import pandas as pd
import pytest

from hf_quicktune.data import load
from hf_quicktune.data.class_grouping import grouped_by_class
from hf_quicktune.data.describe import split_origin
from hf_quicktune.data.file_draw import Limits
from hf_quicktune.rank import LOAD_ROWS_OVER

from .conftest import make_image, png_bytes

COLOURS = {"red": (220, 30, 30), "green": (30, 220, 30), "blue": (30, 30, 220), "grey": (128, 128, 128)}


def _rows(n: int, label_of, seed: int = 0) -> dict:
    names = list(COLOURS)
    labels = [label_of(i) for i in range(n)]
    return {"image": [{"bytes": png_bytes(make_image(COLOURS[names[c]], seed + i, size=8)), "path": None}
                      for i, c in enumerate(labels)], "label": labels}


def _features() -> datasets.Features:
    return datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=list(COLOURS))})


def _downloads(hub, repo: str, since: int, suffix: str) -> list[str]:
    return [path for method, path, status in hub.requests[since:]
            if method == "GET" and f"/datasets/{repo}/resolve/" in path and path.endswith(suffix)
            and status in (200, 206)]


@pytest.fixture(scope="module")
def sharded(hub):
    """400 training images in 8 parquet shards and 80 validation images in 4, the classes interleaved, pushed by
    ``push_to_hub`` (its card gives each split's size)."""
    repo = hub.unique_repo_id("sharded")
    dd = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict(_rows(400, lambda i: i % 4), features=_features()),
        "validation": datasets.Dataset.from_dict(_rows(80, lambda i: i % 4, seed=1000), features=_features()),
    })
    dd["train"].push_to_hub(repo, split="train", num_shards=8)
    dd["validation"].push_to_hub(repo, split="validation", num_shards=4)
    return repo


@pytest.mark.hub
def test_a_limited_load_downloads_only_the_shards_it_needs(hub, sharded):
    before = len(hub.requests)
    p = load(sharded, train_limit=40, eval_limit=20)
    shards = _downloads(hub, sharded, before, ".parquet")
    # 40 x 1.5 = 60 rows: 2 shards of 50; 20 x 1.5 = 30 rows: 2 shards of 20
    assert len([s for s in shards if "/train-" in s]) == 2 and len([s for s in shards if "/validation-" in s]) == 2
    assert p.info["drawn_files"] == {"train": [2, 8], "validation": [2, 4]}
    # then 60 and 30 of the 100 and 40 images read are kept, stratified by class
    assert (len(p.train), len(p.validation)) == (60, 30) and len(p.class_names) == 4
    assert p.info["drawn_rows"] == {"train": [60, 100], "validation": [30, 40]}
    assert split_origin(p.info, "train") == ("the dataset's 'train' split (60 images drawn at random by class from 2 "
                                             "of its 8 files; 400 images in all)")
    again = load(sharded, train_limit=40, eval_limit=20)
    assert again.fingerprint == p.fingerprint  # a --resume reads the same files
    other = load(sharded, train_limit=40, eval_limit=20, seed=1)
    assert other.fingerprint != p.fingerprint
    whole = load(sharded, train_limit=40)  # the validation split not capped: read whole
    assert len(whole.validation) == 80 and whole.info["drawn_files"] == {"train": [2, 8]}
    assert "drawn_files" not in load(sharded).info and len(load(sharded, train_limit=400).train) == 400


@pytest.mark.hub
def test_data_inspect_with_a_limit_reads_a_part_and_says_how_much(hub, sharded, capsys, monkeypatch):
    """`data inspect --limit N`: a look at a dataset of many files without downloading it all; the splits say how
    many files were read, how many images were kept of them and how many the dataset has (its card)."""
    from hf_quicktune.cli import main

    assert main(["data", "inspect", sharded, "--limit", "20", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    # 20 x 1.5 = 30 rows: 1 train shard of 50, 2 validation shards of 20
    assert summary["splits"] == {"train": 30, "validation": 30}  # and 30 images of each kept, by class
    assert summary["drawn_files"] == {"train": [1, 8], "validation": [2, 4]}
    assert summary["drawn_sizes"] == {"train": 400, "validation": 80}
    assert summary["drawn_rows"] == {"train": [30, 50], "validation": [30, 40]}
    monkeypatch.setenv("COLUMNS", "250")  # the table's origin column on one line
    assert main(["data", "inspect", sharded, "--limit", "20"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "30 images drawn at random by class from 1 of its 8 files; 400 images in all" in out


@pytest.mark.hub
def test_shards_are_sized_by_their_footers_without_a_card(hub):
    """Parquet files uploaded by hand (no card, no split sizes): each drawn shard's rows come from its footer."""
    repo = hub.unique_repo_id("bare")
    hub.api.create_repo(repo, repo_type="dataset")
    for k in range(6):
        frame = pd.DataFrame(_rows(30, lambda i: i % 2, seed=100 * k))
        frame["label"] = frame["label"].map({0: "red", 1: "green"})
        buf = io.BytesIO()
        frame.to_parquet(buf)
        hub.api.upload_file(path_or_fileobj=buf.getvalue(), path_in_repo=f"data/train-{k}.parquet", repo_id=repo,
                            repo_type="dataset")
    before = len(hub.requests)
    p = load(repo, train_limit=20, eval_limit=8)  # max(20 / 0.8, 8 / 0.2) = 40 x 1.5 = 60 rows: 2 shards
    assert p.info["drawn_files"] == {"train": [2, 6]}
    assert len(p.train) + len(p.validation) == 60
    assert any(status == 206 for _, path, status in hub.requests[before:] if repo in path)  # a footer's ranged read


@pytest.mark.hub
def test_shards_written_class_after_class_are_read_whole(hub, caplog):
    """A draw of 2 of 8 shards sorted by class would hold 1 of the 4 classes: the rows come grouped by class, so
    every shard is read."""
    repo = hub.unique_repo_id("sorted")
    datasets.Dataset.from_dict(_rows(400, lambda i: i // 100), features=_features()).push_to_hub(repo, num_shards=8)
    with caplog.at_level(logging.WARNING):
        p = load(repo, train_limit=20, eval_limit=8)
    assert sorted(set(p.train["label"])) == [0, 1, 2, 3] and sorted(set(p.validation["label"])) == [0, 1, 2, 3]
    assert "come grouped by class" in caplog.text and "reading all 8 files of 'train'" in caplog.text
    assert "drawn_files" not in p.info and p.info["drawn_rows"] == {"train": [60, 400]}  # then 60 kept, by class


def test_a_local_folder_of_shards_with_string_labels_sorted_by_class_is_read_whole(tmp_path, caplog):
    """String labels (no ``ClassLabel`` to say how many classes there are): shards written one class after the other
    are still read whole, not 2 of 6 holding 2 of the 3 classes."""
    folder = tmp_path / "shards"
    folder.mkdir()
    names = ["red", "green", "blue"]
    for k in range(6):
        frame = pd.DataFrame(_rows(30, lambda i, k=k: k // 2, seed=100 * k))
        frame["label"] = frame["label"].map(dict(enumerate(names)))
        frame.to_parquet(folder / f"train-{k:05d}-of-00006.parquet")
    with caplog.at_level(logging.WARNING):
        p = load(str(folder), train_limit=20, eval_limit=8)
    assert sorted(p.class_names) == sorted(names) and "drawn_files" not in p.info
    assert "come grouped by class" in caplog.text
    assert p.info["drawn_rows"] == {"train": [60, 180]} and len(p.train) + len(p.validation) == 60
    one = load(str(folder), train_limit=8, eval_limit=2)  # 15 rows: 1 shard of one class, then 2: still grouped
    assert sorted(one.class_names) == sorted(names) and "drawn_files" not in one.info


def test_shards_each_sorted_inside_but_holding_every_class_are_still_read_in_part(tmp_path, caplog):
    """One shard drawn whose rows are sorted by class looks grouped on its own; a second shard shows that each
    holds every class: 2 of the 6 are read, not all."""
    folder = tmp_path / "shards"
    folder.mkdir()
    for k in range(6):
        frame = pd.DataFrame(_rows(30, lambda i: i // 10, seed=100 * k))  # 10 red, 10 green, 10 blue
        frame["label"] = frame["label"].map(dict(enumerate(COLOURS)))
        frame.to_parquet(folder / f"train-{k:05d}-of-00006.parquet")
    with caplog.at_level(logging.WARNING):
        p = load(str(folder), train_limit=8, eval_limit=2)  # 1.5 x max(8 / 0.8, 2 / 0.2) = 15 rows: 1 shard of 30
    assert p.info["drawn_files"] == {"train": [2, 6]} and "come grouped by class" not in caplog.text
    assert sorted(p.class_names) == ["blue", "green", "red"]


@pytest.mark.hub
def test_a_draw_missing_a_rare_class_grows_until_every_class_is_in_it(hub, caplog):
    """Shuffled shards where one class has 3 images of 400: the first 2 of 8 shards may miss it (its ClassLabel
    names it), so the draw doubles until it is in."""
    repo = hub.unique_repo_id("rare")
    rare = {10, 20, 320}  # in the 1st and 7th shard of 50; the seed's draw: the 5th and 8th, then the 1st and 7th
    datasets.Dataset.from_dict(_rows(400, lambda i: 3 if i in rare else i % 3), features=_features()).push_to_hub(
        repo, num_shards=8)
    with caplog.at_level(logging.WARNING):
        p = load(repo, train_limit=20, eval_limit=8)
    assert 3 in set(p.train["label"]) | set(p.validation["label"]) and p.info["drawn_files"] == {"train": [4, 8]}
    assert "lack classes (a rare class?)" in caplog.text and "come grouped by class" not in caplog.text


def test_rows_grouped_by_class_are_told_from_a_random_order():
    rng = np.random.default_rng(0)
    for classes, each in ((2, 30), (10, 20), (1000, 10)):
        labels = np.repeat(np.arange(classes), each)
        assert grouped_by_class(labels.tolist())  # written class after class
        assert not any(grouped_by_class(rng.permutation(labels).tolist()) for _ in range(100))
        files = [np.sort(rng.permutation(labels)[k::2]) for k in range(2)]  # 2 files, each every class, sorted
        assert not grouped_by_class(np.concatenate(files).tolist())
    assert grouped_by_class(["cat"] * 50)  # a single class read
    assert not grouped_by_class(["cat"] * 3 + ["dog"] * 3)  # too few rows to tell


@pytest.mark.hub
def test_an_imagefolder_repo_is_drawn_from_every_class_folder(hub, tmp_path):
    repo = hub.unique_repo_id("folders")
    for s, (split, n) in enumerate((("train", 12), ("validation", 4))):
        for c, name in enumerate(["red", "green", "blue"]):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                make_image(COLOURS[name], 100 * s + 10 * c + i, size=8).save(folder / f"{i}.png")
    hub.api.create_repo(repo, repo_type="dataset")
    hub.api.upload_folder(folder_path=str(tmp_path), repo_id=repo, repo_type="dataset")
    before = len(hub.requests)
    p = load(repo, train_limit=6)  # 6 x 1.5 = 9 images: 3 of each folder's 12
    assert len(_downloads(hub, repo, before, ".png")) == 9 + 12
    assert sorted(set(p.train["label"])) == [0, 1, 2] and len(p.train) == 9 and len(p.validation) == 12
    assert p.info["drawn_files"] == {"train": [9, 36]}


def test_the_rows_the_limits_need_from_each_split():
    both = Limits(train=100, eval=30)
    assert both.rows_needed(["train", "validation"]) == {"train": 100, "validation": 30}
    assert both.rows_needed(["train"]) == {"train": 150}  # 30 validation images are 20 % of 150
    assert Limits(train=100, eval=10).rows_needed(["train"]) == {"train": 125}  # 100 train images are 80 %
    assert Limits(train=100).rows_needed(["train"]) == {}  # validation: 20 % of all of train
    assert Limits(train=100).rows_needed(["train", "test"]) == {}
    assert Limits(eval=10).rows_needed(["training", "valid", "testing"]) == {"valid": 10, "testing": 10}
    assert Limits(train=50, eval=5, split_map={"validation": "holdout"}).rows_needed(["train", "holdout"]) == {
        "train": 50, "holdout": 5}


@pytest.mark.hub
def test_a_hub_datasets_download_is_told_to_the_progress_callback(hub, monkeypatch):
    from hf_quicktune.data import hub_progress

    monkeypatch.setattr(hub_progress, "INTERVAL_S", 0.01)
    repo = hub.unique_repo_id("progress")
    datasets.Dataset.from_dict(_rows(200, lambda i: i % 4), features=_features()).push_to_hub(repo, num_shards=4)
    shards = {f.path: f.size for f in hub.api.list_repo_tree(repo, repo_type="dataset", recursive=True)
              if f.path.endswith(".parquet")}
    calls = []
    load(repo, progress=lambda task, done, total, images: calls.append((task, done, total)))
    told = [c for c in calls if c[0] == f"downloading {repo} (kB)"]
    assert told and told[-1][1] == told[-1][2] == round(sum(shards.values()) / 1000)
    calls.clear()
    load(repo, progress=lambda task, done, total, images: calls.append((task, done, total)))
    assert not [c for c in calls if c[0].startswith("downloading")]  # cached: nothing to download, nothing told
    calls.clear()
    drawn = load(repo, train_limit=10, eval_limit=4, progress=lambda task, done, total, images: calls.append(
        (task, done, total)))
    assert drawn.info["drawn_files"] == {"train": [1, 4]} and not [c for c in calls if c[0].startswith("downloading")]


def test_a_local_folder_of_parquet_shards_is_read_in_part(tmp_path, caplog):
    """A dataset downloaded to disk (``train-00000-of-00006.parquet`` ...): without limits datasets converts every
    shard to Arrow; with them, enough shards, sized by their footers."""
    folder = tmp_path / "shards"
    folder.mkdir()
    for k in range(6):
        frame = pd.DataFrame(_rows(30, lambda i: i % 2, seed=100 * k))
        frame["label"] = frame["label"].map({0: "red", 1: "green"})
        frame.to_parquet(folder / f"train-{k:05d}-of-00006.parquet")
    with caplog.at_level(logging.WARNING):
        p = load(str(folder), train_limit=20, eval_limit=8)  # 40 x 1.5 = 60 rows: 2 shards of 30
    assert p.info["drawn_files"] == {"train": [2, 6]} and len(p.train) + len(p.validation) == 60
    assert "reading 2 of the 6 files of the 'train' split" in caplog.text
    assert len(load(str(folder)).train) + len(load(str(folder)).validation) == 180


@pytest.mark.hub
def test_a_split_without_a_role_is_not_downloaded(hub, caplog):
    """SVHN's ``extra`` (531,131 images beside 73,257 for train) and STL-10's ``unlabeled``: a run reads train,
    validation and test only, unless ``--split`` gives the other split a role."""
    repo = hub.unique_repo_id("svhnlike")
    dd = datasets.DatasetDict({split: datasets.Dataset.from_dict(_rows(n, lambda i: i % 4, seed=1000 * k),
                                                                 features=_features())
                               for k, (split, n) in enumerate((("train", 40), ("test", 12), ("extra", 80)))})
    dd.push_to_hub(repo)
    before = len(hub.requests)
    with caplog.at_level(logging.WARNING):
        p = load(repo)
    fetched = _downloads(hub, repo, before, ".parquet")
    assert not [f for f in fetched if "/extra-" in f] and [f for f in fetched if "/train-" in f]
    assert "not downloading its split(s) 'extra'" in caplog.text
    assert (len(p.train) + len(p.validation), len(p.test)) == (40, 12)
    extra = load(repo, split_map={"train": "extra"})
    assert len(extra.train) + len(extra.validation) == 80 and len(extra.test) == 12


def test_the_download_then_the_arrow_conversion_are_told(tmp_path, monkeypatch):
    """The watcher's two phases, on the files datasets writes: blobs landing in the Hugging Face cache (the
    download, against the data files' bytes), then Arrow files in a ``*.incomplete`` folder of its own cache."""
    import time

    import datasets.config
    import huggingface_hub.constants

    from hf_quicktune.data import hub_progress

    monkeypatch.setattr(hub_progress, "INTERVAL_S", 0.01)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "datasets"))
    monkeypatch.setattr(hub_progress, "_to_fetch", lambda *args: (40_000, 40_000))  # the repo's listing
    calls = []
    with hub_progress.download_progress("org/big", None, lambda *call: calls.append(call[:3])):
        blobs = tmp_path / "hub" / "datasets--org--big" / "blobs"
        blobs.mkdir(parents=True)
        (blobs / "abc.incomplete").write_bytes(b"x" * 20_000)
        time.sleep(0.2)
        (blobs / "abc.incomplete").rename(blobs / "abc")
        (blobs / "def").write_bytes(b"x" * 20_000)
        arrow = tmp_path / "datasets" / "org___big" / "default-1" / "0.0.0" / "f00.incomplete"
        arrow.mkdir(parents=True)
        (arrow / "big-train.arrow").write_bytes(b"x" * 30_000)
        time.sleep(0.2)
    downloads = [c for c in calls if c[0] == "downloading org/big (kB)"]
    assert ("downloading org/big (kB)", 20, 40) in downloads and downloads[-1] == ("downloading org/big (kB)", 40, 40)
    assert ("writing org/big as Arrow (kB)", 30, 40) in calls
    assert calls.index(downloads[-1]) < calls.index(("writing org/big as Arrow (kB)", 30, 40))


def test_a_reporter_asking_to_stop_during_a_download_stops_the_load_when_it_ends(tmp_path, monkeypatch):
    """The Space's reporter raises KeyboardInterrupt from ``progress`` when its Stop button was pressed; told from
    the watcher's thread, it is raised in the loading thread once the download returns (as the image check's next
    report would), not lost in the watcher."""
    import time

    import huggingface_hub.constants

    from hf_quicktune.data import hub_progress

    monkeypatch.setattr(hub_progress, "INTERVAL_S", 0.01)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hub_progress, "_to_fetch", lambda *args: (40_000, 40_000))

    asked = []

    def stop(*call):  # the button pressed once: the first report after it raises
        if not asked:
            asked.append(call)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        with hub_progress.download_progress("org/big", None, stop):
            blobs = tmp_path / "hub" / "datasets--org--big" / "blobs"
            blobs.mkdir(parents=True)
            (blobs / "abc.incomplete").write_bytes(b"x" * 20_000)
            time.sleep(0.2)
    assert asked[0][0] == "downloading org/big (kB)"  # told mid-download, from the watcher's thread


def test_a_local_folder_of_shards_tells_its_conversion_to_arrow(tmp_path, monkeypatch):
    """datasets copies a local folder of parquet shards into Arrow files of its cache (minutes for tens of
    gigabytes): the bytes written are told against the shards' own."""
    import os

    import datasets.config

    from hf_quicktune.data import hub_progress
    from hf_quicktune.data.sources import _load_data_dir

    monkeypatch.setattr(hub_progress, "INTERVAL_S", 0.002)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "shards"
    folder.mkdir()
    for k in range(8):
        pd.DataFrame({"blob": [os.urandom(50_000) for _ in range(100)], "label": [k % 2] * 100}).to_parquet(
            folder / f"train-{k:05d}-of-00008.parquet")
    calls = []
    raw = _load_data_dir(folder, progress=lambda *call: calls.append(call[:3]))
    assert len(raw.splits["train"]) == 800
    told = [c for c in calls if c[0] == "writing shards as Arrow (MB)"]
    assert all(total == 40 and 0 <= done <= 40 for _, done, total in told) and max(done for _, done, _ in told) > 0


def test_a_single_large_data_file_tells_its_conversion_to_arrow(tmp_path, monkeypatch):
    """One parquet file of embedded images (tens of gigabytes, as a Kaggle export): its conversion to Arrow is
    told, as a folder of shards' is."""
    import os

    import datasets.config

    from hf_quicktune.data import hub_progress

    monkeypatch.setattr(hub_progress, "INTERVAL_S", 0.002)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    frame = pd.DataFrame({"blob": [os.urandom(50_000) for _ in range(800)], "label": [k % 2 for k in range(800)]})
    frame.to_parquet(tmp_path / "big.parquet", row_group_size=50)
    calls = []
    from hf_quicktune.data.sources import resolve_source

    raw = resolve_source(str(tmp_path / "big.parquet"), progress=lambda *call: calls.append(call[:3]))
    assert len(raw.splits["train"]) == 800
    told = [c for c in calls if c[0] == "writing big.parquet as Arrow (MB)"]
    assert all(total == 40 and 0 <= done <= 40 for _, done, total in told) and max(done for _, done, _ in told) > 0


def test_a_source_read_whole_keeps_and_checks_only_the_images_the_limits_need(tmp_path):
    """A parquet table is read whole, but under the limits only a stratified 1.5x of what they need is kept, before
    every image is decoded once. A ranking keeps every row of a split not 20x larger than what it needs (a later run
    without limits reads its features)."""
    from hf_quicktune.data.images import PROGRESS_TASK

    table = tmp_path / "table.parquet"
    pd.DataFrame(_rows(200, lambda i: i % 4)).to_parquet(table)
    told = []
    p = load(str(table), train_limit=20, eval_limit=8,
             progress=lambda task, done, total, images: told.append((task, done, total)))
    assert p.info["drawn_rows"] == {"train": [60, 200]}  # 1.5 x max(20 / 0.8, 8 / 0.2); validation carved from it
    assert sorted(np.bincount(p.train["label"]) + np.bincount(p.validation["label"])) == [15] * 4
    assert [t[1:] for t in told if t[0] == PROGRESS_TASK][-1] == (60, 60)  # 60 images checked, not 200
    assert split_origin(p.info, "train") == ("the dataset's 'train' split (60 of its 200 images, drawn at random by "
                                             "class), less the held-out shares")
    assert load(str(table), train_limit=20, eval_limit=8).fingerprint == p.fingerprint  # a --resume
    assert len(load(str(table), train_limit=20, eval_limit=8, cut_rows_over=math.inf).train) == 160
    ranked = load(str(table), train_limit=20, eval_limit=8, cut_rows_over=LOAD_ROWS_OVER)  # 200 < 20 x 60: kept
    assert "drawn_rows" not in ranked.info and ranked.fingerprint == load(str(table)).fingerprint
    assert load(str(table), train_limit=1, eval_limit=1, cut_rows_over=LOAD_ROWS_OVER).info[
        "drawn_rows"] == {"train": [8, 200]}  # 1.5 x max(1 / 0.8, 1 / 0.2) = 8: 200 > 20 x 8, cut
    assert "drawn_rows" not in load(str(table)).info


def test_a_class_folder_of_many_small_folders_is_drawn_by_class_not_by_folder(tmp_path):
    """A chest X-ray export keeps each patient's few images in a folder of their own under the class folder: the
    draw took one image of every such folder however few the limits needed (ten times the need here, thousands of
    patients in such a set), where the class, the top folder, is what must be covered."""
    for c, name in enumerate(COLOURS):
        for patient in range(30):
            folder = tmp_path / "xrays" / name / f"patient{c}{patient:02d}"
            folder.mkdir(parents=True)
            for i in range(2):
                make_image(COLOURS[name], 100 * c + 2 * patient + i, size=8).save(folder / f"view{i}.png")
    p = load(str(tmp_path / "xrays"), train_limit=20, eval_limit=8)
    # 1.5 x max(20 / 0.8, 8 / 0.2) = 60 of 240 needed: 15 of each class's 60 (one of every patient's folder: 120)
    assert p.info["drawn_files"] == {"train": [60, 240]}
    assert sorted(np.bincount(p.train["label"])) == [12] * 4 and sorted(np.bincount(p.validation["label"])) == [3] * 4
    assert p.class_names == sorted(COLOURS)


def test_a_local_image_folder_is_read_from_enough_images_of_every_class_folder(tmp_path):
    """ImageNet's train/ of 1.28 million files is not converted to Arrow for a run that trains on thousands: under
    the limits an image folder's files are drawn from every class folder, as an imagefolder repo's on the Hub."""
    from hf_quicktune.data.images import PROGRESS_TASK

    for split, n in (("train", 40), ("validation", 10)):
        for c, name in enumerate(COLOURS):
            folder = tmp_path / "folder" / split / name
            folder.mkdir(parents=True)
            for i in range(n):  # a retina export's names: '@' in a local path is no Hub revision
                make_image(COLOURS[name], 100 * c + i + (0 if split == "train" else 50), size=8).save(
                    folder / f"{i}@2x.png")
    (tmp_path / "folder" / "train" / "red" / "notes.txt").write_text("shot on a phone")  # not read, either way
    told = []
    p = load(str(tmp_path / "folder"), train_limit=20, eval_limit=8,
             progress=lambda task, done, total, images: told.append((task, done, total)))
    # 30 of train's 160 needed: ceil(30 / 160 x 40) = 8 of each class folder; 12 of validation's 40: 3 of each
    assert p.info["drawn_files"] == {"train": [32, 160], "validation": [12, 40]}
    assert p.info["drawn_rows"] == {"train": [30, 32]} and len(p.validation) == 12
    assert sorted(np.bincount(p.train["label"])) == [7, 7, 8, 8] and sorted(np.bincount(p.validation["label"])) == [3] * 4
    assert [t[1:] for t in told if t[0] == PROGRESS_TASK][-1] == (42, 42)
    assert load(str(tmp_path / "folder"), train_limit=20, eval_limit=8).fingerprint == p.fingerprint  # a --resume
    assert len(load(str(tmp_path / "folder")).train) == 160
    # a metadata.csv gives a folder its columns (datasets reads them against every file): no draw, all read
    for split in ("train", "validation"):
        names = sorted(f"{c.name}/{f.name}" for c in (tmp_path / "folder" / split).iterdir() if c.is_dir()
                       for f in c.glob("*.png"))
        (tmp_path / "folder" / split / "metadata.csv").write_text(
            "file_name,colour\n" + "".join(f"{n},{n.partition('/')[0]}\n" for n in names))
    whole = load(str(tmp_path / "folder"), train_limit=20, eval_limit=8, label_column="colour")
    assert "drawn_files" not in whole.info and whole.info["drawn_rows"]["train"][1] == 160
