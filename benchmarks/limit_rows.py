"""What a load under ``--train-limit`` / ``--eval-limit`` costs on an image folder and on a table of image URLs, as
every load read them before session 57 (whole, every image checked or downloaded) against now, in the same process,
each arm with empty caches (the image check is remembered per dataset, so a second load would not show it).

* an ImageFolder of ``--photos`` 500x375 JPEGs in 10 classes (its train/ folder only: validation carved from it):
  before, a limited load read it whole, as ``data.load`` without limits does (the baseline); now enough images of
  every class folder are read (``data/imagefolder.py``) and a stratified 1.5x of what the limits need kept;
* a CSV of ``--urls`` image URLs served by a local HTTP server, with the limits scaled down: before, every row kept
  (``cut_rows_over=math.inf``, the baseline); now a stratified 1.5x of what the limits need, before downloading.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/limit_rows.py [--photos 6000] [--urls 2000]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import math
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def _photos(root: Path, n: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    x = np.linspace(0, 1, 500)[None, :, None]
    y = np.linspace(0, 1, 375)[:, None, None]
    noise = [rng.normal(0, 12, (375, 500, 3)) for _ in range(8)]
    for i in range(n):
        label = i % 10
        folder = root / "train" / f"class{label}"
        folder.mkdir(parents=True, exist_ok=True)
        wave = np.sin((3 + label) * x + (2 + i % 7) * y + np.arange(3) + i * 0.001) * 100 + 128
        pixels = np.clip(wave + np.roll(noise[i % 8], i, axis=1), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=90)


def _urls(root: Path, n: int) -> tuple[Path, list[str], http.server.ThreadingHTTPServer]:
    import pandas as pd
    from PIL import Image

    www = root / "www"
    www.mkdir(parents=True)
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(www)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    rng = np.random.default_rng(1)
    rows = []
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(www / f"{i}.png")
        rows.append((f"http://127.0.0.1:{httpd.server_address[1]}/{i}.png", f"class{i % 10}"))
    table = root / "scraped.csv"
    pd.DataFrame(rows, columns=["image_url", "label"]).to_csv(table, index=False)
    return table, requests, httpd


def _load(spec: str, caches: Path, limits: tuple[int, int] | None, cut: bool = True) -> tuple[float, int, int]:
    """Seconds of ``data.load`` (``limits``: train and eval limits, None: none) with empty caches, images checked,
    rows kept (train + validation)."""
    import datasets.config

    from hf_quicktune.data import load
    from hf_quicktune.data.images import PROGRESS_TASK

    os.environ["HF_QUICKTUNE_CACHE"] = str(caches / "qt")
    datasets.config.HF_DATASETS_CACHE = str(caches / "datasets")
    checked = [0]

    def progress(task, done, total, images):
        if task == PROGRESS_TASK:
            checked[0] = total
    start = time.perf_counter()
    train_limit, eval_limit = limits or (None, None)
    prepared = load(spec, train_limit=train_limit, eval_limit=eval_limit, cut_rows_over=1.0 if cut else math.inf,
                    progress=progress)
    return time.perf_counter() - start, checked[0], sum(len(s) for s in prepared.splits.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=6000)
    parser.add_argument("--urls", type=int, default=2000)
    parser.add_argument("--train-limit", type=int, default=500)
    parser.add_argument("--eval-limit", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        _photos(root / "photos", args.photos)
        print(f"{args.photos} JPEGs 500x375 written in {time.perf_counter() - started:.1f} s; limits "
              f"--train-limit {args.train_limit} --eval-limit {args.eval_limit}")
        for now in (False, True):
            limits = (args.train_limit, args.eval_limit) if now else None
            seconds, checked, kept = _load(str(root / "photos"), root / f"caches-photos-{now}", limits)
            print(f"  image folder, {'files drawn, 1.5x kept (after)' if now else 'read whole (before)          '}: "
                  f"load {seconds:6.2f} s, {checked:5d} images checked, {kept:5d} kept")
        table, requests, httpd = _urls(root / "urls", args.urls)
        small = (args.train_limit // 5, args.eval_limit // 5)
        print(f"{args.urls} image URLs (32x32 PNGs, local HTTP server); limits --train-limit {small[0]} "
              f"--eval-limit {small[1]}")
        for cut in (False, True):
            before = len(requests)
            seconds, checked, kept = _load(str(table), root / f"caches-urls-{cut}", small, cut)
            print(f"  URL table,    {'1.5x the limits kept (after) ' if cut else 'every row kept (before)      '}: "
                  f"load {seconds:6.2f} s, {len(requests) - before:5d} downloads, {kept:5d} kept")
        httpd.shutdown()


if __name__ == "__main__":
    main()
