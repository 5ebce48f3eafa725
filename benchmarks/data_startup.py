"""What a run's dataset start-up costs before ranking, and the two reads it is made of, each against the way
it was done before in the same process:

* a label-column read (counting, stratifying, hashing): ``np.asarray(ds[column])``, which iterates the lazy
  ``Column`` of datasets >= 4 row by row, against ``hf_quicktune.data.columns.column_values`` (one batch);
* the check that every image decodes: one thread and full decoding (before) against
  ``hf_quicktune.data.images.find_undecodable`` (threads for large images, JPEG draft decoding).

Then ``hf_quicktune.data.load`` whole, twice: first with an empty cache, then again (best of ``--repeats``), when
the first load's image check is remembered (a second run on the same files, or a ``--resume``).

Synthetic data written to a temporary folder as parquet (image bytes + ClassLabel): ``--small`` 8x8 PNGs
(an MNIST/CIFAR-like set: tiny encoded images) and ``--photos`` 500x375 JPEGs (smooth colour + noise,
~60-100 KB: a photo dataset).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/data_startup.py [--small 50000] [--photos 3000]
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time

import numpy as np


def _write(path: str, n: int, kind: str) -> None:
    import datasets
    from PIL import Image

    rng = np.random.default_rng(0)
    labels = (np.arange(n) % 10).tolist()
    if kind == "small":
        protos = [rng.integers(0, 256, (8, 8, 3)) for _ in range(10)]
    else:
        x = np.linspace(0, 1, 500)[None, :, None]
        y = np.linspace(0, 1, 375)[:, None, None]
    entries = []
    for i, label in enumerate(labels):
        buf = io.BytesIO()
        if kind == "small":
            pixels = np.clip(protos[label] + rng.integers(-40, 40, (8, 8, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(buf, format="PNG")
        else:
            wave = np.sin((3 + label) * x + (2 + i % 7) * y + np.arange(3)) * 100 + 128
            pixels = np.clip(wave + rng.normal(0, 12, (375, 500, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(buf, format="JPEG", quality=90)
        entries.append({"bytes": buf.getvalue(), "path": None})
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=[str(c) for c in range(10)])})
    datasets.Dataset.from_dict({"image": entries, "label": labels}, features=features).to_parquet(path)


def _check_before(ds) -> int:
    """The check as it was: every image fully decoded, one at a time."""
    import datasets
    from PIL import Image

    bad = 0
    raw = ds.cast_column("image", datasets.Image(decode=False)).select_columns(["image"])
    for batch in raw.iter(batch_size=256):
        for value in batch["image"]:
            try:
                with Image.open(io.BytesIO(value["bytes"])) as im:
                    im.load()
            except Exception:
                bad += 1
    return bad


def _timed(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _measure(kind: str, path: str, n: int, repeats: int) -> str:
    """One row of the table for the parquet set at ``path`` (``n`` images)."""
    import datasets

    from hf_quicktune.data import images, load
    from hf_quicktune.data.columns import column_values
    from hf_quicktune.data.images import find_undecodable

    ds = datasets.load_dataset("parquet", data_files=path, split="train")
    ds = ds.select(np.random.default_rng(0).permutation(len(ds)))  # an indices mapping, as after a split
    rows_s, a = _timed(lambda: np.asarray(ds["label"]), repeats)
    batch_s, b = _timed(lambda: np.asarray(column_values(ds, "label")), repeats)
    assert np.array_equal(a, b)
    before_s, bad_before = _timed(lambda: _check_before(ds), repeats)
    with tempfile.TemporaryDirectory() as cache:  # nothing remembered: every check decodes
        os.environ["HF_QUICKTUNE_CACHE"] = cache
        images.REMEMBER_SECONDS = float("inf")
        now_s, bad_now = _timed(lambda: find_undecodable(ds), repeats)
        assert bad_before == 0 and not bad_now
        images.REMEMBER_SECONDS = 0.0  # the first load remembers its check, the next ones read it
        first_s, prepared = _timed(lambda: load(path), 1)
        again_s, _ = _timed(lambda: load(path), repeats)
    assert prepared.meta.num_train + len(prepared.validation) == n
    return (f"{kind:>8} {n:>7} {os.path.getsize(path) / 1e6:>6.1f} | {rows_s:>15.3f}s {batch_s:>8.3f}s "
            f"{rows_s / batch_s:>5.1f}x | {before_s:>18.2f}s {now_s:>6.2f}s {before_s / now_s:>4.2f}x | "
            f"{first_s:>10.2f}s {again_s:>7.2f}s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=50_000, help="8x8 PNG images")
    ap.add_argument("--photos", type=int, default=3_000, help="500x375 JPEG images")
    ap.add_argument("--repeats", type=int, default=3, help="best of this many timings per figure")
    args = ap.parse_args()

    import datasets

    from hf_quicktune.data.quiet import no_progress_bars

    print(f"{os.cpu_count()} cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, datasets {datasets.__version__}")
    print(f"{'set':>8} {'images':>7} {'MB':>6} | {'label read: rows':>16} {'one batch':>9} {'x':>6} | "
          f"{'image check: before':>19} {'now':>7} {'x':>5} | {'load(): first':>13} {'again':>8}")
    with tempfile.TemporaryDirectory() as tmp, no_progress_bars():
        for kind, n in (("small", args.small), ("photos", args.photos)):
            if n <= 0:
                continue
            path = os.path.join(tmp, f"{kind}.parquet")
            _write(path, n, kind)
            print(_measure(kind, path, n, args.repeats), flush=True)
    print("label read: one read of the split's label column (a run's start-up made about 7: missing labels, "
          "classes present, the stratified split, each split's fingerprint, the ranking's sample, the majority baseline); best of --repeats.")


if __name__ == "__main__":
    main()
