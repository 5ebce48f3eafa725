"""``hf-quicktune predict``: an exported model classifies image files and folders into a CSV, as the model's own
evaluation would (the same probabilities); a labelled folder gives the accuracy; bad input says what to do."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from hf_quicktune import predict
from hf_quicktune.cli import main
from hf_quicktune.data.transforms import build_transform
from hf_quicktune.errors import ConfigError, DatasetError
from hf_quicktune.publish.export import export_timm_model

DATA_CONFIG = {"input_size": (3, 32, 32), "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25),
               "interpolation": "bilinear", "crop_pct": 1.0}
LABELS = ["cat", "dog", "owl"]


@pytest.fixture
def exported(tmp_path):
    """A run folder whose export/ holds a tiny timm classifier of three classes."""
    torch.manual_seed(0)
    model = timm.create_model("test_efficientnet", num_classes=3).eval()
    export_timm_model(model, tmp_path / "run" / "export", label_names=LABELS, data_config=DATA_CONFIG)
    (tmp_path / "run" / "state.json").write_text("{}")
    return model, tmp_path / "run"


def _images(folder, n: int, seed: int, mode: str = "RGB") -> list:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        if mode == "I;16":
            image = Image.fromarray(rng.integers(1000, 4000, (40, 40), dtype=np.uint16))
        else:
            image = Image.fromarray(rng.integers(0, 256, (40 + i, 36, 3), dtype=np.uint8))
        path = folder / f"{i}.png"
        image.save(path)
        paths.append(path)
    return paths


def test_rows_match_the_models_own_evaluation(exported, tmp_path):
    model, run = exported
    paths = _images(tmp_path / "photos", 5, 0) + _images(tmp_path / "photos" / "scans", 2, 1, mode="I;16")
    loaded = predict.load(str(run))  # a run's folder: its export/
    rows = predict.predict(loaded, predict.find_images([str(tmp_path / "photos")]), top_k=2, batch_size=3)
    assert [r["path"] for r in rows] == sorted(str(p) for p in paths)
    transform = build_transform(DATA_CONFIG, train=False)  # the run's evaluation transform
    for row in rows:
        with Image.open(row["path"]) as image:
            from hf_quicktune.data.transforms import ToRGB

            with torch.no_grad():
                probs = model(transform(ToRGB()(image)).unsqueeze(0)).softmax(-1)[0]
        best = int(probs.argmax())
        assert row["label"] == LABELS[best] and row["probability"] == pytest.approx(float(probs[best]), abs=1e-5)
        assert len(row["top"]) == 2 and row["top"][0][0] == row["label"] and row["error"] is None


def test_threads_decoding_a_batch_give_the_rows_of_one_thread_in_order(exported, tmp_path):
    """A batch's images are decoded by several threads (a GPU waited on one core's decoding): the same rows, in
    the inputs' order, an unreadable file's error at its place."""
    _, run = exported
    paths = _images(tmp_path / "photos", 9, 3)
    (tmp_path / "photos" / "4b.png").write_bytes(b"<html>not found</html>")  # sorted between 4.png and 5.png
    loaded = predict.load(str(run))
    items = predict.find_images([str(tmp_path / "photos")])
    one = predict.predict(loaded, items, batch_size=4, threads=1)
    assert predict.predict(loaded, items, batch_size=4, threads=4) == one
    assert [r["path"] for r in one] == [str(p) for p in sorted([*paths, tmp_path / "photos" / "4b.png"])]
    assert [r["error"] is not None for r in one] == [r["path"].endswith("4b.png") for r in one]


def test_a_ctrl_c_drops_the_next_batchs_decoding(exported, tmp_path, monkeypatch):
    """The next batch is decoded while this one is classified: a Ctrl-C cancels it instead of waiting for all of
    its images (a batch of large photos took seconds to stop)."""
    import threading
    import time

    _, run = exported
    loaded = predict.load(str(run))
    items = predict.find_images([str(p) for p in _images(tmp_path / "photos", 6, 5)]) * 8  # 48 images
    decoded, lock, real = [], threading.Lock(), predict._prepare

    def slow(model, item):
        time.sleep(0.05)
        with lock:
            decoded.append(item)
        return real(model, item)

    def interrupt(done, total):
        raise KeyboardInterrupt

    monkeypatch.setattr(predict, "_prepare", slow)
    with pytest.raises(KeyboardInterrupt):
        predict.predict(loaded, items, batch_size=16, threads=2, progress=interrupt)
    assert len(decoded) < 16 + 16  # the first batch, and at most the two images decoding when it was cancelled


def test_cli_writes_the_csv_and_the_accuracy_of_a_labelled_folder(exported, tmp_path, capsys):
    _, run = exported
    for i, name in enumerate(LABELS):
        _images(tmp_path / "test" / name, 3, 10 + i)
    (tmp_path / "test" / "cat" / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out" / "predictions.csv"
    assert main(["predict", str(run / "export"), str(tmp_path / "test"), "-o", str(out), "--top-k", "3"]) == 0
    printed = capsys.readouterr()
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 10 and set(rows[0]) == {"path", "label", "probability", "top_k", "error", "true"}
    broken = [r for r in rows if r["path"].endswith("broken.png")]
    assert broken[0]["label"] == "" and "UnidentifiedImageError" in broken[0]["error"]
    assert "not an image format Pillow reads (it starts with 6e 6f 74" in broken[0]["error"]  # what the file is
    good = [r for r in rows if not r["error"]]
    accuracy = sum(r["label"] == r["true"] for r in good) / len(good)
    assert f"accuracy {100 * accuracy:.2f} % on 9 images" in printed.out
    assert "1 unreadable" in printed.out and "unreadable: " in printed.err
    assert all(len(r["top_k"].split("; ")) == 3 for r in good)
    assert main(["predict", str(run), str(tmp_path / "test" / "dog"), "-o", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["images"] == 3 and summary["unreadable"] == 0 and "accuracy" in summary
    assert main(["predict", str(run), str(tmp_path / "test" / "dog"), "-o", str(tmp_path / "out"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["output"] == str(tmp_path / "out" / "predictions.csv")


def test_bad_input_says_what_to_do(exported, tmp_path, capsys, caplog):
    _, run = exported
    (tmp_path / "empty").mkdir()
    (tmp_path / "phone").mkdir()
    _images(tmp_path / "phone", 1, 3)
    (tmp_path / "phone" / "IMG_0001.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic")
    (tmp_path / "phone" / "notes.txt").write_text("x")
    with caplog.at_level("WARNING"):
        assert len(predict.find_images([str(tmp_path / "phone")])) == 1
    assert "1 file(s) are not of an image type hf-quicktune reads and are not classified (1 .heic)" in caplog.text
    with pytest.raises(DatasetError, match="no image found"):
        predict.find_images([str(tmp_path / "empty")])
    with pytest.raises(DatasetError, match="no such file or folder"):
        predict.find_images([str(tmp_path / "missing")])
    with pytest.raises(DatasetError, match="no such file or folder") as err:  # not taken for a Hub dataset's name
        predict.find_images(["missing_photos"])
    assert "a Hub dataset without an owner as hf://datasets/missing_photos" in err.value.fix
    (tmp_path / "unfinished").mkdir()
    (tmp_path / "unfinished" / "state.json").write_text("{}")
    with pytest.raises(ConfigError, match="has not exported a model yet.*--resume"):
        predict.load(str(tmp_path / "unfinished"))
    with pytest.raises(ConfigError, match="no model at './nowhere'"):
        predict.resolve("./nowhere")
    # a Hub model named as users copy it: timm's hf-hub: prefix, the model page's URL (not a dataset's or Space's)
    assert predict.resolve("hf-hub:me/best") == predict.resolve("https://huggingface.co/me/best/tree/main") == \
        predict.resolve("hf.co/me/best") == "hf-hub:me/best"
    with pytest.raises(ConfigError, match="no model at"):
        predict.resolve("https://huggingface.co/datasets/me/data")
    assert main(["predict", str(tmp_path / "unfinished"), str(run)]) == 2
    assert "has not exported a model yet" in capsys.readouterr().err


@pytest.mark.hub
def test_a_model_pushed_to_the_hub_classifies_as_its_export(exported, tmp_path, hub, monkeypatch):
    from hf_quicktune.publish import push_to_hub

    _, run = exported
    repo = hub.unique_repo_id("predict")
    push_to_hub(run / "export", repo)
    paths = _images(tmp_path / "photos", 3, 5)
    local = predict.predict(predict.load(str(run)), paths)
    remote = predict.predict(predict.load(repo), paths)
    assert predict.load(repo).name == f"hf-hub:{repo}" and predict.load(repo).labels == LABELS
    assert [(r["label"], round(r["probability"], 5)) for r in remote] == \
        [(r["label"], round(r["probability"], 5)) for r in local]
    # a Hub that does not answer: the cached model loads without a request, an uncached one fails without retries
    from hf_quicktune import constants
    from hf_quicktune.errors import HubError

    monkeypatch.setattr(constants, "hub_reachable", lambda timeout=3.0: False)
    before = len(hub.requests)
    assert predict.load(repo).labels == LABELS
    with pytest.raises(HubError, match="cannot be reached"):
        predict.load(hub.unique_repo_id("never-pushed"))
    assert len(hub.requests) == before


def test_a_phone_photo_is_classified_upright_as_training_saw_it(exported, tmp_path):
    model, run = exported
    pixels = np.zeros((30, 60, 3), dtype=np.uint8)
    pixels[:, :20] = (250, 20, 20)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    Image.fromarray(pixels).save(tmp_path / "photo.jpg", exif=exif.tobytes(), quality=95)
    row = predict.predict(predict.load(str(run)), [tmp_path / "photo.jpg"], top_k=3)[0]
    with Image.open(tmp_path / "photo.jpg") as stored:
        upright = stored.transpose(Image.Transpose.ROTATE_270)  # what EXIF orientation 6 displays
    with torch.no_grad():
        probs = model(build_transform(DATA_CONFIG, train=False)(upright).unsqueeze(0)).softmax(-1)[0]
    assert dict(row["top"]) == pytest.approx({LABELS[i]: float(p) for i, p in enumerate(probs)}, abs=1e-5)
    with Image.open(tmp_path / "photo.jpg") as stored:  # the Space's Try it: one opened image
        assert predict.classify(stored, predict.load(str(run)), top_k=3) == pytest.approx(dict(row["top"]), abs=1e-5)


def test_a_zipped_folder_of_images_is_classified(exported, tmp_path):
    """A competition's test set comes zipped: it is unpacked once into the cache and its images classified."""
    import zipfile

    _, run = exported
    paths = _images(tmp_path / "test_images", 4, 7)
    with zipfile.ZipFile(tmp_path / "test.zip", "w") as zf:
        for path in paths:
            zf.write(path, f"test_images/{path.name}")
    found = predict.find_images([str(tmp_path / "test.zip")])
    rows = predict.predict(predict.load(str(run)), found)
    direct = predict.predict(predict.load(str(run)), paths)
    assert [r["label"] for r in rows] == [r["label"] for r in direct]
    # named by the archive and the path inside it (was: the cache folder it was unpacked into)
    assert [r["path"] for r in rows] == [f"{tmp_path / 'test.zip'}:test_images/{p.name}" for p in paths]
    # the folder the download was unzipped into, its test set still zipped: the images inside (was "no image found")
    (tmp_path / "download").mkdir()
    (tmp_path / "test.zip").rename(tmp_path / "download" / "test.zip")
    (tmp_path / "download" / "sample_submission.csv").write_text("id,label\n")
    inside = predict.find_images([str(tmp_path / "download")])
    assert [str(i) for i in inside] == [f"{tmp_path / 'download' / 'test.zip'}:test_images/{p.name}" for p in paths]


