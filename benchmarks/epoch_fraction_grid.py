"""Whether a schedule of epochs on a share of the training images costs what it was planned to: the plan of the
no-search fine-tune (``hf_quicktune.run.schedule.fractional_epochs``, the same for a re-fit's
``hf_quicktune.run.refit.refit_fraction``) against what the trainer's epochs train (``train.step.epoch_batches``,
whole batches), before and after the share was put on whole batches (``train.step.grid_fraction``).

Every case is a training set of ``--images`` at a batch size of ``--batches``, an epoch costing 1 s of training for
all of its images (linear in the images trained) and ``--rest`` s of evaluation and checkpoint, and a time of
``--epochs`` whole epochs' worth (1.1 to 12 by default). Rows:

- ``share priced`` (the plan before, the share as a continuous number; the trainer of 89aab38 trained
  ``ceil(share x batches)`` batches): ``epoch_batches(batches, share)`` without the images;
- ``share priced, batches of images`` (the same plan; the trainer reading the share as images, as now);
- ``on whole batches`` (now: the plan's share on the batch grid, the trainer as now).

Printed per arm: the cases that use a share, the cases whose trained epochs cost more than the time (the budget
cuts the last epoch, or a re-fit chases the overrun), the median and largest overrun of the planned seconds, and the
epochs' worth of images trained against the whole epochs alone (median and least gain; an epoch over the time counts
as trained in full, which the budget would not let it). No timing: the cost model is exact.

    .venv/bin/python benchmarks/epoch_fraction_grid.py [--images 50,100,150,300,600,1437,4000] [--batches 16,32,64]
"""

from __future__ import annotations

import argparse
import math
import statistics


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", default="50,100,150,300,600,1437,4000")
    p.add_argument("--batches", default="16,32,64")
    p.add_argument("--epochs", default=",".join(f"{1.1 + 0.1 * i:.1f}" for i in range(110)))
    p.add_argument("--rest", type=float, default=0.25, help="seconds of evaluation + checkpoint per 1 s of training")
    args = p.parse_args()

    from hf_quicktune.run.schedule import FRACTION_FILL, fractional_epochs
    from hf_quicktune.train.loaders import train_batches
    from hf_quicktune.train.step import epoch_batches

    rest = args.rest
    arms = {"share priced (89aab38)": (False, False), "share priced, batches of images": (False, True),
            "on whole batches (now)": (True, True)}
    print(f"cases: images {args.images}, batch sizes {args.batches}, {len(args.epochs.split(','))} budgets of "
          f"{args.epochs.split(',')[0]}-{args.epochs.split(',')[-1]} whole epochs; an epoch 1 s of training + "
          f"{rest} s of the rest; the plan fills {FRACTION_FILL:.0%} of the time")
    print(f"{'arm':<34} {'shares':>6} {'over time':>9} {'median over':>11} {'max over':>8} {'gain median':>11} "
          f"{'gain min':>8}")
    for arm, (grid, by_images) in arms.items():
        shares = over = 0
        overruns: list[float] = []
        gains: list[float] = []
        for images in (int(x) for x in args.images.split(",")):
            for batch in (int(x) for x in args.batches.split(",")):
                batches = train_batches(images, batch)
                if batches < 2:
                    continue
                for worth in (float(x) for x in args.epochs.split(",")):
                    seconds = worth * (1.0 + rest)
                    kw = {"images": images, "batch_size": batch} if grid else {}
                    n, share = fractional_epochs(seconds, 1.0, rest, **kw)
                    if share >= 1.0:
                        continue
                    shares += 1
                    k = (epoch_batches(batches, share, images=images, batch_size=batch) if by_images
                         else epoch_batches(batches, share))
                    trained = 1.0 if k >= batches else k * batch / images
                    planned, cost = n * (rest + share), n * (rest + trained)
                    overruns.append(cost / planned - 1.0)
                    over += cost > seconds
                    whole = math.floor(FRACTION_FILL * seconds / (1.0 + rest))
                    if whole >= 1:
                        gains.append(n * trained / whole - 1.0)
        print(f"{arm:<34} {shares:>6} {over:>9} {statistics.median(overruns):>10.1%} {max(overruns):>8.1%} "
              f"{statistics.median(gains):>+10.1%} {min(gains):>+8.1%}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
