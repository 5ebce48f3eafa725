"""Accuracy and cost of the linearized training-time estimator (issue 7, Zancato et al. 2020).

For a grid of SGD learning rates, batch sizes and momenta, on a built-in dataset with the
offline zoo's ImageNet EfficientNet-Lite0, compare the *predicted* steps to reach a target
training loss (``hf_quicktune.estimate.estimate``, linearizing ``--samples`` images) with the
*actual* steps of real SGD training (``hf_quicktune.estimate.measure``: full-train-set loss, no
augmentation; ``--ground-truth trainer``, the default since session 63: the trained BatchNorm layers normalise
each batch by its statistics, as the trainer trains them; ``pretrained``: every layer in eval mode with the
checkpoint's statistics, the ground truth of sessions 7-62). Prints the median and 90th-percentile relative
error and the cost ratio = (actual steps x measured seconds per real training step of the full
model) / (estimation wall-clock: image loading + Jacobians + NTK + dynamics + step timing).

Cheap on CPU by construction: only the tail after ``--freeze-blocks`` is trained (the usual
``pct_to_freeze`` strategy); the frozen trunk's outputs are computed once and the tail is trained
on them, which is mathematically the same training (eval-mode trunk) but lets the benchmark run
many configurations. The *cost* of training is still charged at the full model's step time.

Every configuration ends in one of four cases per target: both prediction and training reach it
(relative error |pred - actual| / actual), only one of them does (a disagreement, counted and
listed, never folded into the error statistics), or neither does (agreement, no error). The
``plain`` column is the paper's N/n rescaling alone; ``pred`` adds the finite-size correction
(:func:`hf_quicktune.estimate.dynamics.finite_size_extrapolate`).

``--within EPS`` adds the paper's supplementary criterion (steps until the loss is within EPS of its
final value, relative to the total decrease over ``--max-epochs``; rows marked ``~EPS``): training then
runs the whole horizon instead of stopping at the lowest target.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/estimate_accuracy.py
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/estimate_accuracy.py --dataset builtin:mnist5k --train 2000 \
        --targets --within 0.1 0.05 --max-epochs 5 --lrs 0.01 0.03 --tail-lrs 0.003 --batch-sizes 32 --momenta 0 0.9
"""

from __future__ import annotations

import argparse
import copy
import itertools
import time
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn


def split_efficientnet(model: nn.Module, tail_blocks: int) -> tuple[nn.Module, nn.Module]:
    """(frozen trunk, trainable tail) of a timm EfficientNet: tail = last stages + conv_head + head."""
    trunk = nn.Sequential(model.conv_stem, model.bn1, *model.blocks[: len(model.blocks) - tail_blocks])
    tail = nn.Sequential(*model.blocks[len(model.blocks) - tail_blocks :], model.conv_head, model.bn2,
                         model.global_pool, model.classifier)
    return trunk, tail


def pct_for_tail(model: nn.Module, tail: nn.Module) -> float:
    """The ``pct_to_freeze`` whose trainable set is exactly the tail's parameters (head excluded from count)."""
    from hf_quicktune.estimate.jacobian import head_parameter_names

    head = set(head_parameter_names(model))
    tail_ids = {id(p) for p in tail.parameters()}
    body = [(name, p) for name, p in model.named_parameters() if name not in head]
    first = next(i for i, (_, p) in enumerate(body) if id(p) in tail_ids)
    return first / len(body)


def lite0_tail(dataset: str, train: int, image_size: int = 32, tail_blocks: int = 1) -> SimpleNamespace:
    """The set-up the estimate benchmarks share: ``dataset`` cut to ``train`` stratified training images (0: all),
    EfficientNet-Lite0 with a new head seeded 0 (``base``, its ``state`` to restore), its frozen ``trunk`` and trained
    ``tail`` (eval mode), every training image (``x``, ``y``) and the trunk's features of them (``feats``)."""
    from hf_quicktune.commands.estimate import _subset_train
    from hf_quicktune.data import load
    from hf_quicktune.estimate.estimator import load_subsample
    from hf_quicktune.zoo import create_model, get_candidate

    prepared = load(dataset)
    if train:
        prepared = _subset_train(prepared, train, seed=0)
    cand = get_candidate("tf_efficientnet_lite0")
    torch.manual_seed(0)  # the new head's initialisation (the tail's NTK depends on it)
    base = create_model(cand, num_classes=prepared.num_classes)
    state = {k: v.clone() for k, v in base.state_dict().items()}
    trunk, tail = split_efficientnet(base.eval(), tail_blocks)
    x, y = load_subsample(prepared, cand, len(prepared.train), image_size)
    with torch.no_grad():
        feats = torch.cat([trunk(x[i : i + 64]) for i in range(0, len(x), 64)])
    return SimpleNamespace(prepared=prepared, cand=cand, base=base, state=state, trunk=trunk, tail=tail, x=x, y=y,
                           feats=feats)


