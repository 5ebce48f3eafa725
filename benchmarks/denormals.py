"""CPU fine-tuning with and without flushing denormal floats to zero, side by side.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/denormals.py [--model tf_efficientnet_lite1 --epochs 10]

The same ``hf-quicktune finetune`` (an ImageNet-pretrained EfficientNet-Lite, AdamW, lr 1e-3, cosine, 32 px, 600
scikit-learn digits in an ImageFolder written here) runs in two subprocesses, one with
``torch.set_flush_denormal(False)`` and one with the engine's default (flushed on CPU,
hf_quicktune/train/device.py), in alternating order over ``--rounds``. Prints each epoch's training seconds
(from the curve) and the best validation top-1 of each: flushing must not change the accuracy, only the time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

RUNNER = """
import sys
from hf_quicktune.train import device
device.default_accelerator()
device.flush_denormals({flush})
from hf_quicktune.cli import main
sys.argv = ["hf-quicktune", *{args!r}]
main()
"""


def finetune(data: Path, out: Path, model: str, epochs: int, flush: bool) -> list[dict]:
    args = ["finetune", "-d", str(data), "-m", model, "--lr", "1e-3", "--opt", "adamw", "--sched", "cosine",
            "--image-size", "32", "--epochs", str(epochs), "-o", str(out)]
    proc = subprocess.run([sys.executable, "-c", RUNNER.format(flush=flush, args=args)], capture_output=True,
                          text=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    curve = next(out.rglob("curve.jsonl"))
    return [json.loads(line) for line in curve.read_text().splitlines()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tf_efficientnet_lite1")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1, help="pairs of runs (order alternates)")
    args = parser.parse_args()
    from product_vs_finetune import digits_folder

    runs: dict[bool, list[list[dict]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        data = digits_folder(Path(tmp) / "digits600")
        for r in range(args.rounds):
            for flush in ((False, True) if r % 2 == 0 else (True, False)):
                runs[flush].append(finetune(data, Path(tmp) / f"ft-{r}-{int(flush)}", args.model, args.epochs, flush))
    print(f"\n{args.model}, {args.epochs} epochs, {args.rounds} round(s): training seconds per epoch (median over rounds)")
    print(f"{'epoch':>5} {'denormals kept':>15} {'flushed':>9}")
    med = {f: [statistics.median(run[e]["train_seconds"] for run in runs[f]) for e in range(args.epochs)]
           for f in runs}
    for e in range(args.epochs):
        print(f"{e + 1:>5} {med[False][e]:>15.2f} {med[True][e]:>9.2f}")
    for f, label in ((False, "denormals kept"), (True, "flushed")):
        best = [max(rec["val_top1"] for rec in run) for run in runs[f]]
        print(f"{label:>15}: total {sum(med[f]):.1f} s, last 5 epochs {sum(med[f][-5:]):.1f} s, best val top-1 "
              f"{', '.join(f'{100 * b:.1f} %' for b in best)}")


if __name__ == "__main__":
    main()