def test_a_kaggle_test_table_of_pixels_is_classified_by_row(exported, tmp_path, capsys):
    """The Digit Recognizer's test.csv (pixel0 ... pixel63, no label): a row per image, keyed by its number, each
    classified as the same picture saved as a PNG file."""
    import pandas as pd

    _, run = exported
    rng = np.random.default_rng(4)
    pictures = rng.integers(0, 256, (5, 8, 8), dtype=np.uint8)
    pd.DataFrame(pictures.reshape(5, -1), columns=[f"pixel{i}" for i in range(64)]).to_csv(tmp_path / "test.csv",
                                                                                           index=False)
    files = []
    for i, picture in enumerate(pictures):
        Image.fromarray(picture).save(tmp_path / f"{i}.png")
        files.append(tmp_path / f"{i}.png")
    loaded = predict.load(str(run))
    by_file = predict.predict(loaded, files, top_k=3)
    out = tmp_path / "submission.csv"
    assert main(["predict", str(run), str(tmp_path / "test.csv"), "-o", str(out), "--top-k", "3"]) == 0
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["row"] for r in rows] == ["0", "1", "2", "3", "4"] and "true" not in rows[0]
    assert [r["label"] for r in rows] == [r["label"] for r in by_file]
    assert [float(r["probability"]) for r in rows] == pytest.approx([r["probability"] for r in by_file], abs=1e-5)
    assert "accuracy" not in capsys.readouterr().out
    # the competition's sample_submission.csv numbers the rows from 1 (ImageId, Label)
    pd.DataFrame({"ImageId": range(1, 6), "Label": 0}).to_csv(tmp_path / "sample_submission.csv", index=False)
    assert main(["predict", str(run), str(tmp_path / "test.csv"), "--submission",
                 str(tmp_path / "sample_submission.csv"), "-o", str(out)]) == 0
    written = pd.read_csv(out, dtype=str)
    assert list(written.columns) == ["ImageId", "Label"] and list(written["ImageId"]) == ["1", "2", "3", "4", "5"]
    assert list(written["Label"]) == [str(LABELS.index(r["label"])) for r in by_file]  # the model's classes by index


