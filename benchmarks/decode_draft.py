"""Loading photos for training and evaluation: JPEGs decoded no larger than the transform needs (DCT scaling,
``hf_quicktune.data.decoding``) against full decoding, in the same process.

A folder of large JPEGs (``--side`` px on the longer side, 4:3, smooth colour + noise: a phone photo's shape;
written as parquet with image bytes, as a Hub dataset is) goes through the trial's own data path
(``hf_quicktune.data.transforms.to_torch`` with timm's training and evaluation transforms of EfficientNet-Lite0,
at each ``--sizes`` input size) in a DataLoader of batch 32 on this process (no loader workers, as on 2 cores).
"before" is the same path with a transform that does not say what it needs (so every image is decoded at full
size); best of ``--repeats`` passes each, alternating. Also prints how far the evaluation tensors move (mean and
largest absolute difference, in normalised units, and the mean in 0-255 pixel levels).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/decode_draft.py [--images 96] [--side 2000] [--sizes 64,224]
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time

import numpy as np


def _write(path: str, n: int, side: int) -> None:
    import datasets
    from PIL import Image

    rng = np.random.default_rng(0)
    w, h = side, side * 3 // 4
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    entries, labels = [], []
    for i in range(n):
        label = i % 4
        wave = np.sin((3 + 2 * label) * x * 6 + (2 + i % 7) * y * 5 + np.arange(3, dtype=np.float32)) * 90 + 128
        pixels = np.clip(wave + rng.normal(0, 10, (h, w, 3)).astype(np.float32), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="JPEG", quality=90)
        entries.append({"bytes": buf.getvalue(), "path": None})
        labels.append(label)
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=list("abcd"))})
    datasets.Dataset.from_dict({"image": entries, "label": labels}, features=features).to_parquet(path)


def _full_size(transform):
    """``transform`` without its ``min_source_side``: every image decoded at full size (the path before)."""
    import copy

    from hf_quicktune.data.decoding import MIN_SIDE_ATTR

    plain = copy.copy(transform)
    setattr(plain, MIN_SIDE_ATTR, None)
    return plain


def _pass(split, transform, batch: int = 32) -> tuple[float, list]:
    from torch.utils.data import DataLoader

    from hf_quicktune.data.transforms import to_torch

    loader = DataLoader(to_torch(split, transform), batch_size=batch, shuffle=False, num_workers=0)
    t0 = time.perf_counter()
    out = [b["pixel_values"] for b in loader]
    return time.perf_counter() - t0, out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=96)
    p.add_argument("--side", type=int, default=2000, help="longer side of the photos (px)")
    p.add_argument("--sizes", default="64,224", help="input sizes the transforms train and evaluate at")
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()

    import datasets
    import torch

    from hf_quicktune.data.transforms import build_transform

    datasets.disable_progress_bars()
    torch.manual_seed(0)
    lite0 = {"input_size": (3, 224, 224), "interpolation": "bicubic", "mean": (0.5, 0.5, 0.5),
             "std": (0.5, 0.5, 0.5), "crop_pct": 0.875}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "photos.parquet")
        t0 = time.perf_counter()
        _write(path, args.images, args.side)
        split = datasets.load_dataset("parquet", data_files=path, split="train", cache_dir=os.path.join(tmp, "c"))
        print(f"{args.images} JPEGs of {args.side}x{args.side * 3 // 4} px "
              f"({os.path.getsize(path) / args.images / 1024:.0f} KB each), written in {time.perf_counter() - t0:.1f} s; "
              f"torch threads {torch.get_num_threads()}")
        print(f"{'size':>5} {'pass':>6} {'decoded from':>13} {'before img/s':>13} {'draft img/s':>12} {'speed-up':>9}"
              f" {'eval |diff| mean / max (normalised)':>36} {'mean in 0-255':>14}")
        for size in [int(s) for s in args.sizes.split(",")]:
            for train in (True, False):
                tf = build_transform(lite0, train=train, image_size=size)
                before_tf = _full_size(tf)
                best = {"before": float("inf"), "draft": float("inf")}
                outs = {}
                for r in range(args.repeats):
                    order = ("before", "draft") if r % 2 == 0 else ("draft", "before")
                    for kind in order:
                        seconds, out = _pass(split, before_tf if kind == "before" else tf)
                        best[kind] = min(best[kind], seconds)
                        outs[kind] = out
                diff = ""
                if not train:
                    a, b = torch.cat(outs["before"]), torch.cat(outs["draft"])
                    d = (a - b).abs()
                    diff = f"{float(d.mean()):.4f} / {float(d.max()):.3f}"
                    levels = f"{float(d.mean()) * 0.5 * 255:.2f}"
                else:
                    levels = ""
                print(f"{size:>5} {'train' if train else 'eval':>6} {'>= ' + str(tf.min_source_side) + ' px':>13} "
                      f"{args.images / best['before']:>13.1f} {args.images / best['draft']:>12.1f} "
                      f"{best['before'] / best['draft']:>8.2f}x {diff:>36} {levels:>14}")


if __name__ == "__main__":
    main()
