"""Opening DICOM scans as images (``hf_quicktune.data.dicom``): a windowed scan through the table of its stored levels
against the same scan windowed pixel by pixel (the baseline, ``windowed(..., table=False)``), in the same process;
beside them a scan without a window (mode F), and the same image as an 8-bit and a 16-bit PNG.

A 12-bit scan of ``--side`` px square (smooth anatomy-like shading + noise, a CR's ``WindowCenter 2000, WindowWidth
3000``, MONOCHROME1) is written once; each variant is opened and loaded (``Image.open(...).load()``, as datasets and
training do) ``--repeats`` times after one warm-up, alternating, best of the rounds reported in ms per image.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dicom_decode.py [--side 2048] [--repeats 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def _scan(path: Path, pixels: np.ndarray, window: tuple[int, int] | None) -> None:
    from pydicom import dcmwrite
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID, "CR"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME1"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = pixels.astype("<u2").tobytes()
    dcmwrite(path, ds, enforce_file_format=True)


def _ms(path: Path, repeats: int) -> float:
    from PIL import Image

    start = time.perf_counter()
    for _ in range(repeats):
        with Image.open(path) as image:
            image.load()
    return 1000 * (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from PIL import Image

    from hf_quicktune.data import dicom

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:args.side, 0:args.side] / args.side
    body = 2000 + 1200 * np.sin(3 * x) * np.cos(2 * y) + rng.normal(0, 150, (args.side, args.side))
    pixels = np.clip(body, 0, 4095).astype(np.uint16)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _scan(root / "windowed.dcm", pixels, (2000, 3000))
        _scan(root / "plain.dcm", pixels, None)
        Image.fromarray((pixels >> 4).astype(np.uint8)).save(root / "8bit.png")
        Image.fromarray(pixels).save(root / "16bit.png")
        table = dicom.windowed

        def per_pixel(stored, ds, window, table=True):  # the baseline: every pixel through the LUT and window
            return original(stored, ds, window, table=False)

        original = table
        variants = {"dicom windowed, table of levels": ("windowed.dcm", table),
                    "dicom windowed, per pixel (baseline)": ("windowed.dcm", per_pixel),
                    "dicom without window (mode F)": ("plain.dcm", table),
                    "png 8-bit": ("8bit.png", table), "png 16-bit": ("16bit.png", table)}
        best = {name: float("inf") for name in variants}
        for file, fn in variants.values():  # warm-up: imports, the decoders first calls
            dicom.windowed = fn
            _ms(root / file, 1)
        for _ in range(args.rounds):
            for name, (file, fn) in variants.items():
                dicom.windowed = fn
                best[name] = min(best[name], _ms(root / file, args.repeats))
        dicom.windowed = table
    print(f"{args.side} x {args.side} px, 12 bits stored; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; "
          f"best of {args.rounds} rounds of {args.repeats} opens")
    for name, ms in best.items():
        print(f"  {name:40s} {ms:7.1f} ms per image")
    base, ours = best["dicom windowed, per pixel (baseline)"], best["dicom windowed, table of levels"]
    print(f"windowed scan: {base:.1f} -> {ours:.1f} ms ({base / ours:.2f}x)")


if __name__ == "__main__":
    main()