def _side_line(rows: list[dict], key: str, label: str) -> str:
    """`` (LABEL: median, 90th percentile over k reached by both)`` of the ``rel_KEY`` errors, '' without any."""
    rel = np.array([r[f"rel_{key}"] for r in rows if r[f"rel_{key}"] is not None])
    if not len(rel):
        return ""
    reached = sum(r[f"{key}_status"] == "both" for r in rows)
    return (f" ({label}: median {np.median(rel):.1%}, 90th percentile {np.percentile(rel, 90, method='higher'):.1%} "
            f"over {reached} reached by both)")


def _status(pred: float | None, actual: float | None) -> str:
    if pred is not None and actual is not None:
        return "both"
    if pred is None and actual is None:
        return "neither"
    return "only_pred" if pred is not None else "only_actual"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="builtin:digits")
    ap.add_argument("--model", default="tf_efficientnet_lite0")
    ap.add_argument("--train", type=int, default=0, help="training images N (stratified; 0 = the whole train split)")
    ap.add_argument("--samples", type=int, default=256, help="images linearized by the estimator (n)")
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--tail-blocks", type=int, default=1, help="EfficientNet stages trained (+ conv_head + head)")
    ap.add_argument("--targets", type=float, nargs="*", default=[1.0, 0.5], help="absolute training-loss targets")
    ap.add_argument("--within", type=float, nargs="*", default=[],
                    help="supplementary criterion (Zancato et al. 2020): steps until the loss is within EPS x "
                         "(initial - final) of its final value after --max-epochs; training then runs the whole horizon")
    ap.add_argument("--strategies", nargs="+", default=["head", "tail"], choices=["head", "tail"],
                    help="head: linear probing; tail: last stage(s) + conv_head + head (pct_to_freeze)")
    ap.add_argument("--lrs", type=float, nargs="+", default=[0.01, 0.03, 0.1], help="lrs for the head strategy")
    ap.add_argument("--tail-lrs", type=float, nargs="+", default=[0.001, 0.003])
    ap.add_argument("--class-probes", type=int, default=None,
                    help="random class probes for the tail NTK (per-sample Jacobians); default: the exact class trace "
                         "(from the layers' inputs and output gradients since session 47; before, 1 probe)")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--momenta", type=float, nargs="+", default=[0.0, 0.9])
    ap.add_argument("--max-epochs", type=float, default=30)
    ap.add_argument("--loss", default="cross_entropy", choices=["cross_entropy", "mse"])
    ap.add_argument("--ground-truth", choices=["trainer", "pretrained", "target-fixed"], default="trainer",
                    help="how the measured training normalises the trained BatchNorm layers (estimate/measure.py's "
                         "norm_statistics): trainer = batch statistics of the target data, as `run` trains; "
                         "pretrained = eval mode with the checkpoint's statistics throughout (sessions 7-62); "
                         "target-fixed = eval mode with the target data's statistics (a diagnostic)")
    ap.add_argument("--norm-statistics", choices=["batch", "pretrained", "target"], default="batch",
                    help="how the estimator linearizes the trained BatchNorm layers (estimate()'s norm_statistics; "
                         "batch: the script's default since session 63, the estimator's stays pretrained)")
    ap.add_argument("--compare-norm-statistics", choices=["batch", "pretrained", "target"],
                    help="also run the estimator with this norm_statistics on the same ground truth (column 'alt', "
                         "its own error line)")
    ap.add_argument("--compare-effective-lr", action="store_true",
                    help="also predict with the paper's momentum treatment (lr / (1 - m), no momentum: "
                         "momentum_model='effective_lr') from the same kernel: column 'eff', its own error line")
    args = ap.parse_args()
    other = args.compare_norm_statistics

    from hf_quicktune.commands.estimate import _subset_train
    from hf_quicktune.data import load
    from hf_quicktune.estimate import estimate
    from hf_quicktune.estimate.estimator import curve_for, load_subsample, measure_seconds_per_step
    from hf_quicktune.estimate.jacobian import trainable_parameter_names
    from hf_quicktune.estimate.measure import train_and_measure
    from hf_quicktune.train.layout import to_layout, use_channels_last
    from hf_quicktune.zoo import create_model, get_candidate

    prepared = load(args.dataset)
    if args.train:
        prepared = _subset_train(prepared, args.train, seed=0)
    cand = get_candidate(args.model)
    torch.manual_seed(0)  # the new head's initialisation (the tail's NTK depends on it)
    base = create_model(cand, num_classes=prepared.num_classes)
    state = {k: v.clone() for k, v in base.state_dict().items()}
    _, tail0 = split_efficientnet(base, args.tail_blocks)
    pct = pct_for_tail(base, tail0)
    x, y = load_subsample(prepared, cand, len(prepared.train), args.image_size)
    with torch.no_grad():
        trunk, _ = split_efficientnet(base.eval(), args.tail_blocks)
        feats = torch.cat([trunk(x[i : i + 64]) for i in range(0, len(x), 64)])
    num_train = len(x)
    print(f"{args.dataset}: N={num_train} train images at {args.image_size}px, C={prepared.num_classes}; "
          f"{cand.name}, pct_to_freeze={pct:.3f} (last {args.tail_blocks} stage(s) + head), "
          f"n={args.samples} linearized, loss={args.loss}, targets {args.targets}, within {args.within}, "
          f"max {args.max_epochs:g} epochs; ground truth: {args.ground_truth} BatchNorm statistics, "
          f"estimator: {args.norm_statistics}")
    criteria = [("target", t) for t in args.targets] + [("within", e) for e in args.within]

    rows = []
    print(f"{'strategy':>8} {'lr':>6} {'B':>4} {'m':>4} {'target':>6} {'plain':>7} {'pred':>7} {'actual':>7} "
          f"{'relerr':>7} {'ep_act':>6} {'est_s':>6} {'train_s':>8} {'ratio':>6}")
    step_seconds: dict = {}  # (strategy, batch size) -> (seconds per real step of the full model, timing cost)
    for strategy in args.strategies:
        lrs = args.lrs if strategy == "head" else args.tail_lrs
        head_only = strategy == "head"
        ntk_seconds, spec, halves, spec_alt, halves_alt = None, None, None, None, None
        for lr, bs, m in itertools.product(lrs, args.batch_sizes, args.momenta):
            config = {"lr": lr, "batch_size": bs, "momentum": m, "opt": "sgd", "pct_to_freeze": pct,
                      "linear_probing": head_only}
            max_steps = int(np.ceil(args.max_epochs * num_train / bs))
            base.load_state_dict(state)
            if spec is None:  # the NTK does not depend on lr/B/m: computed once, charged to every config
                est = estimate(prepared, cand, config, n=args.samples, image_size=args.image_size,
                               loss=args.loss, max_epochs=args.max_epochs, model=base, time_steps=False,
                               class_probes=None if head_only else args.class_probes,
                               norm_statistics=args.norm_statistics)
                spec, halves, ntk_seconds = est.spectrum, est.halves, est.ntk_seconds
                if args.compare_norm_statistics:  # the other linearization point, on the same ground truth
                    alt = estimate(prepared, cand, config, n=args.samples, image_size=args.image_size,
                                   loss=args.loss, max_epochs=args.max_epochs, model=base, time_steps=False,
                                   class_probes=None if head_only else args.class_probes, norm_statistics=other)
                    spec_alt, halves_alt = alt.spectrum, alt.halves
            t0 = time.perf_counter()
            curve = curve_for(spec, args.loss, lr, bs, m, max_steps, halves=halves)
            curve_seconds = time.perf_counter() - t0
            plain = curve_for(spec, args.loss, lr, bs, m, max_steps)
            before = curve_for(spec_alt, args.loss, lr, bs, m, max_steps, halves=halves_alt) \
                if spec_alt is not None else None
            eff = curve_for(spec, args.loss, lr, bs, m, max_steps, halves=halves, momentum_model="effective_lr") \
                if args.compare_effective_lr else None
            if (strategy, bs) not in step_seconds:
                t0 = time.perf_counter()
                names_full = trainable_parameter_names(base, pct, head_only)
                # a real step in the memory layout the train engine trains in (channels-last on a CPU since
                # session 42: about half the seconds of the default layout's, so the cost ratio halves with it)
                timed = to_layout(copy.deepcopy(base), use_channels_last(x.device.type, False))
                sec = measure_seconds_per_step(timed, names_full, bs, tuple(x.shape[1:]), prepared.num_classes)
                del timed
                step_seconds[(strategy, bs)] = (sec, time.perf_counter() - t0)
            sec_per_step, timing_cost = step_seconds[(strategy, bs)]
            base.load_state_dict(state)
            _, tail = split_efficientnet(base.eval(), args.tail_blocks)
            names = [name for name, _ in tail.named_parameters()]
            if head_only:
                names = names[-2:]  # classifier weight + bias
            measured = train_and_measure(tail, feats, y, trainable=names, lr=lr, batch_size=bs, momentum=m,
                                         loss=args.loss, max_steps=max_steps,
                                         eval_every=max(1, num_train // bs // 4),
                                         target_loss=None if args.within else min(args.targets),
                                         norm_statistics={"trainer": "target", "pretrained": "pretrained",
                                                          "target-fixed": "target_fixed"}[args.ground_truth])
            est_s = ntk_seconds + curve_seconds + timing_cost
            for kind, target in criteria:
                if kind == "target":
                    pred, pred_plain, actual = curve.steps_to(target), plain.steps_to(target), measured.steps_to(target)
                    pred_eff = eff.steps_to(target) if eff is not None else None
                    pred_pre = before.steps_to(target) if before is not None else None
                else:
                    pred, pred_plain = curve.steps_to_within(target), plain.steps_to_within(target)
                    pred_eff = eff.steps_to_within(target) if eff is not None else None
                    pred_pre = before.steps_to_within(target) if before is not None else None
                    actual = measured.steps_to_within(target)
                status = _status(pred, actual)
                rel = abs(pred - actual) / max(actual, 1.0) if status == "both" else None
                rel_plain = abs(pred_plain - actual) / max(actual, 1.0) \
                    if pred_plain is not None and actual is not None else None
                train_s = actual * sec_per_step if actual is not None else None
                rel_eff = abs(pred_eff - actual) / max(actual, 1.0) \
                    if pred_eff is not None and actual is not None else None
                rel_pre = abs(pred_pre - actual) / max(actual, 1.0) \
                    if pred_pre is not None and actual is not None else None
                rows.append({"rel_pre": rel_pre, "pre_status": _status(pred_pre, actual),
                             "strategy": strategy, "target": (kind, target), "status": status, "rel": rel,
                             "rel_plain": rel_plain, "rel_eff": rel_eff, "eff_status": _status(pred_eff, actual),
                             "ratio": None if train_s is None else train_s / est_s})
                actual_txt = f"{actual:.1f}" if actual is not None else "never"
                label = f"{target:g}" if kind == "target" else f"~{target:g}"
                print(f"{strategy:>8} {lr:>6g} {bs:>4d} {m:>4g} {label:>6} {pred_plain!s:>7} {pred!s:>7} "
                      f"{actual_txt:>7} {'-' if rel is None else format(rel, '.1%'):>7} "
                      f"{'-' if actual is None else format(actual * bs / num_train, '.2f'):>6} {est_s:>6.1f} "
                      f"{'-' if train_s is None else format(train_s, '.1f'):>8} "
                      f"{'-' if train_s is None else format(train_s / est_s, '.1f'):>6}"
                      + (" diverged" if measured.diverged else "")
                      + (f" | alt {pred_pre!s} ({'-' if rel_pre is None else format(rel_pre, '.1%')})"
                         if before is not None else "")
                      + (f" | eff {pred_eff!s} ({'-' if rel_eff is None else format(rel_eff, '.1%')})"
                         if eff is not None else ""), flush=True)

    groups = [("all", rows)] + [
        (f"{st}, {'target' if kind == 'target' else 'within'} {t:g}",
         [r for r in rows if r["strategy"] == st and r["target"] == (kind, t)])
        for st in args.strategies for kind, t in criteria]
    print()
    for name, sel in groups:
        if not sel:
            continue
        both = [r for r in sel if r["status"] == "both"]
        counts = {k: sum(r["status"] == k for r in sel) for k in ("only_pred", "only_actual", "neither")}
        line = (f"{name:>18}: {len(sel):>2} pairs, {len(both):>2} both reached, {counts['only_actual']} only training, "
                f"{counts['only_pred']} only prediction, {counts['neither']} neither")
        if both:
            rel = np.array([r["rel"] for r in both])
            line += (f" | relative error median {np.median(rel):.1%}, 90th percentile "
                     f"{np.percentile(rel, 90, method='higher'):.1%}")
        plain = np.array([r["rel_plain"] for r in sel if r["rel_plain"] is not None])
        if len(plain):
            line += f" (plain N/n: median {np.median(plain):.1%} over {len(plain)})"
        if args.compare_norm_statistics:
            line += _side_line(sel, "pre", f"{other} statistics")
        if args.compare_effective_lr:
            line += _side_line(sel, "eff", "effective lr")
        ratio = np.array([r["ratio"] for r in sel if r["ratio"] is not None])
        if len(ratio):
            line += f" | cost ratio median {np.median(ratio):.1f}x (min {ratio.min():.1f}x, max {ratio.max():.1f}x)"
        print(line)
    print("paper targets: median error <= 20%, cost ratio >= 30x. Cost ratio = actual steps x seconds per real step "
          "of the full model / (Jacobians + NTK + eigendecomposition + this config's dynamics + one step timing); "
          "the NTK is computed once per strategy but charged in full to every configuration.")


if __name__ == "__main__":
    main()