def test_a_labelled_table_of_files_gives_the_accuracy_keyed_by_its_id(exported, tmp_path, capsys):
    """id, file, label (and a split column, not read as the classes): rows keyed by the id, the true class from
    the label column; the files are read from the table's folder."""
    import pandas as pd

    _, run = exported
    paths = _images(tmp_path / "imgs", 6, 9)
    labels = ["cat", "dog", "owl", "cat", "dog", "owl"]
    pd.DataFrame({"ImageId": range(1, 7), "file": [f"imgs/{p.name}" for p in paths], "label": labels,
                  "split": ["test"] * 6}).to_csv(tmp_path / "labelled.csv", index=False)
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(run), str(tmp_path / "labelled.csv"), "-o", str(out)]) == 0
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["ImageId"] for r in rows] == ["1", "2", "3", "4", "5", "6"] and [r["true"] for r in rows] == labels
    direct = predict.predict(predict.load(str(run)), paths)
    assert [r["label"] for r in rows] == [r["label"] for r in direct]
    accuracy = sum(r["label"] == t for r, t in zip(direct, labels)) / 6
    assert f"accuracy {100 * accuracy:.2f} % on 6 images (the table's label column holds the true class)" in \
        capsys.readouterr().out


def test_a_fine_tunes_folder_is_a_model(exported, tmp_path):
    """`hf-quicktune finetune -o OUT` exports into OUT/model/: predict takes OUT as it takes a run's folder."""
    import shutil

    _, run = exported
    shutil.copytree(run / "export", tmp_path / "ft" / "model")
    assert predict.resolve(str(tmp_path / "ft")) == f"local-dir:{tmp_path / 'ft' / 'model'}"


