"""How well a run's schedule prices an epoch's evaluation pass, before and after it was timed (session 29).

For each case, EfficientNet-Lite0 is timed the way a run's schedule times it
(``hf_quicktune.run.schedule.measure_reference`` at batch 32, with the training and validation splits), and the
validation pass over the whole validation split is priced two ways from that one measurement:

* ``third``: as it was priced before: a third of a training step per batch plus a training batch's loading;
* ``timed``: as it is now (``reference_eval_seconds``): a timed forward pass without gradients per batch plus a
  validation batch loaded with the evaluation transforms.

Then a real trial (the by-hand configuration, 64 training images per epoch) trains two epochs and the second
epoch's validation pass (``eval_seconds`` of its record: the first carries one-time costs a schedule does not
price per epoch) is the truth. Prints both prices, their ratio to the truth, and the truth.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/eval_pricing.py [--cases digits32,mnist5k32,photos64]
"""

from __future__ import annotations

import argparse
import io
import math
import os
import tempfile

import numpy as np

CASES = {  # name -> (dataset, image size)
    "digits32": ("builtin:digits", 32),
    "mnist5k32": ("builtin:mnist5k", 32),
    "photos64": ("photos", 64),
    "photos128": ("photos", 128),
}


def _photos(path: str, n: int = 800) -> None:
    """``n`` 500x375 JPEGs of 4 classes (smooth colour + noise) as a parquet file."""
    import datasets
    from PIL import Image

    rng = np.random.default_rng(0)
    x = np.linspace(0, 1, 500)[None, :, None]
    y = np.linspace(0, 1, 375)[:, None, None]
    entries, labels = [], []
    for i in range(n):
        label = i % 4
        wave = np.sin((3 + 2 * label) * x + (2 + i % 5) * y + np.arange(3)) * 100 + 128
        buf = io.BytesIO()
        Image.fromarray(np.clip(wave + rng.normal(0, 12, wave.shape[:2] + (3,)), 0, 255).astype(np.uint8)).save(
            buf, format="JPEG", quality=90)
        entries.append({"bytes": buf.getvalue(), "path": None})
        labels.append(label)
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=list("abcd"))})
    datasets.Dataset.from_dict({"image": entries, "label": labels}, features=features).to_parquet(path)


def _case(name: str, tmp: str) -> str:
    from hf_quicktune.data import load
    from hf_quicktune.run.schedule import measure_reference, reference_eval_seconds
    from hf_quicktune.train import Trial
    from hf_quicktune.train.config import validate_config
    from hf_quicktune.zoo import get_candidate

    spec, size = CASES[name]
    if spec == "photos":
        spec = os.path.join(tmp, "photos.parquet")
        if not os.path.exists(spec):
            _photos(spec)
    data = load(spec)
    cand = get_candidate("tf_efficientnet_lite0")
    batch = 32
    measured = measure_reference(cand, data.num_classes, size, batch_size=batch, scratch_dir=tmp,
                                 split=data.splits["train"], eval_split=data.splits["validation"])
    val = len(data.validation)
    third = math.ceil(val / batch) * (measured["step_s"] / 3 + measured["load_s"])
    timed = reference_eval_seconds(measured, val, batch)
    config = validate_config({"model": cand.name, "batch_size": batch})
    trial = Trial(os.path.join(tmp, name), cand, config, data, max_epochs=2, image_size=size, train_limit=64)
    records = trial.advance(2)
    truth = float(records[-1].eval_seconds)
    return (f"{name:>10} {val:>5} | {truth:>8.2f}s | {third:>7.2f}s {third / truth:>5.2f}x | "
            f"{timed:>7.2f}s {timed / truth:>5.2f}x | step {measured['step_s']:.3f} s, forward "
            f"{measured['eval_step_s']:.3f} s, load {measured['load_s']:.4f} / {measured['eval_load_s']:.4f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="digits32,mnist5k32,photos64,photos128")
    args = ap.parse_args()
    names = [c for c in args.cases.split(",") if c]
    unknown = [c for c in names if c not in CASES]
    if unknown:
        raise SystemExit(f"unknown case(s) {unknown}; pick from {sorted(CASES)}")
    from hf_quicktune.data.quiet import no_progress_bars

    print(f"{'case':>10} {'val':>5} | {'real pass':>9} | {'third of a step':>15} {'':>6} | {'timed':>8} {'':>6} |")
    with tempfile.TemporaryDirectory() as tmp, no_progress_bars():
        for name in names:
            print(_case(name, tmp), flush=True)
    print("real pass: the second epoch's validation pass of a trial (its record's eval_seconds); the prices come "
          "from one measure_reference of the same model at batch 32; x = price / real.")


if __name__ == "__main__":
    main()
