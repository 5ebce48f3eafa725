"""The part Pillow plugins share whose files a library decodes into an array (DICOM through pydicom, deep-colour
TIFFs through tifffile): the pixels are read when the file is opened and handed to Pillow when it loads them."""

from __future__ import annotations

from typing import Any

from PIL import Image, ImageFile


class DecodedImageFile(ImageFile.ImageFile):
    """An image whose ``_open`` decodes its pixels with :meth:`_set_pixels`; :meth:`load` gives them to Pillow."""

    _pixels: Any = None

    def _set_pixels(self, pixels: Any, mode: str) -> None:
        """Keep ``pixels`` (an ``H x W`` or ``H x W x C`` array of ``mode``) for :meth:`load`."""
        self._pixels = pixels
        self._size = (int(pixels.shape[1]), int(pixels.shape[0]))
        self._mode = mode

    def load(self) -> Any:
        if self._pixels is not None:
            self.im = Image.fromarray(self._pixels).im
            self._pixels = None
            fp: Any = self.fp
            if getattr(self, "_exclusive_fp", False) and fp is not None:
                fp.close()  # as Pillow closes a file it opened once the image is read
            setattr(self, "fp", None)  # noqa: B010 - Pillow's own load() does so (typed as never None)
        return Image.Image.load(self)
