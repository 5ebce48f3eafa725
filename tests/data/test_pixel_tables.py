"""Tables of pixel values read as images (hf_quicktune/data/pixels.py): Kaggle's MNIST-style CSVs (a column per
pixel), FER2013 (a string of values), arrays in parquet; each row's picture comes back exactly."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from hf_quicktune.data import load
from hf_quicktune.data.columns import column_values
from hf_quicktune.errors import DatasetError


def _smooth_rgb(n: int, side: int = 16, seed: int = 0) -> np.ndarray:
    """Photos-like RGB images: smooth fields with independent channels."""
    rng = np.random.default_rng(seed)
    fields = np.stack([gaussian_filter(rng.normal(size=(side, side, 3)), (1.5, 1.5, 0)) for _ in range(n)])
    return ((fields - fields.min()) / (fields.max() - fields.min()) * 255).round().astype(np.uint8)


def _gray(n: int, side: int = 8, seed: int = 0) -> np.ndarray:
    return _smooth_rgb(n, side, seed)[..., 0]


def _pictures(ds) -> np.ndarray:
    return np.stack([np.asarray(ds[i]["image"]) for i in range(len(ds))])


def _all_rows(prepared) -> dict[bytes, int]:
    """Every split's pictures, by their bytes -> label."""
    out = {}
    for split in prepared.splits.values():
        for picture, label in zip(_pictures(split), column_values(split, "label")):
            out[picture.tobytes()] = label
    return out


def _labels(n: int) -> np.ndarray:
    return np.arange(n) % 3


def test_a_kaggle_digit_recognizer_csv(tmp_path: Path):
    """label, pixel0 ... pixel63: each row an 8x8 grayscale image (was: no image column)."""
    images = _gray(30)
    table = pd.DataFrame(images.reshape(30, -1), columns=[f"pixel{i}" for i in range(64)])
    table.insert(0, "label", _labels(30))
    table.to_csv(tmp_path / "train.csv", index=False)
    prepared = load(str(tmp_path / "train.csv"))
    assert prepared.info["pixels"] == "64 pixel columns (pixel0 ... pixel63) read as 8x8 grayscale images"
    assert prepared.info["image_column"] == "pixel0...pixel63" and prepared.info["label_column"] == "label"
    assert prepared.train[0]["image"].mode == "L"
    rows = _all_rows(prepared)
    assert len(rows) == 30
    for image, label in zip(images, _labels(30)):
        assert prepared.class_names[rows[image.tobytes()]] == str(label)


def test_columns_numbered_from_one_and_stored_out_of_order(tmp_path: Path):
    """Sign Language MNIST's pixel1 ... pixel784, here shuffled in the file: read in their numbers' order."""
    images = _gray(12)
    names = [f"pixel{i}" for i in range(1, 65)]
    table = pd.DataFrame(images.reshape(12, -1), columns=names)
    order = list(np.random.default_rng(1).permutation(names))
    table = table[order]
    table["label"] = _labels(12)
    table.to_parquet(tmp_path / "signs.parquet")
    prepared = load(str(tmp_path / "signs.parquet"), val_fraction=0.25)
    assert set(_all_rows(prepared)) == {image.tobytes() for image in images}


@pytest.mark.parametrize("stored", ["planes", "interleaved"])
def test_rgb_columns_in_either_channel_layout(tmp_path: Path, stored: str):
    """3 x s x s columns: CIFAR's own planes (all red, then green, then blue) or r, g, b per pixel, told apart on
    the data."""
    images = _smooth_rgb(12)
    flat = images.transpose(0, 3, 1, 2).reshape(12, -1) if stored == "planes" else images.reshape(12, -1)
    table = pd.DataFrame(flat, columns=[f"p{i}" for i in range(flat.shape[1])])
    table["label"] = _labels(12)
    table.to_csv(tmp_path / "cifar.csv", index=False)
    prepared = load(str(tmp_path / "cifar.csv"), val_fraction=0.25)
    assert prepared.info["pixels"].startswith("768 pixel columns (p0 ... p767) read as 16x16 RGB images")
    assert set(_all_rows(prepared)) == {image.tobytes() for image in images}


