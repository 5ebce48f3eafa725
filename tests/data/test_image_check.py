"""The start-up reads of a dataset: a label column read in one batch, and the check that every image decodes
(threads for large images, JPEG draft decoding, progress)."""

from __future__ import annotations

import io
import re

import datasets
import numpy as np
import pytest
from PIL import Image

from hf_quicktune.data import images
from hf_quicktune.data.columns import column_values
from hf_quicktune.errors import DatasetError


def _jpeg(seed: int, size: tuple[int, int] = (160, 120), quality: int = 95) -> bytes:
    """A noisy colour JPEG (noise keeps it large: ~30-40 KB at 160x120, above the threads' threshold)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _png(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), seed % 256, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _dataset(entries: list[bytes]) -> datasets.Dataset:
    return datasets.Dataset.from_dict(
        {"image": [{"bytes": b, "path": None} for b in entries], "label": [i % 3 for i in range(len(entries))]},
        features=datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=list("abc"))}),
    )


def test_column_values_match_the_rows_after_select_shuffle_and_a_transform():
    ds = datasets.Dataset.from_dict({"label": [i % 7 for i in range(200)], "x": list(range(200))})
    picked = ds.select(range(150, 10, -3)).shuffle(seed=3)
    assert column_values(picked, "label") == [row["label"] for row in picked]
    assert column_values(picked, "x") == [row["x"] for row in picked]
    # a custom transform (the training loader's) changes rows, not the stored values read here
    shifted = picked.with_transform(lambda batch: {"label": [v + 100 for v in batch["label"]], "x": batch["x"]})
    assert column_values(shifted, "label") == [row["label"] for row in picked]
    assert shifted[0]["label"] == picked[0]["label"] + 100


@pytest.mark.parametrize("threads", [1, 2])
def test_bad_images_are_found_in_row_order_with_or_without_threads(monkeypatch, threads):
    monkeypatch.setattr(images.os, "cpu_count", lambda: threads)
    monkeypatch.setattr(images, "REMEMBER_SECONDS", float("inf"))  # every call decodes (a slow machine's would be kept)
    good = _jpeg(0)
    assert len(good) >= images._THREAD_BYTES  # the batch goes to threads when there are 2 cores
    entries = [_jpeg(i) for i in range(12)]
    entries[3] = good[: len(good) // 2]  # truncated: the header reads, the entropy-coded data ends early
    entries[7] = b"\xff\xd8 not a jpeg at all" * 2000
    entries[10] = _png(1)[:40]  # a PNG cut inside its image data
    assert images._worth_threads([{"bytes": b, "path": None} for b in entries])
    bad = images.find_undecodable(_dataset(entries), batch_size=5)
    assert [row for row, _, _ in bad] == [3, 7, 10]
    assert all(hint == "<bytes>" and ":" in error for _, hint, error in bad)


def test_a_truncated_jpeg_fails_in_draft_decoding():
    data = _jpeg(5, size=(400, 300))
    images._decode({"bytes": data, "path": None})  # the whole file decodes
    with pytest.raises(OSError, match="truncated"):
        images._decode({"bytes": data[: int(len(data) * 0.6)], "path": None})


def test_small_encoded_images_stay_on_one_thread_files_go_to_threads(tmp_path):
    small = [{"bytes": _png(i), "path": None} for i in range(4)]
    assert not images._worth_threads(small)
    files = []
    for i in range(4):
        path = tmp_path / f"{i}.png"
        path.write_bytes(_png(i))
        files.append({"bytes": None, "path": str(path)})
    assert images._worth_threads(files)
    assert not images._worth_threads([None, "x"])


def test_progress_counts_every_image_over_all_splits(monkeypatch):
    monkeypatch.setattr(images, "REMEMBER_SECONDS", float("inf"))  # decoded batch by batch, never read back
    calls: list[tuple] = []
    splits = {"train": _dataset([_png(i) for i in range(30)]),
              "validation": _dataset([_png(i) for i in range(3)] + [b"broken"])}
    out, skipped, digests = images.drop_undecodable(splits, progress=lambda *args: calls.append(args))
    assert skipped == 1 and len(out["validation"]) == 3 and len(out["train"]) == 30
    # each kept row's digest, aligned with the rows (the broken image's dropped with it)
    assert {k: len(v) for k, v in digests.items()} == {"train": 30, "validation": 3}
    assert digests["validation"] == digests["train"][:3]  # the same bytes, the same digest
    done = [c[1] for c in calls]
    assert done == sorted(done) and done[-1] == 34 and len(done) >= 2  # one call per batch of each split
    assert {c[0] for c in calls} == {images.PROGRESS_TASK} and {c[2] for c in calls} == {34}


def test_the_run_reports_the_image_check(tmp_path):
    from hf_quicktune.run.settings import RunSettings
    from hf_quicktune.run.stages import load_dataset

    class Reporter:
        def __init__(self) -> None:
            self.calls: list[tuple] = []

        def progress(self, task, done, total=None, images=None) -> None:
            self.calls.append((task, done, total, images))

    reporter = Reporter()
    dataset = load_dataset(RunSettings(dataset="builtin:digits", output_dir=str(tmp_path)), reporter)
    total = sum(len(split) for split in dataset.splits.values())
    assert reporter.calls and reporter.calls[-1] == (images.PROGRESS_TASK, total, total, total)


def test_a_check_is_remembered_for_the_same_files_and_redone_for_others(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_QUICKTUNE_CACHE", str(tmp_path / "cache"))
    path = str(tmp_path / "set.parquet")
    _dataset([_png(0), b"broken", _png(2), _png(3)]).to_parquet(path)

    def read() -> datasets.Dataset:  # as a new process would: datasets' fingerprint follows the file
        return datasets.load_dataset("parquet", data_files=path, split="train")

    monkeypatch.setattr(images, "REMEMBER_SECONDS", float("inf"))
    assert [r for r, _, _ in images.find_undecodable(read())] == [1]
    assert not (tmp_path / "cache" / "image_checks").exists()  # a quick check is not remembered
    monkeypatch.setattr(images, "REMEMBER_SECONDS", 0.0)
    first = images.find_undecodable(read())
    assert len(list((tmp_path / "cache" / "image_checks").iterdir())) == 1

    def no_decoding(value):
        raise AssertionError("decoded although remembered")

    calls: list[tuple] = []
    monkeypatch.setattr(images, "_check", no_decoding)
    assert images.find_undecodable(read(), progress=lambda *a: calls.append(a)) == first
    remembered = images.check_images(read())[1]  # the digests come back with the answer
    assert len(remembered) == 4 and remembered[0] is not None and remembered[0] != remembered[2]
    assert calls[0] == (images.PROGRESS_TASK, 4, 4, 4)
    with pytest.raises(AssertionError, match="decoded although"):  # other content: checked again
        images.find_undecodable(read().select([0, 2, 3]))


def test_images_named_by_path_are_checked_again_when_a_file_changes(tmp_path, monkeypatch):
    """A CSV or JSON of paths: datasets' fingerprint follows the paths, not the files; the files' stats do."""
    monkeypatch.setenv("HF_QUICKTUNE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(images, "REMEMBER_SECONDS", 0.0)
    paths = []
    for i in range(4):
        path = tmp_path / f"{i}.png"
        path.write_bytes(_png(i))
        paths.append(str(path))
    ds = datasets.Dataset.from_dict({"image": paths}).cast_column("image", datasets.Image())
    assert images.find_undecodable(ds) == []
    real_check = images._check
    monkeypatch.setattr(images, "_check", lambda value: pytest.fail("decoded although remembered"))
    assert images.find_undecodable(ds) == []  # unchanged files: remembered
    monkeypatch.setattr(images, "_check", real_check)
    (tmp_path / "2.png").write_bytes(b"broken now")
    assert [(row, hint) for row, hint, _ in images.find_undecodable(ds)] == [(2, paths[2])]


def _large_png(side: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (side, side)).save(buf, format="PNG")
    return buf.getvalue()


def test_images_over_pillows_pixel_limit_are_named_as_such_with_what_to_do(monkeypatch, caplog):
    """Pillow refuses an image over twice ``MAX_IMAGE_PIXELS`` (a 14,000 px square photo at its default);
    the error said to check the column held real images, which these are."""
    monkeypatch.setattr(images, "REMEMBER_SECONDS", float("inf"))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 40 * 40)  # the limit is twice it: 64 px squares exceed it
    big = {"train": _dataset([_large_png(64) for _ in range(4)] + [_png(i) for i in range(4)]),
           "validation": _dataset([_png(i) for i in range(3)])}
    with pytest.raises(images.DatasetError, match=r"4 of them are larger than Pillow's limit.*3,200 pixels.*"
                                                  r"downscale them") as err:
        images.drop_undecodable(big)
    assert "Fix or remove" not in str(err.value)
    one = {"train": _dataset([_large_png(64)] + [_png(i) for i in range(60)] + [b"broken"]),
           "validation": _dataset([_png(i) for i in range(3)])}
    with caplog.at_level("WARNING", logger=images.__name__):
        out, skipped, _ = images.drop_undecodable(one)
    assert skipped == 2 and len(out["train"]) == 60
    assert re.search(r"skipped 2 undecodable image\(s\) of 65\. 1 of them is larger than Pillow's limit.*"
                     r"downscale them.*; fix or remove the other files", caplog.text)


def test_files_that_are_no_images_are_said_for_what_they_are(tmp_path, monkeypatch):
    """Pillow says "cannot identify image file <_io.BytesIO object at 0x...>" for all of them: a scraped error page
    saved as .jpg, an empty download, an SVG, an iPhone photo renamed .jpg, a DICOM scan, other bytes."""
    monkeypatch.setattr(images, "REMEMBER_SECONDS", float("inf"))
    files = {
        "page.jpg": b"  <!DOCTYPE html><html><body>Access denied</body></html>",
        "empty.png": b"",
        "logo.png": b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>',
        "photo.jpg": b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64,
        "scan.png": b"\x00" * 128 + b"DICM" + b"\x00" * 64,
        "other.png": b"\x01\x02\x03\x04\x05\x06\x07\x08" * 4,
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    ds = datasets.Dataset.from_dict({"image": [str(tmp_path / n) for n in files], "label": [0] * len(files)}).cast_column(
        "image", datasets.Image())
    errors = {hint.rsplit("/", 1)[-1]: error for _, hint, error in images.find_undecodable(ds)}
    expected = {"page.jpg": "a web page (HTML or XML)", "empty.png": "an empty file (0 bytes)",
                "logo.png": "an SVG drawing", "photo.jpg": "an HEIC / AVIF photo", "scan.png": "a DICOM file without an image",
                "other.png": "not an image format Pillow reads (it starts with 01 02 03 04 05 06 07 08)"}
    assert set(errors) == set(expected)
    for name, text in expected.items():
        # a DICOM marker is read by pydicom (data/dicom.py): this one holds no image (test_dicom.py: without pydicom)
        kind = "OSError: " if name == "scan.png" else "UnidentifiedImageError: "
        assert errors[name].startswith(kind) and text in errors[name], errors[name]
        assert "BytesIO" not in errors[name]


def test_a_multispectral_tiff_is_said_for_what_it_is_once_for_all(tmp_path, tiff_bytes):
    """EuroSAT MS' tiles (13 bands of Sentinel-2): was "not an image format Pillow reads (it starts with 49 49 2a
    00 ...)", repeated for each of 8 examples; now the bands and what to write instead, said once."""
    for i in range(6):
        (tmp_path / f"Forest_{i}.tif").write_bytes(tiff_bytes(13, side=4 + i))
    ds = datasets.Dataset.from_dict({"image": [str(p) for p in sorted(tmp_path.iterdir())], "label": [0] * 6}
                                    ).cast_column("image", datasets.Image())
    with pytest.raises(DatasetError) as err:
        images.drop_undecodable({"train": ds})
    text = err.value.message
    assert text.startswith("6 of 6 images (100.0 %) cannot be decoded, more than the 5 % hf-quicktune skips "
                           f"silently. Examples: train[0] {tmp_path / 'Forest_0.tif'}, train[1] ")
    assert ("Forest_5.tif (each: UnidentifiedImageError: a TIFF of 13 bands per pixel (16-bit; a multispectral "
            "image") in text
    assert "B04, B03 and B02" in text and text.count("13 bands") == 1


