"""How often a no-search fine-tune's schedule is re-planned, and what it costs, on a simulated clock.

A run whose budget is too small to search re-fits its one fine-tune after every epoch (``run/refit.py``): the
length (its dead band: at least ``MIN_CHANGE`` of the epochs left, at least ``RECENT`` epochs after the previous
change, shorter only once ``RECENT`` epochs after the first job are measured) and the share of the images the
epochs left train. Each change of length moves the cosine's learning rate. This script replays the product's
``refit_fine_tune`` after every epoch of simulated fine-tunes whose epochs cost what the product measured, with
timing noise, and prints per scenario, side by side: the share's re-plan changing the length freely (the rule
until this script: ``refit._share_may_change_length`` patched to allow every change) and the product's rule (it
changes the length only where a length re-fit could).

Printed per arm, means over ``--seeds``: re-fits, changes of length, the sum of the changes' sizes (epochs), the
learning rate moved by them (the sum over changes of |cos-schedule multiplier at the new length - at the old one|
at the epoch of the change, in units of the peak rate), the budget unused at the end (s), the epochs' images
trained (whole epochs' worth) and how many runs the budget cut before the schedule ended (its rate not annealed).

The clock: an epoch trains ``share x full`` seconds and spends ``rest`` besides (evaluation, checkpoint, the loop),
each times a log-normal factor (sigma ``--sigma``) and a machine speed that moves in stretches (each epoch a 10 %
chance to become 0.85x, 1x or 1.3x); the first job spans two epochs and pays 3 s of one-time costs; the schedule
starts at what a prediction off by up to 15 % fits. Scenarios (``--scenarios``), from the product's measurements
(benchmarks/product_vs_finetune.py):

* ``mnist5k``: 3-minute budget, 25 s of it before training, Lite0 at 32 px: 6 s of training and 1 s besides an
  epoch of 4,000 images at batch 32 (~24 epochs).
* ``fewshot``: the end of a 5-minute search finishing its incumbent: 150 s for ~150 epochs of 100 images (0.6 s of
  training, 0.4 s besides), up to 1.5x the searched length.
* ``large``: 3 minutes for ~4 epochs of a larger model (36 s of training, 4 s besides, 4,000 images).

    .venv/bin/python benchmarks/refit_replans.py [--seeds 40] [--sigma 0.08] [--scenarios mnist5k,fewshot,large]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import types
from dataclasses import dataclass
from unittest import mock

from hf_quicktune.run import refit
from hf_quicktune.run.outcome import OK


@dataclass(frozen=True)
class Scenario:
    budget: float  # seconds of the budget when the fine-tune starts
    full: float  # seconds of training of a whole epoch
    rest: float  # seconds besides (evaluation, checkpoint, loop)
    images: int
    batch: int
    most: int  # the longest schedule a re-fit may make


SCENARIOS = {
    "mnist5k": Scenario(budget=155.0, full=6.0, rest=1.0, images=4000, batch=32, most=50),
    "fewshot": Scenario(budget=150.0, full=0.6, rest=0.4, images=100, batch=32, most=225),
    "large": Scenario(budget=160.0, full=36.0, rest=4.0, images=4000, batch=32, most=50),
}


def cosine(progress: float) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def replay(sc: Scenario, seed: int, sigma: float) -> dict:
    """One simulated fine-tune re-fitted by the product's ``refit_fine_tune`` after every job."""
    rng = random.Random(seed)
    predicted = (sc.full + sc.rest) * rng.uniform(0.85, 1.15)
    length = max(1, int(sc.budget // predicted))
    share, clock, speed = 1.0, 0.0, 1.0
    trial = types.SimpleNamespace(status=OK, epochs=0)
    opt = types.SimpleNamespace(trials={0: trial})
    steps: list[dict] = []
    refits: list[dict] = []
    lr_moved, images, cut = 0.0, 0.0, False
    while trial.epochs < length and not cut:
        started = clock
        job = []
        for _ in range(2 if trial.epochs == 0 else 1):
            if rng.random() < 0.1:
                speed = rng.choice([0.85, 1.0, 1.3])
            train = share * sc.full * speed * rng.lognormvariate(0.0, sigma) + (3.0 if trial.epochs == 0 else 0.0)
            rest = sc.rest * speed * rng.lognormvariate(0.0, sigma)
            if clock + train + rest > sc.budget:
                cut = True
                break
            clock += train + rest
            trial.epochs += 1
            images += share
            job.append({"trial_id": 0, "status": OK, "job_started_s": started, "ips": share * sc.images / train,
                        "cost": train + rest, "eval_s": rest})
        for step in job:
            step["elapsed_s"] = clock
        steps.extend(job)
        if cut or trial.epochs >= length:
            break
        change = refit.refit_fine_tune(opt, steps, 0, sc.budget - clock - sc.rest, length,
                                       last_change=refit.last_length_change(refits), fraction=share,
                                       train_images=sc.images, most=sc.most, batch_size=sc.batch)
        if change is None:
            continue
        refits.append(change)
        if change["max_epochs"] != length:
            done = trial.epochs
            lr_moved += abs(cosine(done / change["max_epochs"]) - cosine(done / length))
        length, share = change["max_epochs"], change.get("epoch_fraction", share)
    changes = [r for r in refits if r["max_epochs"] != r["from"]]
    return {"refits": len(refits), "changes": len(changes),
            "moved": sum(abs(r["max_epochs"] - r["from"]) for r in changes), "lr_moved": lr_moved,
            "unused": 0.0 if cut else sc.budget - clock, "images": images, "cut": cut}


def summarise(rows: list[dict]) -> dict:
    mean = {k: statistics.fmean(float(r[k]) for r in rows) for k in ("refits", "changes", "moved", "lr_moved",
                                                                      "unused", "images")}
    return {**mean, "cut": sum(r["cut"] for r in rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--sigma", type=float, default=0.08)
    parser.add_argument("--scenarios", default="mnist5k,fewshot,large")
    args = parser.parse_args()
    print(f"{'scenario':<9} {'arm':<22} {'refits':>7} {'length changes':>15} {'epochs moved':>13} "
          f"{'lr moved':>9} {'unused s':>9} {'epochs of images':>17} {'cut':>6}")
    for name in args.scenarios.split(","):
        sc = SCENARIOS[name]
        arms = {}
        with mock.patch.object(refit, "_share_may_change_length", lambda *a, **k: True):
            arms["share moves length"] = summarise([replay(sc, s, args.sigma) for s in range(args.seeds)])
        arms["product"] = summarise([replay(sc, s, args.sigma) for s in range(args.seeds)])
        for arm, m in arms.items():
            print(f"{name:<9} {arm:<22} {m['refits']:>7.1f} {m['changes']:>15.2f} {m['moved']:>13.2f} "
                  f"{m['lr_moved']:>9.3f} {m['unused']:>9.2f} {m['images']:>17.2f} {m['cut']:>3}/{args.seeds}")


if __name__ == "__main__":
    main()
