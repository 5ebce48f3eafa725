"""Cost of zero-training scoring vs the forward passes that produce the features, side by side.

For every candidate of a zoo: the feature extraction on a stratified sample of ``n`` training
images (preprocessing + batched forward passes through Accelerate, cache off) is the baseline;
each score is then timed on those features (median of ``--repeats`` runs) and reported as a
percentage of the forward time. Target (issue 5): all scores except LGC together add <= 20 %.
LGC needs its own gradient pass over the sample and is reported separately.

    python benchmarks/rank_cost.py                                  # offline zoo, mnist5k, n=1000, 224 px
    python benchmarks/rank_cost.py --image-size 64 --threads 1      # small images (pessimistic ratio)
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="builtin:mnist5k")
    parser.add_argument("--zoo", default="offline")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--image-size", type=int, default=None, help="default: each model's own input size")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-lgc", action="store_true", help="skip the LGC gradient pass")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="pin torch and BLAS threads (fair timings on a shared machine)",
    )
    args = parser.parse_args()

    import numpy as np
    import torch

    if args.threads:
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)

    from accelerate import Accelerator

    from hf_quicktune.data import load
    from hf_quicktune.data.transforms import build_transform
    from hf_quicktune.rank.features import candidate_features, image_loader
    from hf_quicktune.rank.sampling import stratified_sample
    from hf_quicktune.rank.scores import FEATURE_SCORES, LOGIT_SCORES
    from hf_quicktune.rank.scores.lgc import lgc
    from hf_quicktune.zoo import create_model, load_zoo

    data = load(args.dataset)
    cands = load_zoo(args.zoo)
    idx = stratified_sample(np.asarray(data.train["label"]), args.n, 0)
    accelerator = Accelerator()
    print(
        f"dataset {data.name}, zoo {args.zoo}, n={len(idx)}, image size {args.image_size or 'native'}, "
        f"device {accelerator.device}, torch threads {torch.get_num_threads()}"
    )

    def factory_for(cand):
        def build():
            torch.manual_seed(0)
            return create_model(cand, num_classes=None)

        return build

    rows = []
    for cand in cands:
        transform = build_transform(cand.data_config(), train=False, image_size=args.image_size)
        fs = candidate_features(
            data.train,
            data.fingerprint,
            cand,
            idx,
            transform=transform,
            model_factory=factory_for(cand),
            accelerator=accelerator,
            batch_size=args.batch_size,
            cache=False,
        )
        timings = {}
        for name, fn in {**FEATURE_SCORES, **LOGIT_SCORES}.items():
            inputs = fs.logits if name in LOGIT_SCORES else fs.features
            if inputs is None:
                continue
            runs = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                fn(inputs, fs.labels)
                runs.append(time.perf_counter() - start)
            timings[name] = statistics.median(runs)
        if not args.no_lgc:
            model = factory_for(cand)()
            loader = image_loader(data.train, idx, transform, 32)
            start = time.perf_counter()
            lgc(model, loader, seed=0, device=accelerator.device)
            timings["lgc"] = time.perf_counter() - start
        rows.append((cand.name, fs.features.shape[1], fs.seconds, timings))
        print(
            f"  {cand.name}: forward {fs.seconds:.2f}s, "
            + ", ".join(f"{k} {v:.3f}s" for k, v in timings.items()),
            flush=True,
        )

    names = ["lfc", "logme", "knn", "leep", "nce"]
    print()
    header = f"{'candidate':32s} {'dim':>5s} {'forward s':>9s} " + " ".join(f"{n:>13s}" for n in names)
    header += f" {'all but LGC':>13s} {'lgc':>14s}"
    print(header)
    print("-" * len(header))
    worst = 0.0
    for name, dim, fwd, t in rows:
        cells = [f"{t[n]:6.3f}s {100 * t[n] / fwd:4.1f}%" if n in t else f"{'n/a':>13s}" for n in names]
        total = sum(t[n] for n in names if n in t)
        worst = max(worst, total / fwd)
        lgc_cell = f"{t['lgc']:6.1f}s {100 * t['lgc'] / fwd:5.0f}%" if "lgc" in t else f"{'skipped':>14s}"
        print(
            f"{name:32s} {dim:5d} {fwd:9.2f} "
            + " ".join(cells)
            + f" {total:6.3f}s {100 * total / fwd:4.1f}% {lgc_cell}"
        )
    print(f"\nworst case, all scores but LGC: +{100 * worst:.1f}% of the forward time (target <= 20%)")


if __name__ == "__main__":
    main()
