"""How much the ranking's timed forward passes (``feature_seconds``) move from one command to the next, next to
how much the candidates really differ: the figures behind ``run/schedule.py``'s ``COST_TIE``.

A budget too small to search fine-tunes the fastest kept pretrained candidate, ordered by those timings. This
script writes a small digits image folder (``--per-class`` images of each of the 10 classes, 24 px PNGs from
scikit-learn's ``load_digits``) or takes ``--dataset``, runs ``hf-quicktune rank --no-cache --json`` on it
``--repeats`` times as separate commands, and prints, for the whole timed loop (``feature_seconds``: loading,
decoding and forward passes) and for the models' forward passes alone (``model_seconds``: since session 45
retimed passes of the warm model, before it the full batches after the first), each candidate's seconds per command, their spread (max / min), and the ratio of each
candidate's median to the fastest pretrained candidate's median. ``--steps`` (with ``--image-size``) then times
each pretrained candidate's training step as the product trains it on a CPU (AdamW, batch 32, channels-last;
``channels_last.time_steps``, median of ``--step-repeats``) and prints its ratio to the fastest's beside them:
the real cost the ranking's ratios stand for.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/rank_timing_noise.py                 # 90 images, native px
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/rank_timing_noise.py --image-size 32 --steps
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/rank_timing_noise.py --dataset builtin:mnist5k --image-size 32 --steps
"""

from __future__ import annotations

import argparse
import json
import math
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
    parser.add_argument("--dataset", default=None, help="default: the digits folder written here")
    parser.add_argument("--n", type=int, default=None, help="images the ranking samples (default: rank's)")
    parser.add_argument("--steps", action="store_true", help="also time each pretrained model's training step")
    parser.add_argument("--step-repeats", type=int, default=7)
    args = parser.parse_args()

    exe = str(Path(sys.executable).with_name("hf-quicktune"))
    timings: dict[str, dict[str, list[float]]] = {"feature_seconds": {}, "model_seconds": {}}
    with tempfile.TemporaryDirectory() as tmp:
        dataset = args.dataset or str(write_folder(Path(tmp) / "digits", args.per_class))
        for i in range(args.repeats):
            cmd = [exe, "rank", "--dataset", dataset, "--zoo", args.zoo, "--no-cache", "--json"]
            if args.image_size:
                cmd += ["--image-size", str(args.image_size)]
            if args.n:
                cmd += ["--n", str(args.n)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            result = json.loads(out)
            for name, row in result["table"].items():
                for key, values in timings.items():
                    value = row.get(key)  # JSON null: NaN (a timing not recorded)
                    values.setdefault(name, []).append(math.nan if value is None else float(value))
            print(f"command {i + 1}: n={result['n']}", flush=True)

    pretrained = [n for n in timings["feature_seconds"] if not n.startswith("scratch:")]
    steps = step_ratios(pretrained, args) if args.steps else {}
    for key, seconds in timings.items():
        if any(math.isnan(v) for name in pretrained for v in seconds[name]):
            print(f"\n{key}: not recorded for every pretrained candidate in every command (NaN: no full batch "
                  f"after the first to time): " + ", ".join(f"{n} {seconds[n]}" for n in pretrained))
            continue
        fastest = min(pretrained, key=lambda n: statistics.median(seconds[n]))
        base = statistics.median(seconds[fastest])
        print(f"\n{key}: {'candidate':32} {'seconds per command':34} {'max/min':>8} {'median / ' + fastest:>34}"
              + (f" {'training step / fastest':>24}" if steps else ""))
        for name, values in seconds.items():
            text = " / ".join(f"{v:.2f}" for v in values)
            step = f" {steps[name] / min(steps.values()):24.2f}" if name in steps else ""
            print(f"{'':{len(key) + 2}}{name:32} {text:34} {max(values) / min(values):8.2f} "
                  f"{statistics.median(values) / base:34.2f}{step}")
    if steps:
        print("\ntraining step (AdamW, batch 32, channels-last), median ms: "
              + ", ".join(f"{name} {1000 * v:.1f}" for name, v in steps.items()))


def step_ratios(pretrained: list[str], args: argparse.Namespace) -> dict[str, float]:
    """Median seconds of a training step of each of ``pretrained`` that is a timm architecture, at
    ``--image-size`` (the models' own sizes differ: no common step to compare without it)."""
    import timm

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from channels_last import time_steps

    if not args.image_size:
        print("--steps needs --image-size: skipped")
        return {}
    return {name: time_steps(name, args.image_size, True, args.step_repeats)[0]
            for name in pretrained if timm.is_model(name)}


if __name__ == "__main__":
    main()