def test_a_tables_label_ids_are_the_models_classes_by_position(exported, tmp_path, capsys):
    """A test table keeps the integer labels a model trained with --class-names was given names for."""
    import pandas as pd

    _, run = exported
    paths = _images(tmp_path / "imgs", 6, 11)
    pd.DataFrame({"file": [f"imgs/{p.name}" for p in paths], "label": [0, 1, 2, 0, 1, 2]}).to_csv(
        tmp_path / "ids.csv", index=False)
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(run), str(tmp_path / "ids.csv"), "-o", str(out)]) == 0
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["true"] for r in rows] == ["cat", "dog", "owl", "cat", "dog", "owl"]
    assert "accuracy" in capsys.readouterr().out


def test_a_keras_npz_classifies_its_test_arrays(exported, tmp_path, capsys):
    """mnist.npz (x_train, y_train, x_test, y_test): its test images are classified by row, as the same pictures
    saved as PNG files, with the accuracy from y_test (integer ids, the model's classes by position); an .npz of
    one unlabelled array is classified without; several arrays and none of them a test split say what to do."""
    _, run = exported
    rng = np.random.default_rng(5)
    pictures = rng.integers(0, 256, (5, 12, 12, 3), dtype=np.uint8)
    truth = np.array([0, 1, 2, 0, 1])
    np.savez(tmp_path / "mnist.npz", x_train=pictures[:2], y_train=truth[:2], x_test=pictures, y_test=truth)
    files = []
    for i, picture in enumerate(pictures):
        Image.fromarray(picture).save(tmp_path / f"{i}.png")
        files.append(tmp_path / f"{i}.png")
    by_file = predict.predict(predict.load(str(run)), files, top_k=3)
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(run), str(tmp_path / "mnist.npz"), "-o", str(out)]) == 0
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["row"] for r in rows] == ["0", "1", "2", "3", "4"]
    assert [r["true"] for r in rows] == ["cat", "dog", "owl", "cat", "dog"]
    assert [r["label"] for r in rows] == [r["label"] for r in by_file]
    assert [float(r["probability"]) for r in rows] == pytest.approx([r["probability"] for r in by_file], abs=1e-5)
    accuracy = sum(r["label"] == t for r, t in zip(by_file, ["cat", "dog", "owl", "cat", "dog"])) / 5
    assert f"accuracy {100 * accuracy:.2f} % on 5 images" in capsys.readouterr().out
    np.savez(tmp_path / "unlabelled.npz", images=pictures.transpose(0, 3, 1, 2))  # channels first, no labels
    assert main(["predict", str(run), str(tmp_path / "unlabelled.npz"), "-o", str(out)]) == 0
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["label"] for r in rows] == [r["label"] for r in by_file] and "true" not in rows[0]
    np.savez(tmp_path / "two.npz", x_train=pictures, x_val=pictures)
    with pytest.raises(DatasetError, match=r"several arrays of images to classify.*x_train \(5, 12, 12, 3\)"):
        predict.find_images([str(tmp_path / "two.npz")])


def test_a_test_folder_named_like_dogs_vs_cats_gives_the_accuracy(exported, tmp_path, capsys):
    """cat.0.png, dog.3.png, ...: the file names carry the true classes (data/name_labels), as training read them."""
    _, run = exported
    paths = _images(tmp_path / "named", 6, 12)
    names = [f"{LABELS[i % 3]}.{i}.png" for i in range(6)]
    for path, name in zip(paths, names):
        path.rename(tmp_path / "named" / name)
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(run), str(tmp_path / "named"), "-o", str(out)]) == 0
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert {(Path(r["path"]).name, r["true"]) for r in rows} == {(n, n.split(".")[0]) for n in names}
    assert "on 6 images (their file names carry the true class)" in capsys.readouterr().out


