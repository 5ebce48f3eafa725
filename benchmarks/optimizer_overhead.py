"""Seconds per ask+tell of the gray-box optimizers at 50 / 200 / 500 observations.

A 1,000-configuration pool of the Quick-Tune space (8 candidate models, 50 epochs). Observations
come from synthetic saturating curves spread over trials like a real search (a few epochs per
trial). They are pre-filled cheaply (no surrogate training); at each checkpoint the surrogate
gets one full refit, then ``--rounds`` real ask+tell rounds are timed with the optimizer's
default refit schedule. Random search runs side by side as the zero-overhead baseline.

    .venv/bin/python benchmarks/optimizer_overhead.py [--rounds 5] [--sizes 50 200 500]

Target (issue 6): <= 0.5 s per ask+tell at 500 observations on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from pathlib import Path

import numpy as np

from hf_quicktune.search import DyHPOOptimizer, FeatureEncoder, Prior, QuickTuneOptimizer, Space

ROOT = Path(__file__).resolve().parents[1]
MODELS = [f"model_{i}" for i in range(8)]
MODEL_FEATURES = {m: {"num_params": 1e6 * (i + 1) ** 2, "logme": -1.0 + 0.1 * i} for i, m in enumerate(MODELS)}
META = {"num_images": 2000, "num_classes": 20, "image_size": 64, "channels": 3}
MAX_EPOCHS = 50


def synthetic_curve(tid: int, epoch: int) -> float:
    rng = np.random.default_rng(tid)
    a, tau = 0.4 + 0.55 * rng.random(), 1 + 8 * rng.random()
    return float(a - (a - 0.05) * math.exp(-epoch / tau))


def prefill(opt, n_obs: int, rng: np.random.Generator) -> None:
    """Tell observations until ``n_obs`` (a few epochs per trial), without training the surrogate."""
    policy = getattr(opt, "refit", None)  # QuickTuneOptimizer's RefitPolicy
    steps = (policy.refit_steps, policy.full_refit_steps, policy.cost_steps) if policy is not None else None
    if steps:
        policy.refit_steps = policy.full_refit_steps = policy.cost_steps = 0
    n = sum(st.epochs for st in opt.trials.values())
    while n < n_obs:
        tid = int(rng.integers(len(opt.pool)))
        st = opt.trials.get(tid)
        if st is not None and (st.epochs >= 6 or st.status != "ok"):
            continue
        e = 1 if st is None else st.epochs + 1
        opt.tell(tid, e, synthetic_curve(tid, e), 1.0 + tid % 7)
        n += 1
    if steps:
        policy.refit_steps, policy.full_refit_steps, policy.cost_steps = steps
        opt._fit_loss = None  # a full refit, as after a degraded fit, timed separately
        t0 = time.perf_counter()
        opt._refit()
        opt.full_refit_seconds = time.perf_counter() - t0
        opt.n_full_refits = 0


def time_rounds(opt, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        s = opt.ask()
        opt.tell(s.trial_id, s.epoch, synthetic_curve(s.trial_id, s.epoch), 1.0 + s.trial_id % 7)
        out.append(time.perf_counter() - t0)
    return out


def make(kind: str, pool: list[dict], prior: Prior):
    if kind == "quicktune":
        return QuickTuneOptimizer(pool, max_epochs=MAX_EPOCHS, prior=prior, meta_features=META,
                                  model_features=MODEL_FEATURES, seed=0)
    if kind == "dyhpo":
        return DyHPOOptimizer(pool, max_epochs=MAX_EPOCHS, model_features=MODEL_FEATURES, seed=0,
                              space=Space.from_yaml(ROOT / "recipes/spaces/quicktune.yaml").with_choices("model", MODELS))
    from hf_quicktune.search.baselines import RandomSearch

    return RandomSearch(pool, max_epochs=MAX_EPOCHS, seed=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 500])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--pool", type=int, default=1000)
    ap.add_argument("--methods", nargs="+", default=["quicktune", "dyhpo", "random"])
    args = ap.parse_args()

    space = Space.from_yaml(ROOT / "recipes/spaces/quicktune.yaml").with_choices("model", MODELS)
    pool = space.sample(args.pool, seed=0)
    enc = FeatureEncoder.fit(space, MAX_EPOCHS, model_features=MODEL_FEATURES,
                             meta_features=[META, {"num_images": 800, "num_classes": 5, "image_size": 32, "channels": 1}])
    prior = Prior.create(enc, provenance={"note": "untrained; timing only"})
    print(f"pool={len(pool)} configurations, max_epochs={MAX_EPOCHS}, rounds per size={args.rounds}, "
          f"cpus={os.cpu_count()}, load average={os.getloadavg()[0]:.1f}")
    print(f"{'method':<10} {'obs':>5} {'mean s':>8} {'median s':>9} {'max s':>7} {'vs 0.5 s':>9} "
          f"{'full refits':>11} {'one full refit s':>16}")
    results = {}
    for method in args.methods:
        try:
            opt = make(method, pool, prior)
        except ImportError as e:
            print(f"{method:<10} skipped ({e})")
            continue
        rng = np.random.default_rng(0)
        for size in args.sizes:
            prefill(opt, size, rng)
            times = time_rounds(opt, args.rounds)
            mean, med = statistics.mean(times), statistics.median(times)
            results[(method, size)] = mean
            full = getattr(opt, "n_full_refits", 0)
            full_s = getattr(opt, "full_refit_seconds", float("nan"))
            print(f"{method:<10} {size:>5} {mean:>8.3f} {med:>9.3f} {max(times):>7.3f} {mean / 0.5:>8.2f}x "
                  f"{full:>11} {full_s:>16.3f}", flush=True)
    for size in args.sizes:
        if ("quicktune", size) in results and ("random", size) in results:
            print(f"at {size} observations: quicktune adds {results[('quicktune', size)] - results[('random', size)]:.3f} s "
                  "per ask+tell over random search")


if __name__ == "__main__":
    main()
