"""TIFFs of more than 8 bits per colour sample (satellite and microscope RGB) opened by Pillow through tifffile.

Pillow reads a 16-bit RGB TIFF as 8-bit RGB by keeping the high byte of each sample: a 12-bit image (values up to
4095) comes out at 0-15 of 255, nearly black, without a word. This Pillow plugin, registered ahead of Pillow's TIFF
plugin when :mod:`hf_quicktune.data` is imported (as the DICOM one: every stage that opens images reads these
files so, DataLoader workers and ``predict`` included), decodes them with tifffile and stretches them to 8 bits
over the image's own range, one scale for its three bands (their colour balance kept), as a 16-bit grayscale image
is stretched (:func:`hf_quicktune.data.transforms.to_8bit`). A fourth band (alpha, or a satellite's near infrared)
is left out. Every other TIFF (8-bit, grayscale of any depth, more than 4 bands) is left to Pillow, and so is one
whose compression needs imagecodecs where it is not installed (LZW, JPEG: a warning says what is lost).
"""

from __future__ import annotations

import logging
import struct
from typing import IO, Any

from PIL import Image

from hf_quicktune.data.decoded_image import DecodedImageFile

logger = logging.getLogger(__name__)

FORMAT = "TIFF16"
_MAGIC = (b"II*\x00", b"MM\x00*")
#: the tags read (TIFF 6.0 section 8): width, height, bits per sample, photometric interpretation, samples per pixel
_WIDTH, _HEIGHT, _BITS, _PHOTOMETRIC, _SAMPLES = 256, 257, 258, 262, 277
_READ = (_WIDTH, _HEIGHT, _BITS, _PHOTOMETRIC, _SAMPLES)
_RGB = 2
#: bytes of one value of each TIFF field type that may hold these tags (SHORT, LONG)
_SIZES = {3: 2, 4: 4}


def _accept(prefix: bytes) -> bool:
    return prefix[:4] in _MAGIC


def deep_colour(fp: IO[bytes]) -> tuple[int, int] | None:
    """The ``(width, height)`` of the TIFF ``fp`` (at its start) where it is an RGB image of more than 8 bits per
    sample, else None; from its first directory's tags (a few hundred bytes read: Pillow's TIFF plugin reads the
    whole directory again for the other TIFFs)."""
    head = fp.read(8)
    if head[:4] not in _MAGIC:
        return None
    order = "<" if head[:2] == b"II" else ">"
    (offset,) = struct.unpack(order + "I", head[4:8])
    fp.seek(offset)
    raw = fp.read(2)
    if len(raw) < 2:
        return None
    (count,) = struct.unpack(order + "H", raw)
    entries = fp.read(12 * count)
    tags: dict[int, int] = {}
    for i in range(len(entries) // 12):
        tag, kind, n, value = struct.unpack(order + "HHI4s", entries[12 * i: 12 * i + 12])
        if tag not in _READ or kind not in _SIZES:
            continue
        size = _SIZES[kind]
        if n * size > 4:  # the values lie elsewhere: the first one is enough (bits are the same for RGB's bands)
            fp.seek(struct.unpack(order + "I", value)[0])
            value = fp.read(size)
        tags[tag] = struct.unpack(order + ("H" if size == 2 else "I"), value[:size])[0]
    if tags.get(_PHOTOMETRIC) == _RGB and tags.get(_SAMPLES, 1) in (3, 4) and tags.get(_BITS, 8) > 8:
        return tags.get(_WIDTH, 0), tags.get(_HEIGHT, 0)
    return None


def read_deep_colour(fp: IO[bytes]) -> Any:
    """The first image of the TIFF ``fp`` as ``uint8`` RGB, stretched over its own range (see the module)."""
    import numpy as np

    try:
        import tifffile
    except ImportError as err:
        raise MissingDecoder("tifffile is not installed (pip install tifffile)") from err
    try:
        pixels = np.asarray(tifffile.imread(fp, key=0))
    except Exception as err:  # a compression tifffile decodes only with imagecodecs (LZW, JPEG), or damage
        if "imagecodecs" in str(err):
            raise MissingDecoder(f"{err} (pip install imagecodecs)") from err
        raise OSError(f"a TIFF of 16-bit colour samples that tifffile could not decode ({type(err).__name__}: "
                      f"{err}): convert it to PNG") from err
    if pixels.ndim != 3 or pixels.shape[-1] not in (3, 4):
        raise OSError(f"a TIFF of 16-bit colour samples of an unexpected shape {pixels.shape}: convert it to PNG")
    rgb = pixels[..., :3].astype(np.float64)
    lo, hi = np.nanmin(rgb), np.nanmax(rgb)
    return np.nan_to_num((rgb - lo) * (255 / max(hi - lo, 1e-12))).round().clip(0, 255).astype(np.uint8)


class MissingDecoder(Exception):
    """tifffile, or the codec of the file's compression (imagecodecs: LZW, JPEG), is not installed."""


_warned: set[str] = set()


class DeepColourTiffFile(DecodedImageFile):
    """A TIFF of more than 8 bits per colour sample, as 8-bit RGB (see the module); decoded when opened."""

    format = FORMAT
    format_description = "TIFF of 16-bit colour samples, read by tifffile"

    def _open(self) -> None:
        fp: Any = self.fp
        size = deep_colour(fp)
        if size is None:
            raise SyntaxError("not a TIFF of deep colour samples")  # Pillow's TIFF plugin reads it
        if Image.MAX_IMAGE_PIXELS and size[0] * size[1] > 2 * Image.MAX_IMAGE_PIXELS:  # before decoding, as Pillow
            raise Image.DecompressionBombError(f"Image size ({size[0] * size[1]} pixels) exceeds limit of "
                                               f"{2 * Image.MAX_IMAGE_PIXELS} pixels, could be decompression bomb "
                                               "DOS attack.")
        fp.seek(0)
        try:
            pixels = read_deep_colour(fp)
        except MissingDecoder as err:  # read as before this plugin (each sample's high byte), and said once
            if str(err) not in _warned:
                _warned.add(str(err))
                logger.warning("TIFFs of 16-bit colour are read as Pillow reads them, each sample's high byte (a "
                               "12-bit image nearly black), because %s; installed, they are read in full", err)
            raise SyntaxError(str(err)) from err
        self._set_pixels(pixels, "RGB")


def register() -> None:
    """Make Pillow open TIFFs of deep colour samples through this plugin (idempotent), tried before its own TIFF
    plugin (which would otherwise read them first, lossily)."""
    if FORMAT not in Image.OPEN:
        Image.preinit()
        Image.register_open(FORMAT, DeepColourTiffFile, _accept)
    if "TIFF" in Image.ID and Image.ID.index("TIFF") < Image.ID.index(FORMAT):
        Image.ID.remove(FORMAT)
        Image.ID.insert(Image.ID.index("TIFF"), FORMAT)


register()