def test_a_competitions_test_table_of_ids_is_classified_keyed_by_them(exported, tmp_path):
    """APTOS' test.csv (id_code) with test_images/<id_code>.png beside it: rows keyed by the ids, as a submission."""
    import pandas as pd

    _, run = exported
    paths = _images(tmp_path / "test_images", 4, 13)
    ids = [f"{i:03x}ab" for i in range(4)]
    for path, key in zip(paths, ids):
        path.rename(tmp_path / "test_images" / f"{key}.png")
    pd.DataFrame({"id_code": ids}).to_csv(tmp_path / "test.csv", index=False)
    direct = predict.predict(predict.load(str(run)), [tmp_path / "test_images" / f"{k}.png" for k in ids])
    out = tmp_path / "submission.csv"
    assert main(["predict", str(run), str(tmp_path / "test.csv"), "-o", str(out)]) == 0
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["id_code"] for r in rows] == ids and [r["label"] for r in rows] == [r["label"] for r in direct]
    # the download as it came: test.csv beside test_images.zip (was: "No image column found")
    import zipfile

    (tmp_path / "zipped").mkdir()
    (tmp_path / "zipped" / "test.csv").write_bytes((tmp_path / "test.csv").read_bytes())
    with zipfile.ZipFile(tmp_path / "zipped" / "test_images.zip", "w") as zf:
        for key in ids:
            zf.write(tmp_path / "test_images" / f"{key}.png", f"test_images/{key}.png")
    assert main(["predict", str(run), str(tmp_path / "zipped" / "test.csv"), "-o", str(out)]) == 0
    with out.open() as fh:
        assert list(csv.DictReader(fh)) == rows
    assert sorted(p.name for p in (tmp_path / "zipped").iterdir()) == ["test.csv", "test_images.zip"]


def test_a_submission_in_the_templates_format(exported, tmp_path, capsys, monkeypatch):
    """--submission sample_submission.csv: the template's ids (a test.csv's keys, or the test images' file names or
    stems) and columns, in its row order: the class (APTOS' diagnosis; an index where the template holds numbers
    and the classes are names), or each class's probability (a column per class, Plant Pathology's)."""
    import pandas as pd

    _, run = exported
    paths = _images(tmp_path / "test1", 4, 21)  # test1/0.png ... 3.png, as Dogs vs. Cats' test1/ (ids: stems)
    direct = {p.stem: r for p, r in zip(paths, predict.predict(predict.load(str(run)), paths, top_k=3))}
    order = ["3", "0", "2", "1"]
    pd.DataFrame({"id": order, "label": ["cat"] * 4}).to_csv(tmp_path / "names.csv", index=False)
    assert main(["predict", str(run), str(tmp_path / "test1"), "--submission", str(tmp_path / "names.csv"),
                 "-o", str(tmp_path / "out") + "/"]) == 0  # a folder: submission.csv in it
    written = pd.read_csv(tmp_path / "out" / "submission.csv", dtype=str)
    assert list(written.columns) == ["id", "label"] and list(written["id"]) == order
    assert list(written["label"]) == [direct[i]["label"] for i in order]
    assert "(the 4 rows of names.csv's format)" in capsys.readouterr().out
    pd.DataFrame({"id": order, "label": [0] * 4}).to_csv(tmp_path / "ids.csv", index=False)  # numbers: class ids
    monkeypatch.chdir(tmp_path)  # no -o: submission.csv here
    assert main(["predict", str(run), str(tmp_path / "test1"), "--submission", str(tmp_path / "ids.csv")]) == 0
    written = pd.read_csv("submission.csv", dtype=str)
    assert list(written["label"]) == [str(LABELS.index(direct[i]["label"])) for i in order]
    template = pd.DataFrame({"image_id": [f"{i}.png" for i in order], **{c: 0.25 for c in ("owl", "cat", "dog")}})
    template.to_csv(tmp_path / "probs.csv", index=False)  # file names as ids; a column per class
    out = tmp_path / "probs-out.csv"
    assert main(["predict", str(run), str(tmp_path / "test1"), "--submission", str(tmp_path / "probs.csv"), "-o",
                 str(out)]) == 0
    written = pd.read_csv(out)
    assert list(written.columns) == ["image_id", "owl", "cat", "dog"]
    for _, row in written.iterrows():
        expected = dict(direct[row["image_id"].split(".")[0]]["top"])
        assert [row[c] for c in ("owl", "cat", "dog")] == pytest.approx([expected[c] for c in ("owl", "cat", "dog")],
                                                                       abs=1e-5)
    assert written[["owl", "cat", "dog"]].sum(axis=1).tolist() == pytest.approx([1.0] * 4, abs=1e-4)