def test_fer2013_pixels_as_text_and_its_usage_column(tmp_path: Path):
    """emotion, pixels ('70 80 82 ...'), Usage (Training / PublicTest / PrivateTest): the Usage column splits the
    table, PublicTest validates and PrivateTest tests; the label is 'emotion' (was: no image column; then the
    label was ambiguous between emotion and Usage)."""
    images = _gray(30)
    usage = ["Training"] * 18 + ["PublicTest"] * 6 + ["PrivateTest"] * 6
    pd.DataFrame({"emotion": _labels(30), "pixels": [" ".join(map(str, im.ravel())) for im in images],
                  "Usage": usage}).to_csv(tmp_path / "fer2013.csv", index=False)
    prepared = load(str(tmp_path / "fer2013.csv"))
    assert prepared.info["label_column"] == "emotion" and prepared.info["split_column"] == "Usage"
    assert prepared.info["source_splits"] == {"train": "Training", "validation": "PublicTest", "test": "PrivateTest"}
    assert prepared.info["made_splits"] == []
    assert [len(prepared.train), len(prepared.validation), len(prepared.test)] == [18, 6, 6]
    assert _pictures(prepared.validation).tobytes() == images[18:24].tobytes()
    assert _pictures(prepared.test).tobytes() == images[24:].tobytes()
    swapped = load(str(tmp_path / "fer2013.csv"), split_map={"validation": "PrivateTest", "test": "PublicTest"})
    assert _pictures(swapped.validation).tobytes() == images[24:].tobytes()


@pytest.mark.parametrize("shape", ["hwc", "chw", "flat"])
def test_arrays_in_a_parquet_column(tmp_path: Path, shape: str):
    """A list column holding (H, W, 3), (3, H, W) or flat values (here the flat ones are CIFAR's planes)."""
    images = _smooth_rgb(12)
    stored = {"hwc": images, "chw": images.transpose(0, 3, 1, 2),
              "flat": images.transpose(0, 3, 1, 2).reshape(12, -1)}[shape]
    pd.DataFrame({"img": [a.tolist() for a in stored], "y": _labels(12)}).to_parquet(tmp_path / "arrays.parquet")
    prepared = load(str(tmp_path / "arrays.parquet"), val_fraction=0.25)
    assert prepared.info["image_column"] == "img"
    assert set(_all_rows(prepared)) == {image.tobytes() for image in images}


def test_values_between_zero_and_one_are_scaled(tmp_path: Path):
    images = _gray(12)
    pd.DataFrame({"x": [(im / 255).ravel().astype(np.float32) for im in images], "label": _labels(12)}).to_parquet(
        tmp_path / "scaled.parquet")
    prepared = load(str(tmp_path / "scaled.parquet"), val_fraction=0.25)
    assert set(_all_rows(prepared)) == {image.tobytes() for image in images}


def test_a_text_column_named_by_image_column(tmp_path: Path):
    """--image-column naming a column of pixel strings reads it as pixels, not as file paths."""
    images = _gray(12)
    pd.DataFrame({"face": [",".join(map(str, im.ravel())) for im in images], "mood": ["a", "b", "c"] * 4,
                  "note": ["x"] * 12}).to_csv(tmp_path / "faces.csv", index=False)
    prepared = load(str(tmp_path / "faces.csv"), image_column="face", label_column="mood", val_fraction=0.25)
    assert set(_all_rows(prepared)) == {image.tobytes() for image in images}


@pytest.mark.parametrize("values, pattern, code", [
    (np.zeros((6, 70), dtype=np.uint8), "70 values per row", "pixel_shape"),  # no square image
    ((_gray(6).reshape(6, -1).astype(np.float64) - 128) / 64, "undo any normalisation", "pixel_values"),  # z-scored
])
def test_pixel_columns_that_cannot_be_images_say_why(tmp_path: Path, values, pattern, code):
    table = pd.DataFrame(values, columns=[f"pixel{i}" for i in range(values.shape[1])])
    table["label"] = _labels(6)
    table.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DatasetError, match=pattern) as err:
        load(str(tmp_path / "bad.csv"))
    assert err.value.code == code


