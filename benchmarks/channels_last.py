"""Channels-last (NHWC) against the default layout (NCHW) on this machine, side by side in one session.

``--steps``: the offline zoo's architectures (random init: the weights do not change the arithmetic) at the given
sizes; per layout, alternating, the median of ``--repeats`` AdamW training steps of every parameter at batch 32 (after
two that warm up) and of ``--repeats`` evaluation forward passes, in this process. ``--finetune``: the product's own
``finetune`` of EfficientNet-Lite0 (ImageNet weights) on builtin:digits at 32 px in fresh processes, the layout
forced by ``HF_QUICKTUNE_CHANNELS_LAST`` = 0 / 1, alternating, ``--pairs`` times: its recorded seconds per epoch
(training + evaluation, the epochs after the first), its wall time and its best validation top-1; pair i trains with ``--seed i`` in both layouts.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/channels_last.py [--steps] [--finetune] [--sizes 32,128,224]
        [--repeats 5] [--pairs 2] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2", "resnet10t",
          "mobilenetv3_small_050"]


def time_steps(arch: str, size: int, channels_last: bool, repeats: int) -> tuple[float, float]:
    """(median seconds of a training step, of an evaluation forward pass) at batch 32."""
    import timm
    import torch
    import torch.nn.functional as F

    from hf_quicktune.train.layout import batch_layout, to_layout

    torch.manual_seed(0)
    model = to_layout(timm.create_model(arch, pretrained=False, num_classes=10), channels_last)
    x = batch_layout(torch.randn(32, 3, size, size), channels_last)
    y = torch.randint(0, 10, (32,))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    steps = []
    for i in range(repeats + 2):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
        if i >= 2:
            steps.append(time.perf_counter() - t0)
    model.eval()
    forwards = []
    with torch.no_grad():
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            model(x)
            if i:
                forwards.append(time.perf_counter() - t0)
    return statistics.median(steps), statistics.median(forwards)


def steps_table(sizes: list[int], repeats: int) -> None:
    print(f"training step (AdamW, every parameter) and evaluation forward, batch 32, median of {repeats}; "
          f"threads {os.environ.get('OMP_NUM_THREADS', 'default')}")
    print(f"{'model':<24}{'px':>5}{'step NCHW':>11}{'step NHWC':>11}{'speed-up':>9}{'eval NCHW':>11}{'eval NHWC':>11}"
          f"{'speed-up':>9}")
    for arch in MODELS:
        for size in sizes:
            runs: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
            for channels_last in (False, True, True, False):  # alternating: drift hits both alike
                runs[channels_last].append(time_steps(arch, size, channels_last, repeats))
            step = {k: statistics.median(r[0] for r in v) for k, v in runs.items()}
            fwd = {k: statistics.median(r[1] for r in v) for k, v in runs.items()}
            print(f"{arch:<24}{size:>5}{step[False] * 1e3:>9.1f}ms{step[True] * 1e3:>9.1f}ms"
                  f"{step[False] / step[True]:>8.2f}x{fwd[False] * 1e3:>9.1f}ms{fwd[True] * 1e3:>9.1f}ms"
                  f"{fwd[False] / fwd[True]:>8.2f}x", flush=True)


def finetune(channels_last: bool, epochs: int, work: Path, seed: int) -> dict:
    out = Path(tempfile.mkdtemp(dir=work, prefix=f"ft-{int(channels_last)}-"))
    env = {**os.environ, "HF_QUICKTUNE_CHANNELS_LAST": str(int(channels_last))}
    cmd = [sys.executable, "-m", "hf_quicktune", "finetune", "-d", "builtin:digits", "-m", "tf_efficientnet_lite0",
           "--lr", "1e-3", "--opt", "adamw", "--sched", "cosine", "--epochs", str(epochs), "--image-size", "32",
           "--seed", str(seed), "-o", str(out)]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    wall = time.monotonic() - t0
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    records = [json.loads(line) for curve in out.rglob("curve.jsonl") for line in curve.read_text().splitlines()]
    secs = [float(r.get("train_seconds") or 0.0) + float(r.get("eval_seconds") or 0.0) for r in records]
    vals = [float(r["val_top1"]) for r in records if r.get("val_top1") is not None]
    return {"epoch_s": statistics.median(secs[1:] or secs), "wall_s": wall, "val_top1": max(vals) if vals else None}


def finetune_table(pairs: int, epochs: int) -> None:
    print(f"\nfinetune -d builtin:digits -m tf_efficientnet_lite0 --lr 1e-3 --opt adamw --sched cosine --epochs {epochs} "
          "--image-size 32 --seed i (pair i, from 0), HF_QUICKTUNE_CHANNELS_LAST=0 / 1, alternating")
    rows: dict[bool, list[dict]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="channels-last-") as tmp:
        for i in range(pairs):
            for channels_last in ((False, True) if i % 2 == 0 else (True, False)):
                row = finetune(channels_last, epochs, Path(tmp), seed=i)
                rows[channels_last].append(row)
                print(f"pair {i + 1} {'NHWC' if channels_last else 'NCHW'}: epoch {row['epoch_s']:.2f} s, "
                      f"wall {row['wall_s']:.1f} s, best val top-1 {100 * row['val_top1']:.1f} %", flush=True)
    med = {k: statistics.median(r["epoch_s"] for r in v) for k, v in rows.items()}
    wall = {k: statistics.median(r["wall_s"] for r in v) for k, v in rows.items()}
    top1 = {k: statistics.mean(100 * r["val_top1"] for r in v) for k, v in rows.items()}
    print(f"median epoch NCHW {med[False]:.2f} s, NHWC {med[True]:.2f} s: {med[False] / med[True]:.2f}x; "
          f"median wall {wall[False]:.1f} s vs {wall[True]:.1f} s; mean best val top-1 {top1[False]:.1f} vs "
          f"{top1[True]:.1f} %")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", action="store_true", help="time training steps and forward passes in this process")
    p.add_argument("--finetune", action="store_true", help="time the product's finetune in fresh processes")
    p.add_argument("--sizes", default="32,128,224")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--pairs", type=int, default=2)
    p.add_argument("--epochs", type=int, default=3)
    args = p.parse_args()
    if not (args.steps or args.finetune):
        args.steps = args.finetune = True
    if args.steps:
        steps_table([int(s) for s in args.sizes.split(",")], args.repeats)
    if args.finetune:
        finetune_table(args.pairs, args.epochs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
