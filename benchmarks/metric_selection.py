"""Does selecting on balanced accuracy pay on imbalanced classes? ``run --metric top1`` against ``run --metric
balanced_accuracy`` on a long-tailed digits set, the winner of each scored on a balanced test split.

The set (written once under ``--workdir``): the images of ``--dataset`` (builtin:digits), per class 30 held out
as a balanced ``test`` split, and of the rest a long tail for ``train``: class k keeps ``head x ratio^(-k / 9)``
images (``--head`` 140,
``--ratio`` 20: 140 of digit 0 down to 7 of digit 9). The run carves its validation split from train (stratified,
so it is long-tailed too): top-1 there rewards the head classes, balanced accuracy every class alike.

Each repeat runs both arms with the same seed (the same pool, the same first trials) and the same budget, one after
the other, nothing else running; printed per run: the winner, its best epoch, validation top-1 / balanced accuracy,
test top-1 / balanced accuracy / macro F1 (on the balanced test split top-1 and balanced accuracy coincide), and
per arm the means; then the paired differences.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/metric_selection.py --workdir /tmp/metric --repeats 3 --budget 3m
        [--dataset builtin:mnist5k --head 400]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ARMS = ("top1", "balanced_accuracy")


def write_longtail(root: Path, dataset: str, head: int, ratio: float, test_per_class: int,
                   seed: int = 0) -> dict[str, list[int]]:
    """The long-tailed ImageFolder tree (``root/train``, ``root/test``); returns the images per class and split."""
    from hf_quicktune.data import load

    data = load(dataset, seed=seed)
    images = list(data.train["image"]) + list(data.validation["image"])
    labels = np.asarray(list(data.train["label"]) + list(data.validation["label"]))
    rng = np.random.default_rng(seed)
    counts: dict[str, list[int]] = {"train": [], "test": []}
    for c, name in enumerate(data.class_names):
        idx = rng.permutation(np.flatnonzero(labels == c))
        keep = max(2, int(round(head * ratio ** (-c / (data.num_classes - 1)))))
        for split, chosen in (("test", idx[:test_per_class]), ("train", idx[test_per_class:test_per_class + keep])):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in chosen:
                images[int(i)].save(folder / f"{int(i):05d}.png")
            counts[split].append(len(chosen))
    return counts


def run_arm(data: Path, out: Path, metric: str, budget: str, seed: int) -> dict:
    cmd = [sys.executable, "-m", "hf_quicktune", "run", "--dataset", str(data), "--zoo", "offline", "--budget", budget,
           "--image-size", "32", "--seed", str(seed), "--metric", metric, "--output-dir", str(out), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode:
        raise SystemExit(f"{metric} run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout[proc.stdout.index("{"):])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--budget", default="3m")
    p.add_argument("--dataset", default="builtin:digits", help="built-in set the long tail is drawn from")
    p.add_argument("--head", type=int, default=140, help="training images of the largest class")
    p.add_argument("--ratio", type=float, default=20.0, help="largest / smallest class")
    p.add_argument("--test-per-class", type=int, default=30)
    args = p.parse_args()

    data = args.workdir / f"{args.dataset.split(':')[-1]}-longtail"
    if not (data / "train").is_dir():
        counts = write_longtail(data, args.dataset, args.head, args.ratio, args.test_per_class)
        print(f"wrote {data}: train per class {counts['train']}, test per class {counts['test']}")
    results: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    print(f"{'seed':>4} {'metric':>17} {'winner':>30} {'ep':>3} {'val top1':>8} {'val bal':>8} "
          f"{'test top1':>9} {'test bal':>8} {'test F1':>8} {'used s':>6}")
    for seed in range(args.repeats):
        for arm in ARMS:
            s = run_arm(data, args.workdir / f"{arm}-{seed}", arm, args.budget, seed)
            results[arm].append(s)
            print(f"{seed:>4} {arm:>17} {str(s.get('best_model')):>30} {s.get('best_epoch')!s:>3} "
                  f"{100 * s['val_top1']:>8.2f} {100 * s['val_balanced_accuracy']:>8.2f} "
                  f"{100 * s['test_top1']:>9.2f} {100 * s['test_balanced_accuracy']:>8.2f} "
                  f"{100 * s['test_macro_f1']:>8.2f} {s.get('budget_used_s', 0):>6.0f}", flush=True)
    print()
    for key in ("test_top1", "test_balanced_accuracy", "test_macro_f1", "val_top1", "val_balanced_accuracy"):
        means = {arm: statistics.mean(100 * s[key] for s in results[arm]) for arm in ARMS}
        diffs = [100 * (b[key] - a[key]) for a, b in zip(results["top1"], results["balanced_accuracy"])]
        print(f"{key:>22}: --metric top1 {means['top1']:.2f}, --metric balanced_accuracy "
              f"{means['balanced_accuracy']:.2f}; paired difference per seed "
              f"{', '.join(f'{d:+.2f}' for d in diffs)} points")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