def test_a_row_of_another_size_is_named(tmp_path: Path):
    texts = [" ".join(["1"] * 64)] * 11 + [" ".join(["1"] * 63)]
    pd.DataFrame({"pixels": texts, "label": _labels(12)}).to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(DatasetError, match="does not hold 64 numbers"):
        load(str(tmp_path / "short.csv"), image_column="pixels")


def test_a_few_numbered_columns_are_not_pixels(tmp_path: Path, write_images):
    """A table of image paths with feature1 ... feature8 columns is read through its paths."""
    rows = write_images({"cat": 6, "dog": 6})
    table = pd.DataFrame({"file": [r[0] for r in rows], "label": [r[1] for r in rows]})
    for i in range(1, 9):
        table[f"feature{i}"] = np.arange(12)
    table.to_csv(tmp_path / "data.csv", index=False)
    prepared = load(str(tmp_path / "data.csv"))
    assert "pixels" not in prepared.info and prepared.info["image_column"] == "file"


@pytest.mark.parametrize("zipped", [False, True])
def test_a_kaggle_competition_download(tmp_path: Path, zipped: bool, caplog, monkeypatch):
    """digit-recognizer.zip: train.csv (label + pixels), test.csv (pixels, no label), sample_submission.csv. The
    unlabelled test split is left out with a warning (was: 'missing values' in its label column; the zip: 'no
    single table file'), before its pixels are encoded (Kaggle's holds 28,000 rows)."""
    import zipfile

    from hf_quicktune.data import pixels

    encoded = []
    original = pixels.to_images
    monkeypatch.setattr(pixels, "to_images", lambda ds, layout, **kw: encoded.append(len(ds)) or original(
        ds, layout, **kw))

    images = _gray(24)
    folder = tmp_path / "digit-recognizer"
    folder.mkdir()
    train = pd.DataFrame(images[:18].reshape(18, -1), columns=[f"pixel{i}" for i in range(64)])
    train.insert(0, "label", _labels(18))
    train.to_csv(folder / "train.csv", index=False)
    pd.DataFrame(images[18:].reshape(6, -1), columns=[f"pixel{i}" for i in range(64)]).to_csv(folder / "test.csv",
                                                                                            index=False)
    pd.DataFrame({"ImageId": range(1, 7), "Label": 0}).to_csv(folder / "sample_submission.csv", index=False)
    spec = folder
    if zipped:
        spec = tmp_path / "digit-recognizer.zip"
        with zipfile.ZipFile(spec, "w") as zf:
            for f in folder.iterdir():
                zf.write(f, f.name)
    with caplog.at_level("WARNING"):
        prepared = load(str(spec))
    assert "ignoring split 'test': it has no labels" in caplog.text and prepared.test is None
    assert encoded == [18]  # the training rows only
    unlabelled = prepared.info["unlabelled"]  # what run's summary tells to classify (in the cache when zipped)
    assert len(unlabelled) == 1 and Path(unlabelled[0]).is_absolute() and Path(unlabelled[0]).name == "test.csv"
    assert zipped or unlabelled == [str(folder / "test.csv")]
    assert set(_all_rows(prepared)) == {image.tobytes() for image in images[:18]}


def test_a_keras_npz(tmp_path: Path):
    """mnist.npz: x_train (N, H, W) with y_train, x_test with y_test; the test split is kept as the test split."""
    images = _gray(24)
    np.savez(tmp_path / "mnist.npz", x_train=images[:18], y_train=_labels(18), x_test=images[18:], y_test=_labels(6))
    prepared = load(str(tmp_path / "mnist.npz"), val_fraction=0.25)
    assert prepared.info["arrays"] == {"train": "x_train, y_train", "test": "x_test, y_test"}
    assert _pictures(prepared.test).tobytes() == images[18:].tobytes()
    assert set(_all_rows(prepared)) == {image.tobytes() for image in images}


