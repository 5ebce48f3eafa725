"""Decoding checks: undecodable images are skipped and counted; too many of them is an error."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hf_quicktune.constants import cache_dir
from hf_quicktune.errors import DatasetError

if TYPE_CHECKING:  # pragma: no cover
    import datasets

logger = logging.getLogger(__name__)

#: ``progress(task, done, total, images)``, the run reporter's signature
Progress = Callable[[str, int, int | None, int | None], None]

#: fail when more than this fraction of all images cannot be decoded
MAX_BAD_FRACTION = 0.05
#: most threads that decode images at once
_MAX_THREADS = 4
#: mean encoded bytes of a batch's images from which they are decoded by threads
_THREAD_BYTES = 16_384
#: the task name of the check's progress calls
PROGRESS_TASK = "checking images"
#: how a check's error begins for an image over Pillow's pixel limit (``Image.MAX_IMAGE_PIXELS``, 2x)
_TOO_LARGE = "DecompressionBombError"
#: a check that took at least this many seconds is remembered (:func:`_remembered`)
REMEMBER_SECONDS = 1.0


def _read(value: Any) -> bytes:
    """The encoded bytes of one image entry (given, or its file's), or raise."""
    if value is None:
        raise ValueError("no image (null value)")
    data, path = (value.get("bytes"), value.get("path")) if isinstance(value, dict) else (value, None)
    if data:
        return bytes(data)
    if not path:
        raise ValueError("empty image entry (no bytes and no path)")
    with open(path, "rb") as fh:
        return fh.read()


def _decode(value: Any) -> None:
    """Decode one image entry fully, or raise. A JPEG is decoded in draft mode (libjpeg's DCT scaling to
    1/8 of its size): every byte of its entropy-coded data is still read and checked, so truncated or
    corrupt files fail as they would at full size, in less time (``benchmarks/data_startup.py`` measures the
    check on photos, threads included, against one thread and full decoding)."""
    _decode_bytes(_read(value))


def _decode_bytes(data: bytes) -> None:
    from PIL import Image
    from PIL.JpegImagePlugin import JpegImageFile

    with Image.open(io.BytesIO(data)) as im:
        if isinstance(im, JpegImageFile):  # a JPEG or an MPO (a phone camera's JPEG with a second picture)
            im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
        im.load()


def _check(value: Any) -> tuple[str | None, str | None]:
    """(the decoding error of one entry as ``"Type: message"`` or None, a digest of its encoded bytes or None).
    The digest finds byte-for-byte copies across splits (:func:`~hf_quicktune.data.splits.leak_warnings`)."""
    digest = None
    try:
        data = _read(value)
        digest = hashlib.blake2b(data, digest_size=8).hexdigest()
        _decode_bytes(data)
    except Exception as err:  # PIL raises many types for corrupt files
        return f"{type(err).__name__}: {_what_it_is(data) if _unidentified(err) else err}", digest
    return None, digest


def decode_error(err: Exception, source: Any) -> str:
    """``Type: message`` for an image entry or file path ``source`` that did not decode; Pillow's "cannot identify
    image file" is told as what the file is (:func:`_what_it_is`)."""
    if _unidentified(err):
        try:
            if isinstance(source, str | os.PathLike):
                with open(source, "rb") as fh:
                    data = fh.read(4096)
                    if data[:4] in _TIFF and os.path.getsize(source) <= _TIFF_READ:  # its tags may lie past 4 KB
                        data += fh.read()
            else:
                data = _read(source)
            return f"{type(err).__name__}: {_what_it_is(data)}"
        except (OSError, ValueError, TypeError):
            pass
    return f"{type(err).__name__}: {err}"


def _unidentified(err: Exception) -> bool:
    from PIL import UnidentifiedImageError

    return isinstance(err, UnidentifiedImageError)


def _what_it_is(data: bytes) -> str:
    """Why Pillow found no image in ``data``, from its first bytes (its own message names an in-memory buffer):
    an empty file, a web page saved under an image's name, formats Pillow does not read."""
    head = data[:512].lstrip()
    if not data:
        return "an empty file (0 bytes)"
    if head[:5].lower() == b"<?xml" and b"<svg" in data[:2048].lower() or head[:4].lower() == b"<svg":
        return "an SVG drawing (vector images are not read: convert it to PNG, e.g. with cairosvg or rsvg-convert)"
    if head[:1] == b"<":
        return "a web page (HTML or XML), not an image: a download that got an error or login page?"
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc", b"ftypavif"):
        return ("an HEIC / AVIF photo under another file name; Pillow does not read it: convert it to JPEG (e.g. "
                "heif-convert, or pillow-heif in Python)")
    if data[128:132] == b"DICM":  # hf_quicktune.data.dicom reads them where pydicom is installed
        return "a DICOM file (medical imaging), which needs pydicom: pip install pydicom"
    if data[:4] in _TIFF:
        return _tiff_text(data)
    return f"not an image format Pillow reads (it starts with {data[:8].hex(' ')})"


#: the first bytes of a TIFF (little- and big-endian), and the largest one read whole to tell why it failed
_TIFF = (b"II*\x00", b"MM\x00*")
_TIFF_READ = 64 << 20


def _tiff_text(data: bytes) -> str:
    """Why Pillow read no image from a TIFF, from its tags: most often more bands than an RGB(A) image
    (multispectral satellite tiles, Sentinel-2's 13 in EuroSAT's MS release), which a classifier of RGB or
    grayscale images cannot take as they are."""
    from PIL import TiffImagePlugin

    try:
        tags = TiffImagePlugin.ImageFileDirectory_v2(data[:8])
        fp = io.BytesIO(data)
        fp.seek(tags.next)
        tags.load(fp)
        bands, bits = int(tags.get(277, 1)), tags.get(258, (8,))
    except Exception:  # tags past what was read, or damaged
        return "a TIFF that Pillow cannot decode (its compression or layout): convert it to PNG"
    depth = bits[0] if isinstance(bits, tuple) else bits
    if bands > 4:
        return (f"a TIFF of {bands} bands per pixel ({depth}-bit; a multispectral image, e.g. a satellite's): Pillow "
                "reads 1 to 4 and hf-quicktune trains on RGB or grayscale images; write three of its bands as an "
                "RGB PNG (Sentinel-2's red, green and blue are B04, B03 and B02), e.g. with tifffile or rasterio")
    return f"a TIFF of {bands} band(s) of {depth} bits that Pillow cannot decode: convert it to PNG"


def _threads() -> int:
    return max(1, min(os.cpu_count() or 1, _MAX_THREADS))


def _worth_threads(values: list[Any]) -> bool:
    """Whether a batch's checks go to threads: PIL releases the GIL while it reads and decodes, which pays on
    photos and on files but costs more than it saves on tiny encoded images (8x8 PNGs decode in ~25 us: the
    threads' hand-offs take longer). Threads when most entries are files, or the bytes given average at
    least ``_THREAD_BYTES``."""
    entries = [v for v in values if isinstance(v, dict)]
    if not entries:
        return False
    files = sum(1 for v in entries if not v.get("bytes") and v.get("path"))
    if 2 * files >= len(entries):
        return True
    return sum(len(v.get("bytes") or b"") for v in entries) / len(entries) >= _THREAD_BYTES


def find_undecodable(ds: datasets.Dataset, column: str = "image", batch_size: int = 256,
                     progress: Progress | None = None, done: int = 0, total: int | None = None,
                     ) -> list[tuple[int, str, str]]:
    """Return ``(row, path_or_hint, error)`` for every row whose image cannot be decoded (rows in order);
    :func:`check_images` also gives each row's digest."""
    return check_images(ds, column, batch_size, progress, done, total)[0]


def check_images(ds: datasets.Dataset, column: str = "image", batch_size: int = 256,
                 progress: Progress | None = None, done: int = 0, total: int | None = None,
                 ) -> tuple[list[tuple[int, str, str]], list[str | None]]:
    """``(row, path_or_hint, error)`` for every row whose image cannot be decoded (rows in order), and every
    row's digest of its encoded bytes (None where they cannot be read).

    Every image is decoded once (:func:`_decode`), by a few threads where the images are large enough for
    that to pay (:func:`_worth_threads`). ``progress(task, done, total, images)`` is called after every
    batch, ``done`` counting from the given offset (the images of splits checked before) out of ``total``.
    A check that took :data:`REMEMBER_SECONDS` or more is remembered for the dataset's content
    (:func:`_remembered`): the next run on it, or its ``--resume``, reads the answer instead."""
    import datasets

    raw = ds.cast_column(column, datasets.Image(decode=False)).select_columns([column])
    total = len(raw) + done if total is None else total
    memo = _remembered(raw, column)
    if memo is not None and memo.exists():
        try:
            saved = json.loads(memo.read_text(encoding="utf-8"))
            if saved.get("rows") == len(raw) and len(saved.get("digests") or []) == len(raw):
                if progress is not None:
                    progress(PROGRESS_TASK, done + len(raw), total, done + len(raw))
                return [(int(r), str(p), str(e)) for r, p, e in saved["bad"]], list(saved["digests"])
        except (OSError, ValueError, KeyError, TypeError):
            logger.debug("ignoring an unreadable image check %s", memo, exc_info=True)
    started = time.monotonic()
    bad: list[tuple[int, str, str]] = []
    digests: list[str | None] = []
    row = 0
    with ThreadPoolExecutor(max_workers=_threads()) as pool:
        for batch in raw.iter(batch_size=batch_size):
            values = batch[column]
            threaded = _threads() > 1 and _worth_threads(values)
            checks = list(pool.map(_check, values)) if threaded else [_check(v) for v in values]
            for value, (error, digest) in zip(values, checks, strict=True):
                digests.append(digest)
                if error is not None:
                    hint = (value.get("path") if isinstance(value, dict) else None) or "<bytes>"
                    bad.append((row, str(hint), error))
                row += 1
            if progress is not None:
                progress(PROGRESS_TASK, done + row, total, done + row)
    if memo is not None and time.monotonic() - started >= REMEMBER_SECONDS:
        try:
            memo.parent.mkdir(parents=True, exist_ok=True)
            tmp = memo.with_name(f"{memo.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"rows": len(raw), "bad": bad, "digests": digests}), encoding="utf-8")
            os.replace(tmp, memo)
        except OSError:  # a cache that cannot be written costs the next run the check, nothing else
            logger.debug("could not remember the image check in %s", memo, exc_info=True)
    return bad, digests


def _remembered(raw: datasets.Dataset, column: str) -> Path | None:
    """Where the check of ``raw`` (its image column, undecoded) is remembered: keyed by datasets' own
    fingerprint of it, and by the size and modification time of every image file it names. The fingerprint
    follows what the dataset holds and every operation since (the same in every process); images named by path
    (a local folder's, a CSV's) are not part of it, hence their own stats: a changed image is checked again. None
    for a dataset without a fingerprint."""
    key = getattr(raw, "_fingerprint", None)
    if not isinstance(key, str) or not key:
        return None
    digest = hashlib.sha256(key.encode())
    peek = raw[: min(len(raw), 16)][column]
    if not any(isinstance(v, dict) and v.get("bytes") for v in peek):  # images named by path: stat them all
        for batch in raw.iter(batch_size=1024):  # (bytes are None here: nothing large is read)
            for value in batch[column]:
                path = value.get("path") if isinstance(value, dict) else None
                if path:
                    try:
                        st = os.stat(path)
                    except OSError:  # missing: the check reports it, and it is remembered as missing
                        digest.update(f"{path}\0-\n".encode())
                    else:
                        digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return cache_dir() / "image_checks" / f"{digest.hexdigest()[:32]}.json"


def _advice(errors: list[str]) -> str:
    """What to do about the undecodable images whose check errors are ``errors``: images over Pillow's pixel
    limit and files that do not exist are said apart from the rest."""
    from PIL import Image

    too_large = sum(1 for e in errors if e.startswith(_TOO_LARGE))
    missing = sum(1 for e in errors if e.startswith("FileNotFoundError"))
    parts = []
    if too_large:
        limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)  # it warns above MAX_IMAGE_PIXELS and refuses above twice that
        parts.append(f"{too_large} of them {'is' if too_large == 1 else 'are'} larger than Pillow's limit against "
                     f"decompression bombs ({limit:,} pixels, about {int(limit ** 0.5):,} px square), which "
                     "hf-quicktune keeps: downscale them (training resizes every image to the model's input size, "
                     "a few hundred pixels), e.g. `mogrify -resize '4096x4096>' *.png` (ImageMagick)")
    if missing:
        parts.append(f"{missing} of them {'is a file that does' if missing == 1 else 'are files that do'} not exist: "
                     "check the image column holds real image files (a data file's relative paths are read from "
                     "its folder, or from the current directory where more of them are found there); fix the "
                     "paths, or run from the folder they are relative to")
    if too_large + missing < len(errors):
        parts.append("fix or remove the other files (check the image column holds real image files/bytes)"
                     if parts else "fix or remove these files (check the image column holds real image files/bytes)")
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def drop_undecodable(splits: dict[str, datasets.Dataset], progress: Progress | None = None,
                     ) -> tuple[dict[str, datasets.Dataset], int, dict[str, list[str | None]]]:
    """Check every image; drop the bad ones (logged) or raise when more than 5 % are bad. ``progress``: see
    :func:`find_undecodable` (counted over all splits). Also returns each kept row's digest, per split."""
    total = sum(len(ds) for ds in splits.values())
    bad: dict[str, list[tuple[int, str, str]]] = {}
    digests: dict[str, list[str | None]] = {}
    done = 0
    for name, ds in splits.items():
        bad[name], digests[name] = check_images(ds, progress=progress, done=done, total=total)
        done += len(ds)
    n_bad = sum(len(b) for b in bad.values())
    if n_bad == 0:
        return splits, 0, digests
    advice = _advice([e for rows in bad.values() for _, _, e in rows])
    if n_bad > MAX_BAD_FRACTION * total:
        reasons = {e for rows in bad.values() for _, _, e in rows}
        if len(reasons) == 1:  # one reason for all (a format Pillow does not read): said once
            shown = ", ".join([f"{s}[{r}] {p}" for s, rows in bad.items() for r, p, _ in rows][:8])
            examples = f"Examples: {shown} (each: {next(iter(reasons)).rstrip('.')})"
        else:
            examples = "Examples: " + "; ".join([f"{s}[{r}] {p}: {e}" for s, rows in bad.items() for r, p, e in rows][:8])
        raise DatasetError(
            f"{n_bad} of {total} images ({100.0 * n_bad / total:.1f} %) cannot be decoded, more than the "
            f"{100 * MAX_BAD_FRACTION:.0f} % hf-quicktune skips silently. {examples}. {advice}"
        )
    out = {}
    for name, ds in splits.items():
        rows = {r for r, _, _ in bad[name]}
        if rows:
            for r, p, e in bad[name][:5]:
                logger.warning("skipping undecodable image %s[%d] %s (%s)", name, r, p, e)
            out[name] = ds.select([i for i in range(len(ds)) if i not in rows])
            digests[name] = [d for i, d in enumerate(digests[name]) if i not in rows]
        else:
            out[name] = ds
    logger.warning("skipped %d undecodable image(s) of %d. %s", n_bad, total, advice)
    return out, n_bad, digests
