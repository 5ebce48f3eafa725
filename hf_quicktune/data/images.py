"""Decoding checks: undecodable images are skipped and counted; too many of them is an error."""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Any

from hf_quicktune.errors import DatasetError

if TYPE_CHECKING:  # pragma: no cover
    import datasets

logger = logging.getLogger(__name__)

#: fail when more than this fraction of all images cannot be decoded
MAX_BAD_FRACTION = 0.05


def _decode(value: Any) -> None:
    from PIL import Image

    if value is None:
        raise ValueError("no image (null value)")
    data, path = (value.get("bytes"), value.get("path")) if isinstance(value, dict) else (value, None)
    if data:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
    elif path:
        with Image.open(path) as im:
            im.load()
    else:
        raise ValueError("empty image entry (no bytes and no path)")


def find_undecodable(ds: datasets.Dataset, column: str = "image", batch_size: int = 256) -> list[tuple[int, str, str]]:
    """Return ``(row, path_or_hint, error)`` for every row whose image cannot be decoded."""
    import datasets

    raw = ds.cast_column(column, datasets.Image(decode=False)).select_columns([column])
    bad: list[tuple[int, str, str]] = []
    row = 0
    for batch in raw.iter(batch_size=batch_size):
        for value in batch[column]:
            try:
                _decode(value)
            except Exception as err:  # PIL raises many types for corrupt files
                hint = (value.get("path") if isinstance(value, dict) else None) or "<bytes>"
                bad.append((row, str(hint), f"{type(err).__name__}: {err}"))
            row += 1
    return bad


def drop_undecodable(splits: dict[str, datasets.Dataset]) -> tuple[dict[str, datasets.Dataset], int]:
    """Check every image; drop the bad ones (logged) or raise when more than 5 % are bad."""
    bad = {name: find_undecodable(ds) for name, ds in splits.items()}
    total = sum(len(ds) for ds in splits.values())
    n_bad = sum(len(b) for b in bad.values())
    if n_bad == 0:
        return splits, 0
    if n_bad > MAX_BAD_FRACTION * total:
        examples = [f"{s}[{r}] {p}: {e}" for s, rows in bad.items() for r, p, e in rows][:8]
        raise DatasetError(
            f"{n_bad} of {total} images ({100.0 * n_bad / total:.1f} %) cannot be decoded, more than the "
            f"{100 * MAX_BAD_FRACTION:.0f} % hf-quicktune skips silently. Examples: " + "; ".join(examples)
            + ". Fix or remove these files (check the image column holds real image files/bytes)."
        )
    out = {}
    for name, ds in splits.items():
        rows = {r for r, _, _ in bad[name]}
        if rows:
            for r, p, e in bad[name][:5]:
                logger.warning("skipping undecodable image %s[%d] %s (%s)", name, r, p, e)
            out[name] = ds.select([i for i in range(len(ds)) if i not in rows])
        else:
            out[name] = ds
    logger.warning("skipped %d undecodable image(s) of %d", n_bad, total)
    return out, n_bad