def test_npz_arrays_channels_first_or_flat(tmp_path: Path):
    """train_images (N, 3, H, W) with string train_labels; X (N, D) of floats in 0-1 with y."""
    images = _smooth_rgb(12)
    np.savez(tmp_path / "cifar.npz", train_images=images.transpose(0, 3, 1, 2),
             train_labels=np.array(["a", "b", "c"])[_labels(12)])
    prepared = load(str(tmp_path / "cifar.npz"), val_fraction=0.25)
    assert prepared.class_names == ["a", "b", "c"]
    assert set(_all_rows(prepared)) == {image.tobytes() for image in images}
    np.savez(tmp_path / "keras_cifar.npz", x_train=images, y_train=_labels(12)[:, None])  # Keras' (N, 1) labels
    keras = load(str(tmp_path / "keras_cifar.npz"), val_fraction=0.25)
    assert keras.class_names == ["0", "1", "2"] and set(_all_rows(keras)) == {image.tobytes() for image in images}
    # an array of the classes' names names the integer labels (label i is the i-th), beside images / labels
    np.savez(tmp_path / "named.npz", images=images, labels=_labels(12), classes=np.array(["cat", "dog", "owl"]))
    named = load(str(tmp_path / "named.npz"), val_fraction=0.25)
    assert named.class_names == ["cat", "dog", "owl"]
    assert [named.class_names[_all_rows(named)[im.tobytes()]] for im in images[:3]] == ["cat", "dog", "owl"]
    gray = _gray(12)
    np.savez(tmp_path / "flat.npz", X=gray.reshape(12, -1) / 255.0, y=_labels(12))
    assert set(_all_rows(load(str(tmp_path / "flat.npz"), val_fraction=0.25))) == {g.tobytes() for g in gray}


@pytest.mark.parametrize("order", ["hwc", "chw"])
def test_npz_arrays_of_four_channels_are_rgba_images(tmp_path: Path, order: str):
    """(N, H, W, 4) or (N, 4, H, W): RGBA pictures (their transparency laid on white by the transforms)."""
    rgba = np.concatenate([_smooth_rgb(12), np.tile(np.arange(16, dtype=np.uint8)[None, :, None, None] * 16,
                                                   (12, 1, 16, 1))], axis=-1)
    np.savez(tmp_path / "sprites.npz", x=rgba if order == "hwc" else rgba.transpose(0, 3, 1, 2), y=_labels(12))
    prepared = load(str(tmp_path / "sprites.npz"), val_fraction=0.25)
    assert prepared.info["image_mode"] == "RGBA"
    assert set(_all_rows(prepared)) == {image.tobytes() for image in rgba}


def test_an_npz_is_encoded_once_and_read_from_the_cache_after(tmp_path: Path, monkeypatch):
    """A second load of one .npz (a later run, a --resume) reads the images the first encoded (the cache's pixels
    part); another .npz's content is encoded anew."""
    from hf_quicktune.data import pixels

    monkeypatch.setenv("HF_QUICKTUNE_CACHE", str(tmp_path / "cache"))
    encoded = []
    real_png = pixels._png
    monkeypatch.setattr(pixels, "_png", lambda image: encoded.append(1) or real_png(image))
    images = _gray(24)
    np.savez(tmp_path / "mnist.npz", x_train=images[:18], y_train=_labels(18), x_test=images[18:], y_test=_labels(6))
    first = _all_rows(load(str(tmp_path / "mnist.npz"), val_fraction=0.25))
    assert len(encoded) == 24 and list((tmp_path / "cache" / pixels.CACHE_PART).glob("*.arrow"))
    assert _all_rows(load(str(tmp_path / "mnist.npz"), val_fraction=0.25)) == first
    assert len(encoded) == 24  # none encoded again
    np.savez(tmp_path / "mnist.npz", x_train=images[:18][::-1], y_train=_labels(18), x_test=images[18:],
             y_test=_labels(6))  # same name, other content
    load(str(tmp_path / "mnist.npz"), val_fraction=0.25)
    assert len(encoded) == 24 + 18  # its train images are new (its test ones are the same content)


def test_a_pixel_column_with_an_empty_row_says_so(tmp_path: Path):
    pd.DataFrame({"pixels": [list(range(64)), None, list(range(64))] * 4, "label": _labels(12)}).to_parquet(
        tmp_path / "gaps.parquet")
    with pytest.raises(DatasetError, match="The pixel column 'pixels' has empty rows"):
        load(str(tmp_path / "gaps.parquet"))


