"""Tiny generated datasets on disk (16x16 images) for the source and bad-input tests."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

COLOURS = {"cat": (220, 40, 40), "dog": (40, 200, 60), "owl": (30, 60, 220)}


def make_image(colour: tuple[int, int, int], seed: int, size: int = 16, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    arr = np.clip(np.asarray(colour)[None, None, :] + rng.integers(-30, 30, (size, size, 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(arr).convert(mode)


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def write_images(tmp_path: Path) -> Callable[..., list[tuple[str, str]]]:
    """Write ``n`` PNGs per class under ``root/<class>/``; returns (relative path, class) rows."""

    def write(per_class: dict[str, int], root: str = "images", corrupt: int = 0) -> list[tuple[str, str]]:
        rows = []
        seed = 0
        for cls, n in per_class.items():
            (tmp_path / root / cls).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                rel = f"{root}/{cls}/{cls}_{i}.png"
                path = tmp_path / rel
                if seed < corrupt:  # the first ``corrupt`` files are not images
                    path.write_bytes(b"this is not a png" * 3)
                else:
                    make_image(COLOURS.get(cls, (128, 128, 128)), seed).save(path)
                seed += 1
                rows.append((rel, cls))
        return rows

    return write


@pytest.fixture
def csv_dataset(tmp_path: Path, write_images) -> Callable[..., Path]:
    """A CSV with a relative ``filepath`` column and a string ``species`` column."""

    def make(per_class: dict[str, int] | None = None, corrupt: int = 0, name: str = "data.csv") -> Path:
        import pandas as pd

        rows = write_images(per_class or {"cat": 6, "dog": 6, "owl": 6}, corrupt=corrupt)
        path = tmp_path / name
        pd.DataFrame({"filepath": [r[0] for r in rows], "species": [r[1] for r in rows]}).to_csv(path, index=False)
        return path

    return make


@pytest.fixture
def refused_url():
    """An http URL whose connection is refused at once (the network or the server down): a port of this machine
    bound for the test and never listened on, so nothing else can answer there (a fixed port might be in use)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
