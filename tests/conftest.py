"""Test-session environment: set before any Hugging Face library is imported.

A local Hub-compatible server (tests/hubserver) is started on 127.0.0.1 by the ``hub``
fixture; its port is chosen here so that ``HF_ENDPOINT`` is right from the first import.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_HF_MODULES = ("huggingface_hub", "timm", "datasets", "transformers")
assert not any(m in sys.modules for m in _HF_MODULES), "an HF library was imported before conftest set the env"

_SESSION_TMP = Path(tempfile.mkdtemp(prefix="hfqt-tests-"))
HUB_PORT = _free_port()
os.environ["HF_ENDPOINT"] = f"http://127.0.0.1:{HUB_PORT}"
os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ["HF_TOKEN"] = "hf_dummy_test_token_0123456789abcdef"
os.environ["HF_HOME"] = str(_SESSION_TMP / "hf_home")
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
os.environ["HF_QUICKTUNE_CACHE"] = str(_SESSION_TMP / "qt_cache")
os.environ["RAY_TMPDIR"] = str(_SESSION_TMP)  # Ray's session logs and sockets (else /tmp/ray, kept)
os.environ["GRADIO_TEMP_DIR"] = str(_SESSION_TMP / "gradio")  # the Space tests' uploads and outputs (else /tmp/gradio)
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.pop("HF_HUB_OFFLINE", None)

import pytest  # noqa: E402


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session's Hub storage, caches and Ray files (a few hundred MB a run; runs filled CI's disk)."""
    shutil.rmtree(_SESSION_TMP, ignore_errors=True)


@pytest.fixture(scope="session")
def session_tmp() -> Path:
    return _SESSION_TMP


@dataclass
class HubHandle:
    """What the ``hub`` fixture yields: a running local Hub (tests/hubserver) and a client for it."""

    endpoint: str
    token: str
    api: Any  # huggingface_hub.HfApi bound to endpoint and token
    root: Path
    requests: list[tuple[str, str, int]]  # (method, path, status) served so far
    server: Any  # tests.hubserver.LocalHub

    def unique_repo_id(self, prefix: str = "repo", namespace: str = "qt-org") -> str:
        """A fresh ``namespace/prefix-xxxxxxxx`` id: the server lives for the whole session."""
        return f"{namespace}/{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def hub() -> Iterator[HubHandle]:
    """A Hub-compatible server on 127.0.0.1:HUB_PORT (the ``HF_ENDPOINT`` of this session).

    It serves the pytest process and subprocesses alike; storage lives in a session temp dir.
    """
    try:
        from tests.hubserver import LocalHub
    except ImportError:  # tests/ is not a package: pytest put tests/ itself on sys.path
        from hubserver import LocalHub
    from huggingface_hub import HfApi

    token = os.environ["HF_TOKEN"]
    local = LocalHub(_SESSION_TMP / "hub", port=HUB_PORT, token=token).start()
    from hf_quicktune import hub as hubio

    hubio.endpoint_answers(local.endpoint, 3.0, fresh=True)  # a test before the server started saw no answer
    try:
        yield HubHandle(
            endpoint=local.endpoint,
            token=token,
            api=HfApi(endpoint=local.endpoint, token=token),
            root=local.root,
            requests=local.requests,
            server=local,
        )
    finally:
        local.stop()


def write_dicom(path: Path, pixels: Any, *, photometric: str | None = None, window: tuple[Any, Any] | None = None,
                voi_function: str | None = None, intercept: float | None = None, slope: float | None = None,
                frames: int | None = None, syntax: str | None = None, with_pixels: bool = True,
                modality: str = "CR") -> Path:
    """Write ``pixels`` (``(rows, cols)`` gray, ``(rows, cols, 3)`` RGB, or ``(frames, rows, cols)``) as a DICOM file
    with pydicom, as a scanner would store it (preamble and ``DICM`` marker, file meta, the image pixel module):
    unsigned or signed integers of 8 or 16 bits, optional rescale (modality LUT) and window (VOI)."""
    import numpy as np
    from pydicom import dcmwrite
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    arr = np.asarray(pixels)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax or ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID, modality
    if with_pixels:
        colour = arr.ndim == 3 and frames is None
        ds.Rows, ds.Columns = arr.shape[-3:-1] if colour else arr.shape[-2:]
        ds.SamplesPerPixel = 3 if colour else 1
        ds.PhotometricInterpretation = photometric or ("RGB" if colour else "MONOCHROME2")
        if colour:
            ds.PlanarConfiguration = 0
        bits = arr.dtype.itemsize * 8
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
        ds.PixelRepresentation = 1 if arr.dtype.kind == "i" else 0
        if frames is not None:
            ds.NumberOfFrames = frames
        if window is not None:
            ds.WindowCenter, ds.WindowWidth = window
        if voi_function is not None:
            ds.VOILUTFunction = voi_function
        if intercept is not None or slope is not None:
            ds.RescaleIntercept, ds.RescaleSlope = intercept or 0, slope or 1
        if syntax is not None and syntax != ExplicitVRLittleEndian:  # compressed: data no decoder here can read
            ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + bytes(60)])
            ds["PixelData"].VR = "OB"
        else:
            ds.PixelData = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    dcmwrite(path, ds, enforce_file_format=True)
    return path


@pytest.fixture
def dicom_file():
    """:func:`write_dicom`, for tests in any folder."""
    return write_dicom


def write_tiff(bands: int, side: int = 4, values: Any = None) -> bytes:
    """A little-endian uncompressed TIFF of ``bands`` 16-bit samples per pixel, written tag by tag (no TIFF writer
    of Pillow writes one): 13 are EuroSAT MS' Sentinel-2 bands (Pillow reads 1 to 4), 3 an RGB image of 16-bit
    colour (``values``: side x side x 3; zeros when not given)."""
    import struct

    import numpy as np

    pixels = bytes(2 * bands * side * side) if values is None else np.asarray(values).astype("<u2").tobytes()
    bits_at = 8  # the BitsPerSample array, then the pixels, then the directory
    data_at = bits_at + 2 * bands
    ifd_at = data_at + len(pixels)
    photometric = 2 if bands == 3 else 1  # RGB, or "black is zero" bands
    tags = [(256, 3, 1, side), (257, 3, 1, side), (258, 3, bands, bits_at), (259, 3, 1, 1), (262, 3, 1, photometric),
            (273, 4, 1, data_at), (277, 3, 1, bands), (278, 3, 1, side), (279, 4, 1, len(pixels)), (284, 3, 1, 1)]
    ifd = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", *t) for t in tags) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", ifd_at) + struct.pack(f"<{bands}H", *[16] * bands) + pixels + ifd


@pytest.fixture
def tiff_bytes():
    """:func:`write_tiff`, for tests in any folder."""
    return write_tiff