def test_an_npz_without_labels_says_how_to_name_its_arrays(tmp_path: Path):
    np.savez(tmp_path / "only.npz", a=_gray(6))
    with pytest.raises(DatasetError, match=r"holds no pair of image and label arrays .*\(it holds a \(6, 8, 8\)\)"):
        load(str(tmp_path / "only.npz"))
    np.savez(tmp_path / "short.npz", x_train=_gray(6), y_train=_labels(5))
    with pytest.raises(DatasetError, match="x_train has 6 images and y_train 5 labels"):
        load(str(tmp_path / "short.npz"))
    (tmp_path / "broken.npz").write_bytes(b"not an archive")
    with pytest.raises(DatasetError, match="cannot be read as a NumPy archive"):
        load(str(tmp_path / "broken.npz"))


def test_runs_summary_names_the_unlabelled_test_file_to_classify(tmp_path: Path, capsys):
    from hf_quicktune.commands.run import _finish

    summary = {"output_dir": str(tmp_path / "run"), "export_dir": str(tmp_path / "run" / "export"), "card": "x",
               "unlabelled": [str(tmp_path / "data dir" / "test.csv")], "best_model": "m", "epoch_steps": 1}
    _finish(summary, as_json=False)
    assert f"classify:    hf-quicktune predict {tmp_path / 'run'} '{tmp_path / 'data dir' / 'test.csv'}' -o" in \
        capsys.readouterr().out
    # the competition's submission template beside it: the command writes a submission in its format
    (tmp_path / "data dir").mkdir()
    (tmp_path / "data dir" / "sample_submission.csv").write_text("ImageId,Label\n1,0\n")
    _finish(summary, as_json=False)
    assert (f"'{tmp_path / 'data dir' / 'test.csv'}' --submission '{tmp_path / 'data dir' / 'sample_submission.csv'}' "
            "-o submission.csv") in capsys.readouterr().out
    # a detection competition's template (RSNA Pneumonia's PredictionString of boxes): no classifier fills it
    (tmp_path / "run" / "export").mkdir(parents=True)
    (tmp_path / "run" / "export" / "config.json").write_text(json.dumps({"label_names": ["0", "1"]}))
    (tmp_path / "data dir" / "sample_submission.csv").write_text("patientId,PredictionString\na1,0.5 0 0 100 100\n")
    _finish(summary, as_json=False)
    out = capsys.readouterr().out
    assert "test.csv' -o predictions.csv" in out and "--submission '" not in out
    assert "(no --submission: The column PredictionString of sample_submission.csv holds several values per image " \
           "('0.5 0 0 100 100') that are not classes of this model: boxes or masks" in out
    # SIIM-ISIC's template (image_name, target 0) for a two-class model: classes, or AUC's probabilities?
    (tmp_path / "data dir" / "sample_submission.csv").write_text("image_name,target\nISIC_1,0\nISIC_2,0\n")
    _finish(summary, as_json=False)
    out = capsys.readouterr().out
    assert "--submission '" in out and "(target gets each image's class; add --probability-of 1 if the " \
                                       "competition is scored on AUC or log loss)" in out


def test_class_names_name_an_integer_label_columns_ids(tmp_path: Path):
    """FER2013's emotions are 0-6 in its CSV: --class-names gives them their names (the card, the export's
    id2label and predict then speak them); a file of one name per line does the same."""
    from hf_quicktune.data.options import load_kwargs

    images = _gray(30)
    pd.DataFrame({"emotion": _labels(30), "pixels": [" ".join(map(str, im.ravel())) for im in images]}).to_csv(
        tmp_path / "fer.csv", index=False)
    names = "angry,happy,sad"
    prepared = load(str(tmp_path / "fer.csv"), **load_kwargs({"class_names": names}))
    assert prepared.class_names == ["angry", "happy", "sad"]
    rows = _all_rows(prepared)
    assert [prepared.class_names[rows[im.tobytes()]] for im in images[:3]] == ["angry", "happy", "sad"]
    (tmp_path / "names.txt").write_text("angry\nhappy\nsad\n")
    assert load(str(tmp_path / "fer.csv"), **load_kwargs({"class_names": str(tmp_path / "names.txt")})
                ).class_names == ["angry", "happy", "sad"]
    with pytest.raises(DatasetError, match=r"gives 2 names \(ids 0-1\), but the label column 'emotion' holds '2'"):
        load(str(tmp_path / "fer.csv"), **load_kwargs({"class_names": "angry,happy"}))
    from hf_quicktune.errors import ConfigError

    with pytest.raises(ConfigError, match="two or more distinct"):
        load_kwargs({"class_names": "angry,angry"})