def test_a_binary_submission_scored_on_probabilities_gets_the_second_class(tmp_path):
    """Dogs vs. Cats' sampleSubmission.csv (id, label 0.5): the probability of the second class (1 = dog)."""
    import pandas as pd

    from hf_quicktune import submission

    rows = [{"path": f"/t/{i}.jpg", "label": "cat", "error": None, "top": [("cat", 0.8 - i / 10), ("dog", 0.2 + i / 10)]}
            for i in range(1, 4)]
    template = pd.DataFrame({"id": ["2", "1", "3"], "label": ["0.5"] * 3})
    filled = submission.fill_template(template, rows, ["cat", "dog"])
    assert list(filled["label"].astype(float)) == pytest.approx([0.4, 0.3, 0.5])
    whole = submission.fill_template(pd.DataFrame({"id": ["1"], "label": ["0"]}), rows, ["cat", "dog"])
    assert list(whole["label"]) == ["0"]  # whole numbers: the class's index


def test_a_submission_of_one_classs_probability(tmp_path):
    """SIIM-ISIC's template (image_name, target 0: whole numbers, scored on AUC): --probability-of fills that
    class's probability; a column named after a class gets it unasked (of more than two classes); without either,
    the classes are written and a note says what a probability needs."""
    import pandas as pd

    from hf_quicktune import submission

    rows = [{"path": f"/t/ISIC_{i}.jpg", "label": "0", "error": None, "top": [("0", 0.9 - i / 10), ("1", 0.1 + i / 10)]}
            for i in range(1, 4)]
    template = pd.DataFrame({"image_name": ["ISIC_3", "ISIC_1"], "target": ["0", "0"]})
    filled = submission.fill_template(template, rows, ["0", "1"], probability_of="1")
    assert list(filled["target"].astype(float)) == pytest.approx([0.4, 0.2])
    assert submission.class_placeholder_note(template, ["0", "1"], probability_of="1") is None
    assert list(submission.fill_template(template, rows, ["0", "1"])["target"]) == ["0", "0"]
    note = submission.class_placeholder_note(template, ["0", "1"])
    assert note is not None and "rerun with --probability-of 1 for that class's probability" in note
    assert submission.class_placeholder_note(template, ["0", "1", "2"]) is None  # a class id of three: no doubt
    assert submission.class_placeholder_note(pd.DataFrame({"id": ["1"], "label": ["0.5"]}), ["0", "1"]) is None
    lesions = ["MEL", "NV", "BCC"]
    rows = [{"path": "/t/a.jpg", "label": "NV", "error": None, "top": [("MEL", 0.3), ("NV", 0.6), ("BCC", 0.1)]}]
    named = pd.DataFrame({"image": ["a"], "MEL": ["0"]})
    assert list(submission.fill_template(named, rows, lesions)["MEL"]) == ["0.300000"]
    assert list(submission.fill_template(named, rows, lesions, probability_of="BCC")["MEL"]) == ["0.100000"]
    with pytest.raises(DatasetError, match=r"--probability-of melanoma: the model has no such class \(its classes: "
                                           r"MEL, NV, BCC\)"):
        submission.fill_template(named, rows, lesions, probability_of="melanoma")
    per_class = pd.DataFrame({"image": ["a"], "MEL": ["0"], "NV": ["0"], "BCC": ["0"]})
    with pytest.raises(DatasetError, match="the template has 3 columns to fill"):
        submission.fill_template(per_class, rows, lesions, probability_of="MEL")


def test_probability_of_on_the_command_line(exported, tmp_path, capsys):
    """``predict --submission T --probability-of CLASS``; the note on a two-class template is printed (and in
    --json); --probability-of without a template or with no such class fails before any image is classified."""
    import pandas as pd

    _, run = exported
    paths = _images(tmp_path / "test", 2, 23)
    pd.DataFrame({"id": [p.stem for p in paths], "label": [0, 0]}).to_csv(tmp_path / "t.csv", index=False)
    direct = predict.predict(predict.load(str(run)), paths, top_k=3)
    out = tmp_path / "s.csv"
    assert main(["predict", str(run), str(tmp_path / "test"), "--submission", str(tmp_path / "t.csv"),
                 "--probability-of", "dog", "-o", str(out)]) == 0
    assert list(pd.read_csv(out)["label"]) == pytest.approx([dict(r["top"])["dog"] for r in direct], abs=1e-5)
    assert main(["predict", str(run), str(tmp_path / "test"), "--probability-of", "dog"]) == 2
    assert "--probability-of fills a competition's template: pass --submission" in capsys.readouterr().err
    assert main(["predict", str(run), str(tmp_path / "test"), "--submission", str(tmp_path / "t.csv"),
                 "--probability-of", "horse", "-o", str(out)]) != 0
    assert "the model has no such class" in capsys.readouterr().err


