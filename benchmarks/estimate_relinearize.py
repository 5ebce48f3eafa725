"""Does a second linearization part-way cut the estimator's last-stage error? (issue 17, item 5)

The estimator (Zancato et al. 2020) keeps the NTK frozen at the pretrained weights; when the last
stage trains, the kernel grows and real SGD reaches the supplementary criterion sooner than
predicted (``estimate_accuracy.py``: last stage + head median error ~25 %, every momentum-0.9 row
pessimistic). This script tries the route the closing notes left untried: without training, move
the weights to where the *linearized* dynamics put them after ``t1`` steps, re-linearize there, and
continue the curve from the real outputs and the new kernel.

For the class-traced linear model, heavy-ball SGD on the subset's mean gradient moves the weights by
``theta_t - theta_0 = J^T c_t`` with ``c_t = sum_s d_s``, ``d_s = m d_{s-1} - (eta / n)(softmax(F_s) - Y)``
(n x C), so the move is one backward pass of ``sum_i <c_i, f_i(theta_0)>``. ``t1`` is a fraction
(``--fracs``) of the one-linearization prediction. The second kernel is computed on the same n images
(``same``) or on another stratified draw of n (``held``: the subset's own residuals are fitted faster
than the population's). Each arm's curve is the first curve's first ``t1`` steps followed by the second
kernel's curve (finite-size corrected from its own halves, as the estimator does).

Ground truth as in ``estimate_accuracy.py``: the tail (last stage + conv_head + head) trained with SGD on
the frozen trunk's outputs, eval-mode BatchNorm with the checkpoint's statistics (the benchmark's ground truth until
session 63; ``estimate_batch_stats.py`` measures against the trainer's batch statistics), the whole training loss
every quarter epoch.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/estimate_relinearize.py
"""

from __future__ import annotations

import argparse
import copy
import itertools
import time

import numpy as np
import torch
from estimate_accuracy import pct_for_tail, split_efficientnet


def coefficients(spec, lr: float, momentum: float, steps: int) -> np.ndarray:
    """``c`` (n x C) with ``theta_steps - theta_0 = J^T c`` under the linearized subset dynamics (mean flow)."""
    from hf_quicktune.estimate.dynamics import _softmax

    kn = (spec.basis * spec.mu) @ spec.basis.T
    f, f_prev = spec.outputs.copy(), spec.outputs.copy()
    d, c = np.zeros_like(f), np.zeros_like(f)
    n = len(f)
    for _ in range(steps):
        g = _softmax(f) - spec.targets
        d = momentum * d - lr / n * g
        c += d
        f, f_prev = f + momentum * (f - f_prev) - lr * (kn @ g), f
    return c


