"""DICOM scans (``.dcm``: X-ray, CT, MR, ultrasound) opened by Pillow through pydicom.

A Pillow plugin (registered when :mod:`hf_quicktune.data` is imported), so every stage that opens an image reads
scans as it reads a PNG: the image check, datasets' decoding, training and ranking (their DataLoader workers
included), ``predict`` and the card's usage; a folder or table of scans loads as any image dataset (Kaggle's RSNA
and SIIM downloads). A scan becomes the image a viewer displays (DICOM PS3.3 C.7.6.3.1, C.11):

- grayscale: the stored values through the modality LUT (``RescaleSlope`` / ``RescaleIntercept``: a CT's
  Hounsfield units), then the file's window (``WindowCenter`` / ``WindowWidth``, the first of several, with its
  ``VOILUTFunction``: LINEAR, LINEAR_EXACT or SIGMOID, C.11.2.1.2) onto 0-255: mode ``L``. A VOI LUT sequence
  (applied by pydicom), or no window at all, gives mode ``F`` of the values, which training stretches over the
  image's own range as it does any 16-bit image (:func:`hf_quicktune.data.transforms.to_8bit`).
- ``MONOCHROME1`` (the lowest value white: many X-rays) is inverted, so its bones look as ``MONOCHROME2``'s do.
- colour (RGB; YBR converted by pydicom): mode ``RGB``, more than 8 bits scaled by the bits stored.
- a multi-frame file (a cine loop, a tomosynthesis stack): its first frame (``n_frames`` says how many).

Files that hold no image (reports, presentation states) and compressed pixel data pydicom cannot decode without
an extra package (JPEG 2000, JPEG-LS, lossless JPEG) raise ``OSError`` saying what they are and what to install.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from PIL import Image

from hf_quicktune.data.decoded_image import DecodedImageFile

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

FORMAT = "DICOM"
#: the file extensions of scans (lower case): listed with the image types a folder or a table is read for
EXTENSIONS = (".dcm", ".dicom")
#: where a DICOM file's marker is (after its 128-byte preamble, PS3.10 7.1)
_MAGIC_AT = 128
#: the elements that hold a scan's pixels
_PIXEL_ELEMENTS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
#: what decodes the compressed transfer syntaxes pydicom cannot decode alone
_DECODERS = ("pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg (JPEG, JPEG-LS, JPEG 2000), or "
             "python-gdcm")


class _DecoderTracebacks(logging.Filter):
    """Drops pydicom's traceback of each decoding plugin that failed on a frame (logged at ERROR for every file):
    the ``OSError`` raised here holds their messages, and the image check reports each file once."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.exc_info is None


def is_dicom(head: bytes) -> bool:
    """Whether the bytes a file starts with (at least 132 of them) are a DICOM file's."""
    return head[_MAGIC_AT:_MAGIC_AT + 4] == b"DICM"


class DicomImageFile(DecodedImageFile):
    """A DICOM file as a Pillow image (see the module): its pixels are read and windowed when it is opened."""

    format = FORMAT
    format_description = "DICOM (medical imaging), read by pydicom"

    def _open(self) -> None:
        fp: Any = self.fp
        if not is_dicom(fp.read(_MAGIC_AT + 4)):
            raise SyntaxError("not a DICOM file")
        try:
            import pydicom  # noqa: F401
        except ImportError as err:  # Pillow goes on to "cannot identify", which images.py tells as DICOM
            raise SyntaxError("pydicom is not installed") from err
        fp.seek(0)
        pixels, self.n_frames = read_scan(fp)
        self._set_pixels(pixels, {"uint8": "RGB" if pixels.ndim == 3 else "L", "float32": "F"}[pixels.dtype.name])