def test_a_submission_says_what_does_not_fit(exported, tmp_path):
    import pandas as pd

    _, run = exported
    _images(tmp_path / "test", 2, 22)
    pd.DataFrame({"id": ["0", "1", "7"], "label": ["cat"] * 3}).to_csv(tmp_path / "extra.csv", index=False)
    with pytest.raises(DatasetError, match=r"1 of the 3 ids of .*extra\.csv \(id: 7\) name no image classified"):
        _fill(run, tmp_path, "extra.csv")
    pd.DataFrame({"id": ["0", "1"], "a": [1, 2], "b": [3, 4]}).to_csv(tmp_path / "cols.csv", index=False)
    with pytest.raises(DatasetError, match=r"\(a, b\) are neither one column for the class nor a column per class"):
        _fill(run, tmp_path, "cols.csv")
    pd.DataFrame({"id": ["0", "1"], "PredictionString": ["0.5 0 0 100 100", ""]}).to_csv(tmp_path / "boxes.csv",
                                                                                      index=False)
    with pytest.raises(DatasetError, match=r"PredictionString .* holds several values per image \('0.5 0 0 100 100'\)"):
        _fill(run, tmp_path, "boxes.csv")  # a detection competition's: not a class
    (tmp_path / "one.csv").write_text("id\n0\n")
    with pytest.raises(DatasetError, match="has 1 column"):
        _fill(run, tmp_path, "one.csv")


def _fill(run, tmp_path, name: str):
    from hf_quicktune import submission

    loaded = predict.load(str(run))
    rows = predict.predict(loaded, predict.find_images([str(tmp_path / "test")]), top_k=3)
    return submission.fill_template(submission.read_template(tmp_path / name), rows, loaded.labels,
                                    where=str(tmp_path / name))


def test_a_folder_of_dicom_scans_is_classified_as_training_read_them(exported, tmp_path, dicom_file):
    """``.dcm`` files are images (data/dicom.py): listed in a folder, windowed or stretched as in training."""
    model, run = exported
    rng = np.random.default_rng(5)
    for i in range(3):
        dicom_file(tmp_path / "scans" / f"{i}.dcm", rng.integers(0, 4000, (40, 36)).astype(np.uint16),
                   window=(2000, 3000) if i else None)
    rows = predict.predict(predict.load(str(run)), predict.find_images([str(tmp_path / "scans")]), top_k=1)
    assert [Path(r["path"]).name for r in rows] == ["0.dcm", "1.dcm", "2.dcm"]
    transform = build_transform(DATA_CONFIG, train=False)
    for row in rows:
        with torch.no_grad():
            probs = model(transform(Image.open(row["path"])).unsqueeze(0)).softmax(-1)[0]
        assert row["error"] is None and row["probability"] == pytest.approx(float(probs.max()), abs=1e-5)
    # a PACS export's names (no extension): classified as those with one (was: skipped, "not of an image type")
    for i, name in enumerate(("IM000001", "1.2.840.10008.7")):
        (tmp_path / "scans" / f"{i}.dcm").rename(tmp_path / "scans" / name)
    (tmp_path / "scans" / "NOTES").write_text("not a scan")
    bare = predict.predict(predict.load(str(run)), predict.find_images([str(tmp_path / "scans")]), top_k=1)
    assert [Path(r["path"]).name for r in bare] == ["1.2.840.10008.7", "2.dcm", "IM000001"]
    assert [r["probability"] for r in bare] == [rows[1]["probability"], rows[2]["probability"], rows[0]["probability"]]


def test_a_submission_of_ranked_classes_gets_each_images_k_most_probable(tmp_path):
    """MAP@k competitions (Humpback Whale Identification's ``Id``: ``new_whale w_1 w_2 w_3 w_4``): k classes
    separated by spaces, most probable first; by index where the template's are numbers. A class name with a space
    (Plant Seedlings' ``Sugar beet``) stays one class."""
    import pandas as pd

    from hf_quicktune import submission

    labels = ["new_whale", "w_1", "w_2", "w_3"]
    probs = [[0.1, 0.5, 0.3, 0.1], [0.6, 0.05, 0.15, 0.2]]
    rows = [{"path": f"/t/{i}.jpg", "label": labels[int(np.argmax(p))], "error": None,
             "top": sorted(zip(labels, p), key=lambda pair: pair[0])} for i, p in enumerate(probs)]  # not ranked
    template = pd.DataFrame({"Image": ["1.jpg", "0.jpg"], "Id": ["new_whale w_1 w_2"] * 2})
    assert list(submission.fill_template(template, rows, labels)["Id"]) == ["new_whale w_3 w_2", "w_1 w_2 new_whale"]
    by_index = pd.DataFrame({"Image": ["0.jpg"], "Id": ["0 1"]})
    assert list(submission.fill_template(by_index, rows, labels)["Id"]) == ["1 2"]
    seedlings = ["Sugar beet", "Maize"]
    rows = [{"path": "/t/a.png", "label": "Maize", "error": None, "top": [("Maize", 0.9), ("Sugar beet", 0.1)]}]
    one = pd.DataFrame({"file": ["a.png"], "species": ["Sugar beet"]})
    assert list(submission.fill_template(one, rows, seedlings)["species"]) == ["Maize"]