def test_16_bit_colour_tiffs_are_read_in_full(tmp_path, tiff_bytes):
    """Satellite or microscope RGB TIFFs of 12 bits in 16: Pillow alone reads each sample's top byte (0-15 of 255:
    nearly black); through hf_quicktune.data.deep_tiff each image is stretched over its own range, one scale for its
    bands, as 16-bit grayscale ones are. 8-bit TIFFs are still Pillow's own."""
    from PIL import TiffImagePlugin

    from hf_quicktune.data import load

    rng = np.random.default_rng(0)
    stored = {}
    for cls in ("Forest", "River"):
        (tmp_path / "sat" / cls).mkdir(parents=True)
        (tmp_path / "rgb8" / cls).mkdir(parents=True)
        for i in range(6):
            values = rng.integers(0, 4000, (8, 8, 3))
            values[..., 0] += 50 if cls == "River" else 0  # a colour balance the stretch keeps
            stored[f"{cls}/{i}.tif"] = values
            (tmp_path / "sat" / cls / f"{i}.tif").write_bytes(tiff_bytes(3, side=8, values=values))
            Image.fromarray((values // 16).astype(np.uint8)).save(tmp_path / "rgb8" / cls / f"{i}.tif")
    path = tmp_path / "sat" / "River" / "0.tif"
    with open(path, "rb") as fh:  # what Pillow's own plugin makes of it
        assert np.asarray(TiffImagePlugin.TiffImageFile(fh).convert("RGB")).max() < 16
    values = stored["River/0.tif"].astype(np.float64)
    expected = np.round((values - values.min()) * 255 / (values.max() - values.min())).astype(np.uint8)
    image = Image.open(path)
    assert (image.format, image.mode) == ("TIFF16", "RGB")
    np.testing.assert_array_equal(np.asarray(image), expected)
    ds = load(str(tmp_path / "sat"))
    assert ds.meta.image_format == "TIFF16" and ds.meta.image_mode == "RGB"
    assert all(np.asarray(row["image"]).max() == 255 for row in ds.train)
    plain = load(str(tmp_path / "rgb8"))
    assert plain.meta.image_format == "TIFF" and Image.open(tmp_path / "rgb8" / "River" / "0.tif").format == "TIFF"


def test_a_16_bit_colour_tiff_too_large_is_refused_before_it_is_decoded(tmp_path, tiff_bytes, monkeypatch):
    """Pillow's check against decompression bombs, made from the tags before tifffile decodes anything."""
    from hf_quicktune.data import deep_tiff

    (tmp_path / "tile.tif").write_bytes(tiff_bytes(3, side=8, values=np.ones((8, 8, 3))))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 16)  # 8 x 8 = 64 > twice the limit
    monkeypatch.setattr(deep_tiff, "read_deep_colour", lambda fp: pytest.fail("decoded before the size check"))
    with pytest.raises(Image.DecompressionBombError, match="64 pixels"):
        Image.open(tmp_path / "tile.tif")


def test_a_16_bit_colour_tiff_whose_codec_is_missing_is_read_as_pillow_reads_it(tmp_path, tiff_bytes, caplog):
    """LZW (GeoTIFF's usual compression) needs imagecodecs in tifffile: without it the file is left to Pillow, as
    before the plugin (its high bytes: a full-range 16-bit image reads well so), with one warning saying what is
    lost and what to install (was: every such image undecodable)."""
    import struct

    from hf_quicktune.data import deep_tiff

    data = bytearray(tiff_bytes(3, side=8, values=np.full((8, 8, 3), 40000)))
    at = data.find(struct.pack("<HHI", 259, 3, 1))  # the compression tag: none -> LZW
    data[at + 8:at + 10] = struct.pack("<H", 5)
    (tmp_path / "a.tif").write_bytes(bytes(data))
    (tmp_path / "b.tif").write_bytes(bytes(data))
    deep_tiff._warned.clear()
    with caplog.at_level("WARNING"):
        first, second = Image.open(tmp_path / "a.tif"), Image.open(tmp_path / "b.tif")
    assert first.format == second.format == "TIFF" and first.mode == "RGB"  # Pillow's own plugin
    assert caplog.text.count("TIFFs of 16-bit colour are read as Pillow reads them") == 1
    assert "LZW: 5> requires the 'imagecodecs' package (pip install imagecodecs)" in caplog.text