def read_scan(fp: IO[bytes]) -> tuple[np.ndarray, int]:
    """The displayed pixels of the DICOM file ``fp`` (``uint8`` gray or RGB, or ``float32`` gray; see the module)
    and its number of frames, or raise ``OSError`` saying why there are none."""
    import numpy as np
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(fp)
    except Exception as err:  # pydicom raises many types for a damaged file
        raise OSError(f"a damaged DICOM file ({type(err).__name__}: {err})") from err
    if not any(name in ds for name in _PIXEL_ELEMENTS):
        kind = str(ds.get("Modality") or ds.get("SOPClassUID", "")) or "unknown"
        raise OSError(f"a DICOM file without an image (modality or class: {kind}; a report or a presentation "
                      "state, not a scan): remove it from the dataset")
    rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    if Image.MAX_IMAGE_PIXELS and rows * columns > 2 * Image.MAX_IMAGE_PIXELS:  # before decoding, as Pillow checks
        raise Image.DecompressionBombError(f"Image size ({rows * columns} pixels) exceeds limit of "
                                           f"{2 * Image.MAX_IMAGE_PIXELS} pixels, could be decompression bomb DOS "
                                           "attack.")
    decoders = logging.getLogger("pydicom.pixels.decoders.base")
    if not any(isinstance(f, _DecoderTracebacks) for f in decoders.filters):
        decoders.addFilter(_DecoderTracebacks())
    try:
        pixels = ds.pixel_array
    except Exception as err:  # a handler missing for a compressed syntax, or pixel data of the wrong length
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        name = getattr(syntax, "name", None) or str(syntax or "unknown")
        fix = _DECODERS if syntax is not None and getattr(syntax, "is_compressed", False) else "the file is damaged?"
        raise OSError(f"pydicom could not decode this DICOM file's pixels ({name}: {type(err).__name__}: {err}); "
                      f"{fix}") from err
    frames = int(ds.get("NumberOfFrames") or 1)
    if frames > 1:
        pixels = pixels[0]
    if pixels.ndim == 3:  # colour: pydicom has converted YBR to RGB
        bits = int(ds.get("BitsStored") or 8)
        if pixels.dtype != np.uint8:
            pixels = np.rint(pixels.astype(np.float64) * (255.0 / (2 ** bits - 1)))
        return np.ascontiguousarray(np.clip(pixels, 0, 255).astype(np.uint8)), frames
    inverted = str(ds.get("PhotometricInterpretation", "")).strip().upper() == "MONOCHROME1"
    window = None if "VOILUTSequence" in ds else _window(ds)
    if window is None:
        values = apply_modality_lut(pixels, ds)
        if "VOILUTSequence" in ds:
            values = apply_voi_lut(values, ds)
        out = np.asarray(values, dtype=np.float32)
        return np.ascontiguousarray(-out if inverted else out), frames
    shown = windowed(pixels, ds, window)
    return np.ascontiguousarray(255 - shown if inverted else shown), frames


def windowed(pixels: np.ndarray, ds: Any, window: tuple[float, float, str], table: bool = True) -> np.ndarray:
    """The stored ``pixels`` through the modality LUT and ``window`` onto 0-255 (``uint8``). Integers of 16 bits or
    fewer go through a table of their levels from the lowest to the highest (``table``): the modality LUT and the
    window computed once per level, not per pixel (a 2048 x 2048 scan: ``benchmarks/dicom_decode.py``)."""
    import numpy as np
    from pydicom.pixels import apply_modality_lut

    if table and pixels.dtype.kind in "iu" and pixels.dtype.itemsize <= 2 and pixels.size:
        lo, hi = int(pixels.min()), int(pixels.max())
        levels = np.arange(lo, hi + 1, dtype=np.int32 if pixels.dtype.kind == "i" else np.uint32)
        values = np.asarray(apply_modality_lut(levels.astype(pixels.dtype), ds), dtype=np.float64)
        lut = np.rint(255.0 * apply_window(values, *window)).astype(np.uint8)
        return lut[pixels.astype(np.int32) - lo]
    values = np.asarray(apply_modality_lut(pixels, ds), dtype=np.float64)
    return np.rint(255.0 * apply_window(values, *window)).astype(np.uint8)