def test_segmentation_masks_in_a_test_folder_are_not_classified(exported, tmp_path, caplog):
    _, run = exported
    _images(tmp_path / "test" / "cat" / "images", 2, 40)
    _images(tmp_path / "test" / "cat" / "masks", 2, 41)
    paths = _images(tmp_path / "test" / "dog", 2, 42)
    Image.new("L", (40, 36)).save(paths[0].with_name(f"{paths[0].stem}_mask.png"))  # BUSI's: beside its image
    with caplog.at_level("WARNING"):
        found = predict.find_images([str(tmp_path / "test")])
    assert sorted(Path(p).relative_to(tmp_path / "test").as_posix() for p in found) == [
        "cat/images/0.png", "cat/images/1.png", "dog/0.png", "dog/1.png"]
    assert "3 file(s) in" in caplog.text and "are segmentation masks beside the images" in caplog.text


def test_a_webdataset_shard_is_classified_sample_by_sample(exported, tmp_path, capsys):
    """``predict MODEL part-0000.tar`` of KEY.png + KEY.json ({"label": ...}) samples: was unpacked as an archive,
    its json members said to be files to convert to JPEG; now its rows, keyed by the samples' keys, with their
    true classes and the accuracy."""
    import io
    import tarfile

    _, run = exported
    paths = _images(tmp_path / "src", 4, 31)
    direct = predict.predict(predict.load(str(run)), paths, top_k=1)
    with tarfile.open(tmp_path / "part-0000.tar", "w") as tf:
        for i, path in enumerate(paths):
            for name, data in ((f"s{i:03d}.png", path.read_bytes()),
                               (f"s{i:03d}.json", json.dumps({"label": LABELS[i % 3]}).encode())):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    out = tmp_path / "pred.csv"
    assert main(["predict", str(run), str(tmp_path / "part-0000.tar"), "-o", str(out)]) == 0
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["key"] for r in rows] == [f"s{i:03d}" for i in range(4)]
    assert [r["label"] for r in rows] == [r["label"] for r in direct]
    assert [r["true"] for r in rows] == [LABELS[i % 3] for i in range(4)]
    captured = capsys.readouterr()
    assert "(the table's label column holds the true class)" in captured.out and "convert" not in captured.err


@pytest.mark.hub
def test_a_hub_datasets_test_split_is_classified_with_its_classes(exported, hub, tmp_path, capsys):
    """``predict MODEL org/name``: its test split (or ``--split``), each row with its class: was "no such file or
    folder". A split it lacks is said with the ones it has."""
    import io

    import pandas as pd

    _, run = exported
    paths = _images(tmp_path / "src", 5, 41)
    direct = predict.predict(predict.load(str(run)), paths, top_k=1)
    repo = hub.unique_repo_id("heldout")
    hub.api.create_repo(repo, repo_type="dataset")
    for split, chosen in (("train", paths[:2]), ("test", paths)):
        frame = pd.DataFrame({"image": [{"bytes": p.read_bytes(), "path": None} for p in chosen],
                              "label": [LABELS[i % 3] for i in range(len(chosen))]})
        buf = io.BytesIO()
        frame.to_parquet(buf)
        hub.api.upload_file(path_or_fileobj=buf.getvalue(), path_in_repo=f"data/{split}.parquet", repo_id=repo,
                            repo_type="dataset")
    out = tmp_path / "pred.csv"
    before = len(hub.requests)
    assert main(["predict", str(run), repo, "-o", str(out)]) == 0
    fetched = [path for method, path, _ in hub.requests[before:] if method == "GET" and "/resolve/" in path]
    assert any(p.endswith("data/test.parquet") for p in fetched)
    assert not any(p.endswith("data/train.parquet") for p in fetched)  # the split classified is all it downloads
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["label"] for r in rows] == [r["label"] for r in direct]
    assert [r["true"] for r in rows] == [LABELS[i % 3] for i in range(5)]
    expected = sum(r["label"] == LABELS[i % 3] for i, r in enumerate(direct)) / 5
    assert f"accuracy {100 * expected:.2f} % on 5 images" in capsys.readouterr().out
    assert main(["predict", str(run), repo, "--split", "train", "-o", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 3
    assert main(["predict", str(run), repo, "--split", "dev"]) == 2
    assert "has no split 'dev' (its splits: train, test)" in capsys.readouterr().err
