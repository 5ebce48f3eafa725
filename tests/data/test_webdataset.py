"""WebDataset shards (hf_quicktune/data/webdataset.py): tar files of samples (``KEY.png`` + ``KEY.cls`` or
``KEY.json``), a folder of them by split, one shard, or a Hub repo of them. Was: unpacked as an archive and refused
("holds images but no class sub-folders") or, as a folder, "holds its data as archives"."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from pathlib import Path

import numpy as np
import pytest

from hf_quicktune.data import load
from hf_quicktune.data.webdataset import is_shard
from hf_quicktune.errors import DatasetError

from .conftest import COLOURS, make_image, png_bytes

CLASSES = ["cat", "dog", "owl"]


def _shard(path: Path, start: int, n: int, members: tuple[str, ...] = ("cls",)) -> list[int]:
    """A shard of ``n`` samples (an image of its class's colour, and its class as ``members``); their classes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    classes = []
    with tarfile.open(path, "w") as tf:
        for i in range(start, start + n):
            label = i % 3
            files = {"png": png_bytes(make_image(COLOURS[CLASSES[label]], i))}
            if "cls" in members:
                files["cls"] = str(label).encode()
            if "json" in members:
                files["json"] = json.dumps({"label": CLASSES[label], "source": "gen"}).encode()
            if "info.json" in members:  # a second record, nested: {"camera": {"iso": 100}}
                files["info.json"] = json.dumps({"camera": {"iso": 100}, "site": "a"}).encode()
            for ext, data in files.items():
                info = tarfile.TarInfo(f"{i:06d}.{ext}")
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            classes.append(label)
    return classes


def _check(split, names: list[str]) -> None:
    """Each image's colour is its class's."""
    for row in split.select(range(min(6, len(split)))):
        pixel = np.asarray(row["image"].convert("RGB"))[4, 4]
        expected = np.asarray(COLOURS[names[row["label"]]])
        assert np.abs(pixel.astype(int) - expected).max() < 60


def test_a_folder_of_shards_by_split(tmp_path):
    root = tmp_path / "wds"
    _shard(root / "train-0000.tar", 0, 12)
    _shard(root / "train-0001.tar", 12, 12)
    _shard(root / "validation-0000.tar", 100, 9)
    (root / "_info.json").write_text(json.dumps({"name": "toy"}))  # timm's wds repos carry one: not the dataset
    prepared = load(str(root))
    assert prepared.info["format"] == "webdataset" and prepared.info["label_column"] == "cls"
    assert len(prepared.train) == 24 and len(prepared.validation) == 9 and prepared.info["made_splits"] == []
    assert prepared.class_names == ["0", "1", "2"]
    _check(prepared.train, CLASSES)
    _check(prepared.validation, CLASSES)


def test_one_shard_and_a_json_members_label(tmp_path):
    """A shard passed alone is read (not unpacked), from a folder whose name has glob characters; a json member's
    label field is the class (beside a second record with a nested field)."""
    _shard(tmp_path / "set [v2]" / "part.tar", 0, 18, members=("json", "info.json"))
    prepared = load(str(tmp_path / "set [v2]" / "part.tar"))
    assert prepared.info["label_column"] == "label" and prepared.class_names == CLASSES
    assert len(prepared.train) + len(prepared.validation) == 18
    _check(prepared.train, prepared.class_names)


def test_tars_that_are_no_shards_stay_archives(tmp_path):
    """An ImageFolder's tar (one file per name) and Dogs vs. Cats' ``train/cat.0.png`` names (a key of many images)
    are archives to unpack, as before."""
    for name, members in (("folder.tar", [f"{c}/{i}.png" for c in ("cat", "dog") for i in range(4)]),
                          # Dogs vs. Cats' train.zip alone: was "holds no class folders and no single table file"
                          ("named.tar", [f"train/{c}.{i}.png" for c in ("cat", "dog") for i in range(4)])):
        with tarfile.open(tmp_path / name, "w") as tf:
            for i, member in enumerate(members):
                data = png_bytes(make_image(COLOURS[member.removeprefix("train/").split("/")[0].split(".")[0]], i))
                info = tarfile.TarInfo(member)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
        assert not is_shard(tmp_path / name)
        assert load(str(tmp_path / name)).class_names == ["cat", "dog"]
    _shard(tmp_path / "s.tar", 0, 3)
    assert is_shard(tmp_path / "s.tar")


def test_shards_of_which_some_name_no_split_are_refused(tmp_path):
    _shard(tmp_path / "wds" / "train-0000.tar", 0, 6)
    _shard(tmp_path / "wds" / "extra-0000.tar", 6, 6)
    with pytest.raises(DatasetError, match=r"Some shards name their split and others do not \(extra-0000.tar\)"):
        load(str(tmp_path / "wds"))


@pytest.mark.hub
def test_a_hub_repo_of_shards(hub, tmp_path):
    """timm's ``imagenet-1k-wds`` layout: the builder's __key__ / __url__ columns are not label candidates."""
    repo = f"qt-org/wds-{uuid.uuid4().hex[:8]}"
    hub.api.create_repo(repo, repo_type="dataset")
    _shard(tmp_path / "up" / "toy-train-0000.tar", 0, 15, members=("cls", "json"))
    _shard(tmp_path / "up" / "toy-validation-0000.tar", 50, 6, members=("cls", "json"))
    hub.api.upload_folder(repo_id=repo, repo_type="dataset", folder_path=tmp_path / "up")
    prepared = load(repo)
    assert len(prepared.train) == 15 and len(prepared.validation) == 6
    assert prepared.info["label_column"] == "label" and prepared.class_names == CLASSES  # the json's names
    _check(prepared.train, CLASSES)


def test_a_shard_of_captions_is_no_classification_set(tmp_path):
    """LAION-style samples (``KEY.png`` + ``KEY.txt`` captions): each caption was a class of one image, refused
    by the stratified split ("no class has the 2 examples"); now "no label column", naming the captions."""
    path = tmp_path / "cap.tar"
    with tarfile.open(path, "w") as tf:
        for i in range(12):
            for name, data in ((f"{i:06d}.png", png_bytes(make_image(COLOURS["cat"], i))),
                               (f"{i:06d}.txt", f"a photo of thing number {i}".encode())):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    with pytest.raises(DatasetError, match=r"the only column besides the image column 'png' is 'txt', and it holds 12 "
                                           r"different values in 12 rows \(captions or ids") as err:
        load(str(path))
    assert err.value.code == "no_label_column"


@pytest.mark.hub
def test_a_limited_load_of_a_hub_repo_of_shards_sizes_them_by_one_shard(hub, tmp_path):
    """timm's wds repos state their sizes in prose only: the first drawn shard is downloaded and its samples
    counted, the others taken to hold as many (data/file_draw.py)."""
    repo = f"qt-org/wds-{uuid.uuid4().hex[:8]}"
    hub.api.create_repo(repo, repo_type="dataset")
    for k in range(6):
        _shard(tmp_path / "up" / f"toy-train-{k:04d}.tar", 20 * k, 20)
    _shard(tmp_path / "up" / "toy-validation-0000.tar", 500, 9)
    hub.api.upload_folder(repo_id=repo, repo_type="dataset", folder_path=tmp_path / "up")
    before = len(hub.requests)
    prepared = load(repo, train_limit=16)  # 16 x 1.5 = 24 samples: 2 shards of 20
    fetched = [path for method, path, status in hub.requests[before:]
               if method == "GET" and "/resolve/" in path and path.endswith(".tar") and status == 200]
    assert prepared.info["drawn_files"] == {"train": [2, 6]} and prepared.info["drawn_rows"] == {"train": [24, 40]}
    train = [p for p in fetched if "-train-" in p]
    assert len(train) == len(set(train)) == 2 and len(prepared.validation) == 9  # the counted shard read once


@pytest.mark.hub
def test_the_shard_downloaded_to_count_its_samples_is_told_as_a_download(hub, tmp_path):
    """That first shard (a whole shard of ImageNet's wds) is downloaded before the load's own download starts: told
    as one too, not silent."""
    repo = f"qt-org/wds-{uuid.uuid4().hex[:8]}"
    hub.api.create_repo(repo, repo_type="dataset")
    for k in range(6):
        _shard(tmp_path / "up" / f"toy-train-{k:04d}.tar", 20 * k, 20)
    hub.api.upload_folder(repo_id=repo, repo_type="dataset", folder_path=tmp_path / "up")
    calls = []
    before = len(hub.requests)
    prepared = load(repo, train_limit=16, eval_limit=4, progress=lambda *call: calls.append(call[:3]))
    assert prepared.info["drawn_files"] == {"train": [2, 6]}
    shard_kb = round((tmp_path / "up" / "toy-train-0000.tar").stat().st_size / 1000)
    finished = [(done, total) for task, done, total in calls if task == f"downloading {repo} (kB)" and done == total]
    assert finished == [(shard_kb, shard_kb)] * 2  # the counted shard, then the other one drawn
    # each sized by asking for its paths, not by listing the repo (ImageNet's: a thousand shards)
    assert len([path for method, path, _ in hub.requests[before:] if method == "POST" and "/paths-info/" in path]) == 2


def test_a_local_folder_of_shards_is_read_in_part_under_the_limits(tmp_path):
    for k in range(6):
        _shard(tmp_path / "wds" / f"toy-train-{k:04d}.tar", 20 * k, 20)
    _shard(tmp_path / "wds" / "toy-validation-0000.tar", 500, 9)
    prepared = load(str(tmp_path / "wds"), train_limit=16)  # 16 x 1.5 = 24 samples: 2 shards of 20
    assert prepared.info["drawn_files"] == {"train": [2, 6]} and prepared.info["drawn_rows"] == {"train": [24, 40]}
    assert len(prepared.validation) == 9 and prepared.class_names == ["0", "1", "2"]  # .cls ids, every class read
    assert len(load(str(tmp_path / "wds")).train) == 120
