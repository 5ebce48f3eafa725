"""DICOM scans (hf_quicktune/data/dicom.py) read as the images a viewer shows, in every stage: a folder of scans
in class folders and a table of scan ids (RSNA's layout) load and train as photos do. Files written by pydicom as a
scanner stores them (tests/conftest.py's ``write_dicom``)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from hf_quicktune.data import load
from hf_quicktune.data.dicom import apply_window
from hf_quicktune.data.transforms import ToRGB
from hf_quicktune.errors import DatasetError


def test_a_ct_scan_is_shown_in_its_window_of_hounsfield_units(tmp_path, dicom_file):
    hu = np.array([[-1000, 0, 40, 240, 3000]] * 3, dtype=np.int16)  # air, water, the window's centre, above it
    path = dicom_file(tmp_path / "ct.dcm", hu + 1024, window=(40, 400), intercept=-1024, modality="CT")
    image = Image.open(path)
    assert (image.format, image.mode, image.size) == ("DICOM", "L", (5, 3))  # (columns, rows), not transposed
    # PS3.3 C.11.2.1.2.1: ((x - (c - 0.5)) / (w - 1) + 0.5) * 255, clipped: water 102, the centre 128
    assert np.asarray(image)[0].tolist() == [0, 102, 128, 255, 255]


def test_the_first_of_several_windows_and_the_exact_and_sigmoid_functions(tmp_path, dicom_file):
    values = np.array([[0, 50, 100, 150, 200]], dtype=np.uint16)
    first = dicom_file(tmp_path / "a.dcm", values, window=([100, 40], [100, 400]))
    assert np.asarray(Image.open(first))[0].tolist() == [0, 0, 129, 255, 255]
    exact = dicom_file(tmp_path / "b.dcm", values, window=(100, 200), voi_function="LINEAR_EXACT")
    assert np.asarray(Image.open(exact))[0].tolist() == [0, 64, 128, 191, 255]
    sigmoid = dicom_file(tmp_path / "c.dcm", values, window=(100, 100), voi_function="SIGMOID")
    expected = np.rint(255 / (1 + np.exp(-4 * (values[0].astype(float) - 100) / 100))).astype(int).tolist()
    assert np.asarray(Image.open(sigmoid))[0].tolist() == expected == [5, 30, 128, 225, 250]
    assert apply_window(np.array([99.0, 100.0]), 100, 1).tolist() == [0.0, 1.0]  # a width of 1: a step at c - 0.5


def test_without_a_window_a_scan_is_stretched_as_16_bit_images_are_and_monochrome1_is_inverted(tmp_path, dicom_file):
    stored = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 300 + 100)  # 12 of 16 bits used
    plain = Image.open(dicom_file(tmp_path / "m2.dcm", stored))
    inverted = Image.open(dicom_file(tmp_path / "m1.dcm", stored, photometric="MONOCHROME1"))
    assert plain.mode == inverted.mode == "F"
    shown, shown_inverted = (np.asarray(ToRGB()(im))[..., 0].astype(int) for im in (plain, inverted))
    assert shown[0, 0] == 0 and shown[-1, -1] == 255  # over its own range, not clipped at 255
    assert np.abs(shown + shown_inverted - 255).max() <= 1  # MONOCHROME1: the lowest value white


def test_colour_and_multi_frame_scans(tmp_path, dicom_file):
    rgb = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    image = Image.open(dicom_file(tmp_path / "rgb.dcm", rgb))
    assert image.mode == "RGB" and np.array_equal(np.asarray(image), rgb)
    stack = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    first = Image.open(dicom_file(tmp_path / "stack.dcm", stack, frames=2))
    assert first.n_frames == 2 and np.array_equal(np.asarray(first), stack[0])


def test_a_scan_without_an_image_or_with_pixels_no_decoder_reads_says_what_to_do(tmp_path, dicom_file, caplog):
    from pydicom.uid import JPEG2000

    report = dicom_file(tmp_path / "report.dcm", None, with_pixels=False, modality="SR")
    with pytest.raises(OSError, match="without an image .*SR.*remove it"):
        Image.open(report)
    compressed = dicom_file(tmp_path / "j2k.dcm", np.zeros((4, 4), np.uint16), syntax=JPEG2000)
    with pytest.raises(OSError, match="(?s)JPEG 2000.*pip install pylibjpeg"):
        Image.open(compressed)
    assert not [r for r in caplog.records if r.exc_info]  # told once, not with a traceback per decoder per file


def test_without_pydicom_a_scan_is_named_with_what_to_install(tmp_path, dicom_file, monkeypatch):
    from hf_quicktune.data.images import decode_error

    path = dicom_file(tmp_path / "x.dcm", np.zeros((4, 4), np.uint8))
    monkeypatch.setitem(sys.modules, "pydicom", None)  # import pydicom raises ImportError
    with pytest.raises(Exception) as err:
        Image.open(path)
    assert "DICOM file (medical imaging), which needs pydicom: pip install pydicom" in decode_error(err.value, str(path))


def _scans(root, dicom_file, per_class: int = 6) -> None:
    """Chest X-ray-like scans: 12-bit, MONOCHROME1, each class brighter in another half (as stored)."""
    rng = np.random.default_rng(0)
    for c, cls in enumerate(("normal", "pneumonia")):
        for i in range(per_class):
            stored = rng.integers(200, 1800, (24, 20)).astype(np.uint16)
            stored[:, c * 10:(c + 1) * 10] += 2000
            dicom_file(root / cls / f"{cls}_{i}.dcm", stored, photometric="MONOCHROME1",
                       window=(2000, 4000) if i % 2 else None)


def test_a_folder_of_scans_in_class_folders_loads_and_trains_as_a_folder_of_photos(tmp_path, dicom_file):
    _scans(tmp_path / "xrays", dicom_file)
    prepared = load(str(tmp_path / "xrays"), seed=0)
    assert prepared.class_names == ["normal", "pneumonia"] and prepared.skipped == 0
    assert sum(len(s) for s in prepared.splits.values()) == 12
    assert prepared.info["image_format"] == "DICOM"  # the card's usage opens scans as training did
    image = prepared.splits["train"][0]["image"]
    assert image.format == "DICOM" and image.size == (20, 24)
    from hf_quicktune.data.transforms import build_transform

    transform = build_transform({"input_size": (3, 16, 16), "interpolation": "bilinear", "crop_pct": 1.0,
                                 "mean": (0.5,) * 3, "std": (0.5,) * 3}, train=True)
    assert tuple(transform(image).shape) == (3, 16, 16)


def test_a_table_of_scan_ids_beside_a_folder_of_scans_loads(tmp_path, dicom_file):
    """RSNA Pneumonia's layout: ``stage_2_train_labels.csv`` (``patientId, Target``) and ``stage_2_train_images/ID.dcm``."""
    rng = np.random.default_rng(1)
    rows = ["patientId,Target"]
    for i in range(12):
        pid = f"{i:04d}a1b2-c3d4"
        dicom_file(tmp_path / "rsna" / "stage_2_train_images" / f"{pid}.dcm",
                   rng.integers(0, 4000, (16, 16)).astype(np.uint16), window=(2000, 4000))
        rows.append(f"{pid},{i % 2}")
    (tmp_path / "rsna" / "stage_2_train_labels.csv").write_text("\n".join(rows) + "\n")
    prepared = load(str(tmp_path / "rsna"), seed=0)
    assert sorted(prepared.class_names) == ["0", "1"] and sum(len(s) for s in prepared.splits.values()) == 12
    assert prepared.splits["train"][0]["image"].mode == "L"