def moved(model: torch.nn.Module, names: list[str], x: torch.Tensor, c: np.ndarray) -> torch.nn.Module:
    """A copy of ``model`` with ``J^T c`` added to its ``names`` parameters (one backward pass)."""
    out_model = copy.deepcopy(model).eval()
    params = dict(out_model.named_parameters())
    for name, p in params.items():
        p.requires_grad_(name in names)
    (out_model(x).double() * torch.as_tensor(c)).sum().backward()
    with torch.no_grad():
        for name in names:
            params[name].add_(params[name].grad)
            params[name].grad = None
    return out_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="builtin:mnist5k")
    ap.add_argument("--train", type=int, default=2000, help="training images N (stratified; 0 = the whole split)")
    ap.add_argument("--samples", type=int, default=256, help="images linearized (n)")
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--within", type=float, default=0.1, help="the supplementary criterion's eps")
    ap.add_argument("--max-epochs", type=float, default=5)
    ap.add_argument("--lrs", type=float, nargs="+", default=[0.001, 0.003, 0.01])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64])
    ap.add_argument("--momenta", type=float, nargs="+", default=[0.0, 0.9])
    ap.add_argument("--fracs", type=float, nargs="+", default=[0.1, 0.2, 0.3],
                    help="t1 as a fraction of the one-linearization prediction")
    ap.add_argument("--kernels", nargs="+", default=["same", "held"], choices=["same", "held"])
    args = ap.parse_args()

    from hf_quicktune.commands.estimate import _subset_train
    from hf_quicktune.data import load
    from hf_quicktune.estimate.dynamics import half_spectra, spectrum, within_of_final
    from hf_quicktune.estimate.estimator import curve_for, load_subsample, targets_for
    from hf_quicktune.estimate.jacobian import empirical_ntk, trainable_parameter_names
    from hf_quicktune.estimate.measure import train_and_measure
    from hf_quicktune.zoo import create_model, get_candidate

    prepared = load(args.dataset)
    if args.train:
        prepared = _subset_train(prepared, args.train, seed=0)
    cand = get_candidate("tf_efficientnet_lite0")
    torch.manual_seed(0)  # the new head's initialisation (the tail's NTK depends on it)
    base = create_model(cand, num_classes=prepared.num_classes)
    state = {k: v.clone() for k, v in base.state_dict().items()}
    _, tail0 = split_efficientnet(base, 1)
    pct = pct_for_tail(base, tail0)
    x_all, y_all = load_subsample(prepared, cand, len(prepared.train), args.image_size)
    with torch.no_grad():
        trunk, _ = split_efficientnet(base.eval(), 1)
        feats = torch.cat([trunk(x_all[i : i + 64]) for i in range(0, len(x_all), 64)])
    num_train, classes = len(x_all), prepared.num_classes
    names = trainable_parameter_names(base, pct, False)
    draws = {kind: load_subsample(prepared, cand, args.samples, args.image_size, seed=0 if kind == "same" else 1)
             for kind in ("same", "held")}
    targets = {kind: targets_for(y.numpy(), classes, "cross_entropy") for kind, (_, y) in draws.items()}
    t0 = time.perf_counter()
    gram0 = empirical_ntk(base, draws["same"][0], trainable=names)
    kernel_s = time.perf_counter() - t0
    spec0 = spectrum(gram0.kernel.numpy(), gram0.outputs.numpy(), targets["same"], num_train)
    halves0 = half_spectra(gram0.kernel.numpy(), gram0.outputs.numpy(), targets["same"], num_train)
    arms = [(frac, kind) for kind in args.kernels for frac in args.fracs]
    print(f"{args.dataset}: N={num_train} at {args.image_size}px, C={classes}; tf_efficientnet_lite0, last stage + "
          f"head (pct_to_freeze={pct:.3f}), n={args.samples}, within {args.within:g} of the loss after "
          f"{args.max_epochs:g} epochs; one kernel {kernel_s:.1f} s", flush=True)
    print(f"{'lr':>6} {'B':>3} {'m':>4} {'actual':>7} {'one':>5} {'err':>6}  "
          + "  ".join(f"{kind}@{frac:g}: t1 L_lin/L_real tr pred err" for frac, kind in arms))
    errors: dict[object, list[float]] = {"one": []}
    for lr, bs, m in itertools.product(args.lrs, args.batch_sizes, args.momenta):
        max_steps = int(np.ceil(args.max_epochs * num_train / bs))
        one = curve_for(spec0, "cross_entropy", lr, bs, m, max_steps, halves=halves0)
        predicted = one.steps_to_within(args.within)
        base.load_state_dict(state)
        _, tail = split_efficientnet(base.eval(), 1)
        measured = train_and_measure(tail, feats, y_all, trainable=[n for n, _ in tail.named_parameters()], lr=lr,
                                     batch_size=bs, momentum=m, max_steps=max_steps,
                                     eval_every=max(1, num_train // bs // 4), norm_statistics="pretrained")
        base.load_state_dict(state)
        actual = measured.steps_to_within(args.within)
        line = f"{lr:>6g} {bs:>3d} {m:>4g} "
        if actual is None or predicted is None:
            print(line + f"{actual!s:>7} {predicted!s:>5}  (not reached by both: left out)", flush=True)
            continue
        err = abs(predicted - actual) / actual
        errors["one"].append(err)
        line += f"{actual:>7.1f} {predicted:>5d} {err:>6.1%} "
        for frac, kind in arms:
            t1 = max(1, int(frac * predicted))
            x, _ = draws[kind]
            model1 = moved(base, names, draws["same"][0], coefficients(spec0, lr, m, t1))
            gram1 = empirical_ntk(model1, x, trainable=names)
            spec1 = spectrum(gram1.kernel.numpy(), gram1.outputs.numpy(), targets[kind], num_train)
            halves1 = half_spectra(gram1.kernel.numpy(), gram1.outputs.numpy(), targets[kind], num_train)
            rest = curve_for(spec1, "cross_entropy", lr, bs, m, max_steps - t1, halves=halves1)
            loss = np.concatenate([one.loss[:t1], rest.loss])
            pred2 = within_of_final(np.arange(len(loss)), loss, args.within) if not rest.diverged else None
            trace = float(np.trace(gram1.kernel)) / float(np.trace(gram0.kernel))
            if pred2 is None:
                line += f" | {t1:>3d} {one.loss[t1]:.2f}/{rest.loss[0]:.2f} x{trace:<5.1f} never"
                continue
            err2 = abs(pred2 - actual) / actual
            errors.setdefault((frac, kind), []).append(err2)
            line += f" | {t1:>3d} {one.loss[t1]:.2f}/{rest.loss[0]:.2f} x{trace:<5.1f} {pred2:>4d} {err2:>6.1%}"
        print(line, flush=True)
    print()
    for key, errs in errors.items():
        name = "one linearization (the estimator)" if key == "one" else f"re-linearized at {key[0]:g} ({key[1]} images)"
        if errs:
            print(f"{name:>40}: {len(errs)} configurations, relative error median {np.median(errs):.1%}, "
                  f"90th percentile {np.percentile(errs, 90, method='higher'):.1%}")


if __name__ == "__main__":
    main()
