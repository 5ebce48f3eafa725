"""``hf-quicktune predict``'s images per second with a batch's images decoded and transformed by several threads
(``predict.predict``'s default: the cores, at most 8) against one thread (the baseline: how every release before
session 55 decoded), same process, the same exported model and photos, rounds alternating.

The photos are ``--images`` JPEGs of ``--size`` (smooth colour fields and noise, as photos compress), the model a
tiny timm network (``test_efficientnet``, 3 classes) exported at ``--input`` px as a run exports its winner, so the
figure is what the data path costs beside a model that is cheap next to it (a GPU's case); best of ``--rounds``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/predict_throughput.py [--images 256] [--size 1000x750]
        [--input 224] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--size", default="1000x750")
    parser.add_argument("--input", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    import timm
    import torch
    from PIL import Image

    from hf_quicktune import predict
    from hf_quicktune.publish.export import export_timm_model

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "photos").mkdir()
        rng = np.random.default_rng(0)
        x, y = np.linspace(0, 1, width)[None, :, None], np.linspace(0, 1, height)[:, None, None]
        for i in range(args.images):
            base = 255 * (0.5 + 0.4 * np.sin(6 * x + i) * np.cos(4 * y + 2 * i) * rng.uniform(0.5, 1, 3))
            noisy = np.clip(base + rng.normal(0, 8, (height, width, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(noisy).save(root / "photos" / f"{i:05d}.jpg", quality=90)
        torch.manual_seed(0)
        model = timm.create_model("test_efficientnet", num_classes=3).eval()
        data_config = {"input_size": (3, args.input, args.input), "mean": (0.5,) * 3, "std": (0.25,) * 3,
                       "interpolation": "bilinear", "crop_pct": 0.875}
        export_timm_model(model, root / "run" / "export", label_names=["a", "b", "c"], data_config=data_config)
        loaded = predict.load(str(root / "run" / "export"))
        items = predict.find_images([str(root / "photos")])
        default = max(1, min(os.cpu_count() or 1, predict.DECODE_THREADS))
        variants = {"one thread (baseline)": 1, f"{default} threads (default)": default}
        predict.predict(loaded, items[:32], threads=1)  # warm-up
        rates: dict[str, list[float]] = {name: [] for name in variants}
        rows: dict[str, list] = {}
        for _ in range(args.rounds):
            for name, threads in variants.items():
                start = time.perf_counter()
                rows[name] = predict.predict(loaded, items, threads=threads)
                rates[name].append(len(items) / (time.perf_counter() - start))
    first, second = rows.values()
    assert first == second, "the rows differ between thread counts"
    print(f"predict on {args.images} JPEGs of {width}x{height}, model input {args.input} px, {os.cpu_count()} cores, "
          f"torch threads {torch.get_num_threads()}; images per second, best of {args.rounds} rounds:")
    for name, values in rates.items():
        print(f"  {name:24s} {max(values):7.1f}   (rounds: {', '.join(f'{v:.1f}' for v in values)})")
    base, new = (max(v) for v in rates.values())
    print(f"  speed-up {new / base:.2f}x; rows identical")


if __name__ == "__main__":
    main()
