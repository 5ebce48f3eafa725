"""How much the ranking's timed forward passes (``feature_seconds``) move from one command to the next, next to
how much the candidates really differ: the figures behind ``run/schedule.py``'s ``COST_TIE``.

A budget too small to search fine-tunes the fastest kept pretrained candidate, ordered by those timings. This
script writes a small digits image folder (``--per-class`` images of each of the 10 classes, 24 px PNGs from
scikit-learn's ``load_digits``), runs ``hf-quicktune rank --no-cache --json`` on it ``--repeats`` times as
separate commands, and prints each candidate's seconds per command, their spread (max / min), and the ratio
of each candidate's median to the fastest pretrained candidate's median.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/rank_timing_noise.py                 # 90 images, native px
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/rank_timing_noise.py --image-size 32
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def write_folder(root: Path, per_class: int) -> Path:
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    counts: dict[int, int] = {}
    for image, label in zip(digits.images, digits.target):
        label = int(label)
        if counts.get(label, 0) >= per_class:
            continue
        counts[label] = counts.get(label, 0) + 1
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (image * 16).clip(0, 255).astype(np.uint8)
        Image.fromarray(pixels).resize((24, 24)).save(folder / f"{counts[label]}.png")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", default="offline")
    parser.add_argument("--per-class", type=int, default=9)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=None, help="default: each model's own input size")
    args = parser.parse_args()

    exe = str(Path(sys.executable).with_name("hf-quicktune"))
    seconds: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_folder(Path(tmp) / "digits", args.per_class)
        for i in range(args.repeats):
            cmd = [exe, "rank", "--dataset", str(folder), "--zoo", args.zoo, "--no-cache", "--json"]
            if args.image_size:
                cmd += ["--image-size", str(args.image_size)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            result = json.loads(out)
            for name, row in result["table"].items():
                seconds.setdefault(name, []).append(float(row["feature_seconds"]))
            print(f"command {i + 1}: n={result['n']}", flush=True)

    pretrained = [n for n in seconds if not n.startswith("scratch:")]
    fastest = min(pretrained, key=lambda n: statistics.median(seconds[n]))
    base = statistics.median(seconds[fastest])
    print(f"\n{'candidate':32} {'seconds per command':34} {'max/min':>8} {'median / ' + fastest:>34}")
    for name, values in seconds.items():
        text = " / ".join(f"{v:.2f}" for v in values)
        print(f"{name:32} {text:34} {max(values) / min(values):8.2f} {statistics.median(values) / base:34.2f}")


if __name__ == "__main__":
    main()
