"""Hub datasets through ``datasets.load_dataset`` against the local Hub: splits, config, revision, errors."""

from __future__ import annotations

import io
import logging
import uuid

import pandas as pd
import pytest

from hf_quicktune.cli import main
from hf_quicktune.data import load
from hf_quicktune.errors import DatasetError

from .conftest import make_image, png_bytes

pytestmark = pytest.mark.hub

README = """---
configs:
- config_name: full
  default: true
  data_files:
  - split: train
    path: full/train.parquet
  - split: test
    path: full/test.parquet
- config_name: small
  data_files:
  - split: train
    path: small/train.parquet
---
# tiny shapes
"""


def _parquet(n: int, seed: int) -> bytes:
    colours = {"red": (220, 30, 30), "blue": (30, 30, 220)}
    names = list(colours)
    frame = pd.DataFrame({
        "image": [{"bytes": png_bytes(make_image(colours[names[i % 2]], seed + i)), "path": None} for i in range(n)],
        "colour": [names[i % 2] for i in range(n)],
    })
    buf = io.BytesIO()
    frame.to_parquet(buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def hub_dataset(hub):
    repo = f"qt-org/shapes-{uuid.uuid4().hex[:8]}"
    hub.api.create_repo(repo, repo_type="dataset")
    for path, data in (("README.md", README.encode()), ("full/train.parquet", _parquet(12, 0)),
                       ("full/test.parquet", _parquet(4, 100)), ("small/train.parquet", _parquet(6, 200))):
        hub.api.upload_file(path_or_fileobj=data, path_in_repo=path, repo_id=repo, repo_type="dataset")
    hub.api.create_branch(repo, branch="v2", repo_type="dataset")
    hub.api.upload_file(path_or_fileobj=_parquet(20, 300), path_in_repo="full/train.parquet", repo_id=repo,
                        repo_type="dataset", revision="v2")
    return repo


def test_hub_dataset_default_config(hub_dataset):
    p = load(hub_dataset)
    assert p.source == "hub"
    assert {k: len(v) for k, v in p.splits.items()} == {"train": 10, "validation": 2, "test": 4}  # test kept; 20 % of 6 per class
    assert p.class_names == ["blue", "red"] and p.info["label_column"] == "colour"
    assert p.train[0]["image"].size == (16, 16)


def test_hub_dataset_config_and_revision(hub, hub_dataset):
    small = load(hub_dataset, config="small", val_fraction=0.34)
    assert len(small.train) + len(small.validation) == 6 and small.test is None
    v2 = load(hub_dataset, revision="v2")
    assert len(v2.train) + len(v2.validation) == 20
    assert v2.fingerprint != load(hub_dataset).fingerprint
    main_commit = hub.api.dataset_info(hub_dataset).sha  # the commit read, for the card
    assert load(hub_dataset).info["commit"] == main_commit
    assert v2.info["commit"] == hub.api.dataset_info(hub_dataset, revision="v2").sha != main_commit


def test_hub_dataset_errors(hub_dataset, capsys):
    with pytest.raises(DatasetError, match="Unknown dataset 'qt-org/no-such-dataset'"):
        load("qt-org/no-such-dataset")
    with pytest.raises(DatasetError, match=r"has no configuration 'huge' \(its configurations: full, small\)") as info:
        load(hub_dataset, config="huge")
    assert info.value.code == "bad_dataset_config" and info.value.input == hub_dataset
    assert info.value.fix == "Pass one of them with --dataset-config NAME, e.g. --dataset-config full."
    with pytest.raises(DatasetError, match=r"no revision 'nope'.*--revision") as info:
        load(hub_dataset, revision="nope")
    assert info.value.code == "revision_not_found"
    assert main(["data", "inspect", "qt-org/no-such-dataset"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("Error: Unknown dataset")
    assert main(["data", "inspect", hub_dataset, "--dataset-config", "small", "--json"]) == 0
    assert '"train": ' in capsys.readouterr().out


def test_a_hub_repo_of_class_folders_of_dicom_scans(hub, tmp_path, dicom_file):
    """A repo of ``CLASS/*.dcm`` (a PACS export pushed as it is): datasets' module inference found no data files
    in it (its table of extensions lists Pillow's formats); read as an imagefolder of scans."""
    import numpy as np

    repo = f"qt-org/scans-{uuid.uuid4().hex[:8]}"
    hub.api.create_repo(repo, repo_type="dataset")
    for i in range(8):
        cls = ("normal", "opacity")[i % 2]
        dicom_file(tmp_path / "up" / cls / f"{i}.dcm", np.full((16, 16), 500 + 2000 * (i % 2), np.uint16),
                   window=(1500, 3000))
    hub.api.upload_folder(repo_id=repo, repo_type="dataset", folder_path=tmp_path / "up")
    prepared = load(repo)
    assert prepared.class_names == ["normal", "opacity"] and prepared.meta.image_format == "DICOM"
    for split in prepared.splits.values():
        for row in split:
            level = int(np.asarray(row["image"]).mean())
            assert (level > 128) == (prepared.class_names[row["label"]] == "opacity")


def _upload(hub, folder, prefix: str) -> str:
    repo = f"qt-org/{prefix}-{uuid.uuid4().hex[:8]}"
    hub.api.create_repo(repo, repo_type="dataset")
    hub.api.upload_folder(repo_id=repo, repo_type="dataset", folder_path=folder)
    return repo


def test_a_hub_repo_holding_a_download_as_it_is_reads_as_the_folder_would(hub, tmp_path, monkeypatch):
    """A Kaggle download pushed with `upload_folder` (APTOS' train.csv of id_code, diagnosis + train_images/): datasets
    reads the repo as an imagefolder of one class, 'train_images'; the snapshot is read as the local folder is
    (its table labels its images). A repo of a Keras .npz or HDF5 files likewise."""
    import numpy as np

    colours = {"red": (220, 30, 30), "blue": (30, 30, 220)}
    up = tmp_path / "aptos"
    (up / "train_images").mkdir(parents=True)
    rows = []
    for i in range(12):
        name = ["red", "blue"][i % 2]
        make_image(colours[name], i).save(up / "train_images" / f"{i:04x}c0de.png")
        rows.append({"id_code": f"{i:04x}c0de", "diagnosis": i % 2})
    pd.DataFrame(rows).to_csv(up / "train.csv", index=False)
    repo = _upload(hub, up, "aptos")
    prepared = load(repo)
    assert prepared.source == "hub" and prepared.info["label_column"] == "diagnosis"
    with monkeypatch.context() as offline:  # a resume without the Hub: the snapshot downloaded before
        offline.setenv("HF_HUB_OFFLINE", "1")
        assert load(repo).fingerprint == prepared.fingerprint
    assert prepared.class_names == ["0", "1"] and sum(len(s) for s in prepared.splits.values()) == 12
    row = prepared.train[0]
    assert (np.asarray(row["image"])[4, 4, 0] > 128) == (prepared.class_names[row["label"]] == "0")
    (tmp_path / "npz").mkdir()
    x = np.stack([np.full((8, 8), 40 + 150 * (i % 2), np.uint8) for i in range(10)])
    np.savez(tmp_path / "npz" / "mnist.npz", x_train=x, y_train=np.arange(10) % 2)
    assert load(_upload(hub, tmp_path / "npz", "npz")).num_classes == 2
    import zipfile

    (tmp_path / "zipped").mkdir()  # the download's zip pushed as it is: datasets read its train_images/ as a class
    with zipfile.ZipFile(tmp_path / "zipped" / "aptos.zip", "w") as zf:
        for path in up.rglob("*"):
            zf.write(path, path.relative_to(up.parent))
    zipped = load(_upload(hub, tmp_path / "zipped", "zipped"))
    assert zipped.info["label_column"] == "diagnosis" and zipped.fingerprint == prepared.fingerprint
    (tmp_path / "archived").mkdir()  # train.csv beside train_images.zip (and a submission template): datasets read
    (tmp_path / "archived" / "train.csv").write_bytes((up / "train.csv").read_bytes())  # the table alone
    (tmp_path / "archived" / "sample_submission.csv").write_text("id_code,diagnosis\nx,0\n")
    with zipfile.ZipFile(tmp_path / "archived" / "train_images.zip", "w") as zf:
        for path in (up / "train_images").iterdir():
            zf.write(path, path.relative_to(up))
    archived = load(_upload(hub, tmp_path / "archived", "archived"))
    assert archived.info["label_column"] == "diagnosis" and archived.fingerprint == prepared.fingerprint
    for layout in ("{split}/{cls}/{i}.png", "{split}/{cls}.{i}.png"):  # zips of class folders; Dogs vs. Cats' names
        (tmp_path / "zips").mkdir(exist_ok=True)  # (datasets: "Invalid string class label <repo>@<revision>")
        for split, n in (("train", 12), ("test", 4)):
            with zipfile.ZipFile(tmp_path / "zips" / f"{split}.zip", "w") as zf:
                for i in range(n):
                    name = ["red", "blue"][i % 2]
                    zf.writestr(layout.format(split=split, cls=name, i=i), png_bytes(make_image(colours[name], i)))
        zips = load(_upload(hub, tmp_path / "zips", "zips"))
        assert zips.class_names == ["blue", "red"] and len(zips.test) == 4, layout
        assert len(zips.train) + len(zips.validation) == 12
    import h5py

    (tmp_path / "h5").mkdir()
    with h5py.File(tmp_path / "h5" / "Galaxy10.h5", "w") as f:
        f["images"], f["ans"] = x, np.arange(10) % 2
    assert load(_upload(hub, tmp_path / "h5", "h5")).info["format"] == "hdf5"


def test_a_hub_dataset_named_as_users_copy_it(hub_dataset):
    """Its page's URL (with /tree/REV: the revision), an hf:// path, timm's hfds/ prefix: was "not a valid Hub
    dataset id"."""
    from hf_quicktune.data.hub_source import hub_reference
    from hf_quicktune.run.settings import RunSettings

    assert hub_reference("https://huggingface.co/datasets/org/name") == ("org/name", None)
    assert hub_reference("huggingface.co/datasets/org/name/tree/v2/data?x=1") == ("org/name", "v2")
    assert hub_reference("https://hf.co/datasets/org/name/blob/main/README.md") == ("org/name", None)
    assert hub_reference("hf://datasets/org/name@refs%2Fconvert%2Fparquet/train") == ("org/name",
                                                                                    "refs/convert/parquet")
    assert hub_reference("hfds/beans") == ("beans", None) and hub_reference("wds/timm/x-wds") == ("timm/x-wds", None)
    assert hub_reference("org/name") is None and hub_reference("https://example.com/datasets/a/b") is None
    url = f"https://huggingface.co/datasets/{hub_dataset}/tree/v2"
    assert len(load(url).splits["train"]) + len(load(url).splits["validation"]) == 20  # v2's 20 rows
    assert load(f"hfds/{hub_dataset}").fingerprint == load(hub_dataset).fingerprint
    settings = RunSettings(dataset=url, budget="1m").validate()  # the run, its card and summary name the id
    assert (settings.dataset, settings.revision) == (hub_dataset, "v2")


def test_a_hub_datasets_unlabelled_test_split_is_named_to_classify(hub, caplog, capsys, tmp_path):
    """A competition on the Hub: train.parquet with labels, test.parquet without. The test split is left out and the
    warning and run's summary say `predict RUN org/name --split test` (was: `predict RUN_FOLDER FILE`)."""
    from hf_quicktune.commands.run import _finish

    repo = f"qt-org/comp-{uuid.uuid4().hex[:8]}"
    hub.api.create_repo(repo, repo_type="dataset")
    train = pd.read_parquet(io.BytesIO(_parquet(12, 0)))
    for name, frame in (("train", train), ("test", train[["image"]].head(4))):
        buf = io.BytesIO()
        frame.to_parquet(buf)
        hub.api.upload_file(path_or_fileobj=buf.getvalue(), path_in_repo=f"data/{name}.parquet", repo_id=repo,
                            repo_type="dataset")
    with caplog.at_level("WARNING"):
        prepared = load(repo)
    assert prepared.test is None and prepared.info["unlabelled_splits"] == ["test"]
    assert f"classify it after the run with `hf-quicktune predict RUN_FOLDER {repo} --split test`" in caplog.text
    summary = {"output_dir": str(tmp_path / "run"), "export_dir": str(tmp_path / "run" / "export"), "card": "x",
               "dataset": repo, "unlabelled_splits": ["test"], "best_model": "m", "epoch_steps": 1}
    _finish(summary, as_json=False)
    assert f"classify:    hf-quicktune predict {tmp_path / 'run'} {repo} --split test -o predictions.csv" in \
        capsys.readouterr().out


def test_a_hub_dataset_of_several_configurations_and_no_default_names_them(hub):
    """datasets' "Config name is missing." was all the message said (with "configuration None")."""
    import datasets

    repo = hub.unique_repo_id("twoconf")
    rows = {"image": [{"bytes": png_bytes(make_image((200, 30, 30), i)), "path": None} for i in range(6)],
            "label": ["red", "blue"] * 3}
    for name in ("coarse", "fine"):
        datasets.Dataset.from_dict(rows).push_to_hub(repo, config_name=name)
    with pytest.raises(DatasetError, match=r"has several configurations \(coarse, fine\) and none is its default"
                       ) as info:
        load(repo)
    assert info.value.fix.endswith("--dataset-config coarse.")
    assert len(load(repo, config="fine", val_fraction=0.34).train) == 4


def test_a_dataset_built_by_a_script_is_read_from_the_hubs_parquet_conversion(hub, caplog):
    """datasets >= 4 runs no loading script: the Hub's conversion (``refs/convert/parquet``: ``CONFIG/SPLIT/0000.parquet``)
    is read instead, with a warning; without one, the error says what to do."""
    repo = hub.unique_repo_id("scripted")
    name = repo.split("/")[1]
    hub.api.create_repo(repo, repo_type="dataset")
    hub.api.upload_file(path_or_fileobj=b"import datasets\n", path_in_repo=f"{name}.py", repo_id=repo,
                        repo_type="dataset")
    with pytest.raises(DatasetError, match="built by a loading script") as info:
        load(repo)
    assert info.value.code == "dataset_script" and "export it to parquet" in info.value.fix
    hub.api.create_branch(repo, branch="refs/convert/parquet", repo_type="dataset")
    before = len(hub.requests)
    with pytest.raises(DatasetError, match="built by a loading script"):  # a conversion holding the script: once
        load(repo)
    assert len(hub.requests) - before < 200  # tried once, not again and again
    hub.api.delete_file(f"{name}.py", repo_id=repo, repo_type="dataset", revision="refs/convert/parquet")
    for split, n, seed in (("train", 12, 0), ("test", 4, 100)):
        hub.api.upload_file(path_or_fileobj=_parquet(n, seed), path_in_repo=f"default/{split}/0000.parquet",
                            repo_id=repo, repo_type="dataset", revision="refs/convert/parquet")
    with caplog.at_level(logging.WARNING):
        converted = load(repo)
    assert len(converted.train) + len(converted.validation) == 12 and len(converted.test) == 4
    assert converted.info["revision"] == "refs/convert/parquet" and "parquet conversion" in caplog.text


def test_a_hub_imagefolder_whose_metadata_file_leaves_images_out_says_so(hub, tmp_path, caplog):
    """An imagefolder repo with a metadata.csv listing 6 of its 8 training images: datasets reads the 6 and left the
    other 2 out in silence."""
    for i in range(8):
        cls = ("cat", "dog")[i % 2]
        (tmp_path / "up" / "train" / cls).mkdir(parents=True, exist_ok=True)
        make_image((200, 40, 40) if cls == "cat" else (40, 40, 200), i).save(tmp_path / "up" / "train" / cls / f"{i}.png")
    pd.DataFrame({"file_name": [f"{('cat', 'dog')[i % 2]}/{i}.png" for i in range(6)],
                  "label": [("cat", "dog")[i % 2] for i in range(6)]}).to_csv(tmp_path / "up" / "train" / "metadata.csv",
                                                                              index=False)
    repo = _upload(hub, tmp_path / "up", "listed")
    with caplog.at_level(logging.WARNING):
        prepared = load(repo)
    assert len(prepared.train) + len(prepared.validation) == 6
    assert f"2 of the 8 images of the train split of {repo} are not in its metadata file" in caplog.text


def test_a_hub_imagefolder_of_folders_inside_class_folders_says_how_datasets_named_the_classes(hub, tmp_path, caplog):
    """``cat/s1/*.png``, ``dog/s2/*.png``: datasets names the classes s1 and s2 (the folder holding each image), where
    a local folder is read by its top folders (cat, dog); which is meant only the user knows: said, with the way to
    read it by the top folders. Class folders under split folders say nothing."""
    for i in range(12):
        cls = ("cat", "dog")[i % 2]
        folder = tmp_path / "up" / cls / ("s1" if cls == "cat" else "s2")
        folder.mkdir(parents=True, exist_ok=True)
        make_image((200, 40, 40) if cls == "cat" else (40, 40, 200), i).save(folder / f"{i}.png")
        flat = tmp_path / "flat" / ("train" if i < 8 else "test") / cls
        flat.mkdir(parents=True, exist_ok=True)
        make_image((200, 40, 40) if cls == "cat" else (40, 40, 200), i).save(flat / f"{i}.png")
    repo = _upload(hub, tmp_path / "up", "nested")
    with caplog.at_level(logging.WARNING):
        prepared = load(repo)
    assert prepared.class_names == ["s1", "s2"]  # datasets' reading stands
    assert (f"{repo} holds its images in folders inside folders (cat/s1/, dog/s2/): datasets names each image's class "
            "by the folder holding it (s1, s2), not by the top folder (cat, dog)") in caplog.text
    assert f"`hf download {repo} --repo-type dataset --local-dir DIR`" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert load(_upload(hub, tmp_path / "flat", "flat")).class_names == ["cat", "dog"]
    assert "folders inside folders" not in caplog.text