def test_a_class_folder_of_scans_is_no_longer_refused(tmp_path, dicom_file):
    """Before the plugin, ``imagefolder`` skipped ``.dcm`` files: a class of scans was an unreadable class."""
    _scans(tmp_path / "xrays", dicom_file, per_class=3)
    (tmp_path / "xrays" / "notes").mkdir()
    (tmp_path / "xrays" / "notes" / "a.docx").write_bytes(b"PK")
    with pytest.raises(DatasetError, match=r"^1 class folder\(s\) .*: notes/: 1 \.docx\.") as err:  # others still are
        load(str(tmp_path / "xrays"), seed=0)
    assert "normal/" not in str(err.value) and "pneumonia/" not in str(err.value)


@pytest.mark.parametrize(("dtype", "intercept"), [(np.uint16, None), (np.int16, -1024.0), (np.uint8, 0.5)])
def test_the_table_of_stored_levels_windows_as_every_pixel_would(tmp_path, dicom_file, dtype, intercept):
    """``windowed``'s table (the modality LUT and window per level, benchmarks/dicom_decode.py) gives the same
    image as windowing each pixel: unsigned, signed with CT's rescale, 8 bits with a fractional intercept."""
    import pydicom

    from hf_quicktune.data.dicom import _window, windowed

    info = np.iinfo(dtype)
    stored = np.random.default_rng(0).integers(max(info.min, -2000), min(info.max, 4000), (30, 40)).astype(dtype)
    path = dicom_file(tmp_path / "s.dcm", stored, window=(40, 400), intercept=intercept, slope=1.5 if intercept else None)
    ds = pydicom.dcmread(path)
    window = _window(ds)
    assert np.array_equal(windowed(ds.pixel_array, ds, window), windowed(ds.pixel_array, ds, window, table=False))
    assert 0 < windowed(ds.pixel_array, ds, window).mean() < 255  # the window cuts through these values


def test_a_scan_over_pillows_pixel_limit_is_refused_before_it_is_decoded(tmp_path, dicom_file, monkeypatch):
    """As Pillow refuses a decompression bomb (the image check then says to downscale it), from the header."""
    import pydicom

    path = dicom_file(tmp_path / "huge.dcm", np.zeros((40, 40), np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # 1,600 pixels > twice the limit

    def decoded(self):
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(decoded))
    with pytest.raises(Image.DecompressionBombError, match="1600 pixels"):
        Image.open(path)