def _window(ds: Any) -> tuple[float, float, str] | None:
    """The file's first window ``(center, width, function)``, or None (none, or one that cannot be used)."""
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if center is None or width is None:
        return None
    from pydicom.multival import MultiValue

    try:
        c = float(center[0] if isinstance(center, MultiValue | list | tuple) else center)
        w = float(width[0] if isinstance(width, MultiValue | list | tuple) else width)
    except (TypeError, ValueError, IndexError):
        return None
    function = str(ds.get("VOILUTFunction") or "LINEAR").strip().upper()
    if function not in ("LINEAR", "LINEAR_EXACT", "SIGMOID") or w < 1 or (function != "LINEAR" and w <= 0):
        return None
    return c, w, function


def apply_window(values: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """A VOI window (DICOM PS3.3 C.11.2.1.2) onto ``[0, 1]``: LINEAR (``(x - (c - 0.5)) / (w - 1) + 0.5``, 0 at and
    below ``c - 0.5 - (w - 1) / 2``), LINEAR_EXACT (``(x - c) / w + 0.5``) or SIGMOID (``1 / (1 + exp(-4 (x - c)
    / w))``)."""
    import numpy as np

    if function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
    if function == "LINEAR_EXACT":
        return np.clip((values - center) / width + 0.5, 0.0, 1.0)
    if width <= 1:  # a step at c - 0.5
        return (values > center - 0.5).astype(np.float64)
    return np.clip((values - (center - 0.5)) / (width - 1) + 0.5, 0.0, 1.0)


def _accept(prefix: bytes) -> bool:
    """Pillow shows a plugin the first 16 bytes, before the marker at 128: every file is a candidate, and
    :meth:`DicomImageFile._open` reads the marker (a seek and 132 bytes for files no other plugin took)."""
    return True


def register() -> None:
    """Make Pillow open DICOM files (idempotent): ``Image.open("scan.dcm")`` then reads it as this module says."""
    if FORMAT in Image.OPEN:
        return
    Image.preinit()  # the common formats (JPEG, PNG...) are tried before this plugin's read of the marker
    Image.register_open(FORMAT, DicomImageFile, _accept)
    Image.register_extensions(FORMAT, list(EXTENSIONS))


def is_scan_file(path: Path) -> bool:
    """Whether the file ``path`` is a DICOM file (its ``DICM`` marker), whatever its name."""
    try:
        with open(path, "rb") as fh:
            return is_dicom(fh.read(_MAGIC_AT + 4))
    except OSError:
        return False


def teach_imagefolder(extensions: list[str]) -> None:
    """Add the scans' extensions to datasets' ``imagefolder`` list ``extensions`` (its ``ImageFolder.EXTENSIONS``,
    which it compiled from Pillow's own registered extensions), so a folder of scans loads as one of photos."""
    extensions += [ext for ext in EXTENSIONS if ext not in extensions]


def teach_datasets() -> None:
    """Make datasets read scans as images (idempotent): its ``imagefolder`` lists their extensions
    (:func:`teach_imagefolder`), and its module inference reads a Hub repo of class folders of ``.dcm`` files as an
    ``imagefolder`` (it found no data files in one: its extension table, built at import, lists Pillow's formats)."""
    from datasets import packaged_modules
    from datasets.packaged_modules.imagefolder.imagefolder import ImageFolder

    teach_imagefolder(ImageFolder.EXTENSIONS)
    # datasets' private tables (load.py holds the same objects): extension -> module, the data files allowed, and
    # the data files a module's builder is given
    modules = getattr(packaged_modules, "_EXTENSION_TO_MODULE", {})
    allowed = [getattr(packaged_modules, name, []) for name in ("_ALL_EXTENSIONS", "_ALL_ALLOWED_EXTENSIONS")]
    allowed.append(getattr(packaged_modules, "_MODULE_TO_EXTENSIONS", {}).get("imagefolder", []))
    for ext in EXTENSIONS:
        for spelled in (ext, ext.upper()):
            modules.setdefault(spelled, ("imagefolder", {}))
            for extensions in allowed:
                if spelled not in extensions:
                    extensions.append(spelled)


register()
