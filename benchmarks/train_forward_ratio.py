"""How much dearer a training step is than the forward pass of the same batch, on this machine: the factor by which a
run prices its fastest candidate's epochs at the model's own size from the ranking's forward passes before deciding
to time them (``hf_quicktune.run.plan.native_bound``).

For each pretrained candidate of ``--zoo`` at each of ``--sizes`` (px; ``native`` is its own), the schedule's own
timing (``hf_quicktune.run.timing.measure_reference``: one AdamW step of every parameter at batch ``--batch``, and
one evaluation batch's forward pass in eval mode without gradients, each the median of 4 after a warm-up) gives
``step_s`` and ``eval_step_s``; printed with their ratio, then the ratios' minimum and median.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/train_forward_ratio.py [--zoo offline] [--sizes 64,128,native]
"""

from __future__ import annotations

import argparse
import statistics


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--zoo", default="offline")
    p.add_argument("--sizes", default="64,128,native")
    p.add_argument("--batch", type=int, default=32)
    args = p.parse_args()

    from hf_quicktune.run.cost_prior import native_size
    from hf_quicktune.run.timing import measure_reference
    from hf_quicktune.zoo import load_zoo

    cands = [c for c in load_zoo(args.zoo) if not c.is_scratch]
    ratios: list[float] = []
    print(f"{'model':<26} {'size':>5} {'step_s':>8} {'eval_step_s':>11} {'ratio':>6}")
    for cand in cands:
        for token in args.sizes.split(","):
            size = native_size(cand) if token == "native" else int(token)
            t = measure_reference(cand, 10, None if token == "native" else size, batch_size=args.batch)
            ratio = t["step_s"] / t["eval_step_s"]
            ratios.append(ratio)
            print(f"{cand.name:<26} {size:>5} {t['step_s']:>8.3f} {t['eval_step_s']:>11.3f} {ratio:>6.2f}", flush=True)
    print(f"ratio of a training step to a forward pass: min {min(ratios):.2f}, median {statistics.median(ratios):.2f}, "
          f"max {max(ratios):.2f} over {len(ratios)} (model, size) pairs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
