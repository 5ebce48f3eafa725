"""Issue 17 item 5: the estimator's kernels against the trainer's own training of EfficientNet-Lite0's last stage +
head at 32 px on builtin:mnist5k (N = 2,000), side by side on the same measured training.

``estimate_accuracy.py --compare-norm-statistics`` (session 63) measured both eval-mode linearization points against
the trainer's training (trained BatchNorm layers on batch statistics): the checkpoint's statistics predicted far too
many steps, the target data's too few. An eval-mode Jacobian leaves out that a train-mode layer's output depends on
the weights through its batch's mean and variance too. ``estimate(norm_statistics="batch")``
(``estimate/batch_ntk.py``) linearizes ``F(x; w) = net(x; w, mean(w), var(w))`` instead, the statistics over the n
linearized images as one batch (or in groups). Each ``--variants`` entry is an estimator,
``NORM_STATISTICS:N[:CLASS_PROBES[:GROUP]]``
(default: the batch kernel exact at n = 256, with 2 class probes, exact at n = 128; the eval-mode kernels at the
checkpoint's and the target statistics at n = 256), all with the estimator's dynamics and finite-size correction
(``estimator.curve_for``); the ground truth is ``measure.train_and_measure`` with ``norm_statistics="target"`` over
``--max-epochs`` (20: the within-10 % criterion lands well before the horizon; at 5 epochs most rows still descend
at the end and it lands near it whatever the prediction).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/estimate_batch_stats.py [--max-epochs 20] [--variants ...]
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
from estimate_accuracy import lite0_tail, pct_for_tail, split_efficientnet


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="builtin:mnist5k")
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--max-epochs", type=float, default=20)
    ap.add_argument("--lrs", type=float, nargs="+", default=[0.001, 0.003, 0.01])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64])
    ap.add_argument("--momenta", type=float, nargs="+", default=[0.0, 0.9])
    ap.add_argument("--targets", type=float, nargs="*", default=[1.0, 0.5])
    ap.add_argument("--within", type=float, default=0.1)
    ap.add_argument("--variants", default="batch:256,batch:256:2,batch:128,pretrained:256,target:256",
                    help="estimators side by side, each NORM_STATISTICS:N[:CLASS_PROBES[:GROUP]] (estimate()'s "
                         "norm_statistics, n, class_probes and statistics_batch; no probes: the exact class trace; no "
                         "group: the n images as one batch)")
    args = ap.parse_args()

    from hf_quicktune.estimate import estimate
    from hf_quicktune.estimate.estimator import curve_for
    from hf_quicktune.estimate.measure import train_and_measure

    setup = lite0_tail(args.dataset, args.train)
    prepared, cand, base, state, feats, y = setup.prepared, setup.cand, setup.base, setup.state, setup.feats, setup.y
    pct = pct_for_tail(base, setup.tail)
    num_train = len(feats)
    config0 = {"lr": 0.01, "batch_size": 32, "momentum": 0.0, "opt": "sgd", "pct_to_freeze": pct,
               "linear_probing": False}
    spectra, seconds = {}, {}
    for variant in args.variants.split(","):
        mode, n, *more = variant.split(":")
        probes = int(more[0]) if more and more[0] else None
        group = int(more[1]) if len(more) > 1 else 0  # 0: the n images as one batch
        base.load_state_dict(state)
        est = estimate(prepared, cand, config0, n=int(n), image_size=32, max_epochs=args.max_epochs, model=base,
                       time_steps=False, norm_statistics=mode, class_probes=probes, statistics_batch=group)
        spectra[variant], seconds[variant] = (est.spectrum, est.halves), est.ntk_seconds
    print(f"{args.dataset}: N={num_train}, Lite0 at 32 px, last stage + head, {args.max_epochs:g} epochs; "
          "estimators NORM_STATISTICS:n[:class probes], their kernel's seconds (images, Jacobians, kernel, "
          "eigendecompositions) and top eigenvalue of K/n: "
          + ", ".join(f"{k} {seconds[k]:.1f} s {float(v[0].mu[0]):.1f}" for k, v in spectra.items()))
    criteria = [("target", t) for t in args.targets] + [("within", args.within)]
    kinds = list(spectra)
    errors: dict = {(kind, c): [] for kind in kinds for c in criteria}
    print(f"{'lr':>6} {'B':>4} {'m':>4} {'crit':>6} {'actual':>7} " + " ".join(f"{k:>18}" for k in kinds))
    for lr, bs, m in itertools.product(args.lrs, args.batch_sizes, args.momenta):
        max_steps = int(np.ceil(args.max_epochs * num_train / bs))
        curves = {k: curve_for(s, "cross_entropy", lr, bs, m, max_steps, halves=h) for k, (s, h) in spectra.items()}
        base.load_state_dict(state)
        _, tail_run = split_efficientnet(base.eval(), 1)
        names = [name for name, _ in tail_run.named_parameters()]
        measured = train_and_measure(tail_run, feats, y, trainable=names, lr=lr, batch_size=bs, momentum=m,
                                     max_steps=max_steps, eval_every=max(1, num_train // bs // 4),
                                     norm_statistics="target")
        for kind, value in criteria:
            if kind == "target":
                actual = measured.steps_to(value)
                preds = {k: c.steps_to(value) for k, c in curves.items()}
            else:
                actual = measured.steps_to_within(value)
                preds = {k: c.steps_to_within(value) for k, c in curves.items()}
            cells = []
            for k, pred in preds.items():
                if pred is not None and actual is not None:
                    rel = abs(pred - actual) / max(actual, 1.0)
                    errors[(k, (kind, value))].append(rel)
                    cells.append(f"{pred:>9} ({rel:>6.1%})")
                else:
                    cells.append(f"{pred!s:>18}")
            label = f"{value:g}" if kind == "target" else f"~{value:g}"
            actual_txt = "never" if actual is None else f"{actual:.1f}"
            print(f"{lr:>6g} {bs:>4d} {m:>4g} {label:>6} {actual_txt:>7} " + " ".join(cells), flush=True)
    print()
    for kind, value in criteria:
        label = f"target {value:g}" if kind == "target" else f"within {value:g}"
        parts = []
        for k in kinds:
            rel = np.array(errors[(k, (kind, value))])
            parts.append(f"{k}: {len(rel)} reached by both" + (
                f", median {np.median(rel):.1%}, p90 {np.percentile(rel, 90, method='higher'):.1%}" if len(rel) else ""))
        print(f"{label:>11} | " + " | ".join(parts))


if __name__ == "__main__":
    main()