def test_a_table_of_numbers_that_are_no_pixels_says_both(tmp_path: Path):
    """64 columns of z-scored features (a tabular set): no image column, and read as pixels they are not images;
    the message names a few of the columns, not all."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.normal(size=(12, 100)), columns=[f"f{i}" for i in range(100)])
    table["label"] = _labels(12)
    table.to_csv(tmp_path / "features.csv", index=False)
    with pytest.raises(DatasetError) as err:
        load(str(tmp_path / "features.csv"))
    text = str(err.value)
    assert "No image column found: the columns are ['f0', 'f1'," in text and "'label'] (101 columns)" in text
    assert "Read as pixels, they are not images: The 100 columns f0 ... f99 hold values from" in text
    assert "'f50'" not in text


def test_a_csv_without_a_header_row_is_a_label_and_pixels(tmp_path: Path, caplog):
    """pjreddie's mnist_train.csv (and Kaggle's EMNIST CSVs): label and pixels, no header; its first row became the
    column names (a refusal before session 52). A first row of numbers that are no label and pixels says so."""
    images = _gray(12)
    rows = np.column_stack([_labels(12), images.reshape(12, -1)])
    pd.DataFrame(rows).to_csv(tmp_path / "mnist_train.csv", index=False, header=False)
    with caplog.at_level("WARNING"):
        prepared = load(str(tmp_path / "mnist_train.csv"), val_fraction=0.25)
    assert "mnist_train.csv has no header row (its first row is numbers): read as a label" in caplog.text
    assert _all_rows(prepared) == {image.tobytes(): label for image, label in zip(images, _labels(12))}
    pd.DataFrame(np.column_stack([rows, rows[:, :3]])).to_csv(tmp_path / "odd.csv", index=False, header=False)
    with pytest.raises(DatasetError, match="its first row is data, not a header") as err:
        load(str(tmp_path / "odd.csv"))  # 68 numbers a row: neither pixels nor a label and pixels
    assert err.value.code == "no_header" and "label,pixel0" in str(err.value)


def test_emnists_csvs_are_turned_upright_and_name_their_characters(tmp_path: Path):
    """Kaggle's emnist-balanced-train.csv: headerless label + 784 values, each image stored column by column, labels
    indexing emnist-balanced-mapping.txt. Was: every image read mirrored and turned, classes 0 ... K-1."""
    rng = np.random.default_rng(3)
    labels = np.arange(12) % 3
    upright = np.zeros((12, 28, 28), np.uint8)
    for i, label in enumerate(labels):
        upright[i, 2 + label, :] = 255  # a bar across row 2 + label: upright, rows are rows
        upright[i, 20:, 20:] = rng.integers(0, 60, (8, 8))
    stored = upright.transpose(0, 2, 1).reshape(12, -1)  # column by column, as EMNIST stores them
    pd.DataFrame(np.column_stack([labels, stored])).to_csv(tmp_path / "emnist-balanced-train.csv", index=False,
                                                            header=False)
    (tmp_path / "emnist-balanced-mapping.txt").write_text("0 48\n1 49\n2 65\n")
    prepared = load(str(tmp_path / "emnist-balanced-train.csv"))
    assert prepared.class_names == ["0", "1", "A"] and "column by column" in prepared.info["pixels"]
    for split in (prepared.train, prepared.validation):
        for row in split:
            image = np.asarray(row["image"])
            assert image[2 + row["label"], :].min() == 255  # the bar of its class's row, across the image
    # predict reads the file's test CSV the same way
    from hf_quicktune.data.table_images import read_table

    pd.DataFrame(np.column_stack([labels, stored])).to_csv(tmp_path / "emnist-balanced-test.csv", index=False,
                                                            header=False)
    rows = read_table(tmp_path / "emnist-balanced-test.csv")
    first = np.asarray(Image.open(io.BytesIO(rows[0].value["bytes"])))
    assert np.array_equal(first, upright[0])
