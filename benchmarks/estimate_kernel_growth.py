"""How the tail's NTK moves while it trains: why the estimator's last-stage predictions are slow (issue 17 item 5).

The estimator linearizes at the pretrained weights: one kernel for the whole curve (Zancato et al. 2020, section 3).
This script trains the setting of ``estimate_accuracy.py``'s last stage + head rows for real (builtin:mnist5k,
N = 2,000, EfficientNet-Lite0 at 32 px, eval-mode BatchNorm, plain SGD with heavy-ball momentum on the frozen trunk's
features) and, at a few steps, computes the exact class-traced kernel on a fixed draw of ``--n`` training images
(``estimate/layer_gram.layer_ntk``) split by parameter group: the last stage, ``conv_head``, its BatchNorm's affine
parameters (``bn2``) and the classifier. It prints each group's kernel trace, the top eigenvalue of the whole kernel,
the classifier's squared norm, the features' mean squared norm (the classifier's kernel is their Gram matrix plus
one) and the share of pooled features above zero (``bn2``'s ReLU6 is the last nonlinearity before pooling).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/estimate_kernel_growth.py [--lr 0.003] [--batch-size 32] \
        [--momentum 0.9] [--steps 10 20 40 80 160]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from estimate_accuracy import lite0_tail


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="builtin:mnist5k")
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--n", type=int, default=256, help="images the kernel is computed on")
    ap.add_argument("--lr", type=float, default=0.003)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--steps", type=int, nargs="+", default=[10, 20, 40, 80, 160])
    ap.add_argument("--bn", choices=["eval", "train"], default="eval",
                    help="eval: the tail's BatchNorm layers keep the pretrained (ImageNet) statistics throughout; train: "
                         "as the trainer trains them (batch statistics in training steps, their running statistics "
                         "first set on the N training images and then updated by the steps), the kernel and the "
                         "loss computed in eval mode with those statistics")
    args = ap.parse_args()

    from hf_quicktune.estimate.layer_gram import layer_ntk

    setup = lite0_tail(args.dataset, args.train)
    tail, feats, y = setup.tail, setup.feats, setup.y
    names = [name for name, _ in tail.named_parameters()]
    groups = {"stage": [n for n in names if n.startswith("0.")], "conv_head": [n for n in names if n.startswith("1.")],
              "bn2": [n for n in names if n.startswith("2.")], "head": [n for n in names if n.startswith("4.")]}
    gen = torch.Generator().manual_seed(1)
    sub = torch.randperm(len(feats), generator=gen)[: args.n]
    features = torch.nn.Sequential(*list(tail)[:4])  # stage, conv_head, bn2 (+ ReLU6), global pool
    classifier = tail[4]
    opt = torch.optim.SGD(tail.parameters(), lr=args.lr, momentum=args.momentum)
    if args.bn == "train":
        from hf_quicktune.estimate.bn_stats import set_target_statistics

        set_target_statistics(tail, feats, names)
    print(f"{args.dataset}: N={len(feats)}, Lite0 at 32 px, last stage + head, lr {args.lr:g}, batch {args.batch_size}, "
          f"momentum {args.momentum:g}, BatchNorm {args.bn}; kernel on n={args.n} images (trace per group = sum of per-image gradient "
          "norms^2, classes averaged)")
    print(f"{'step':>5} {'loss':>6} " + " ".join(f"{'tr ' + g:>13}" for g in groups)
          + f" {'top eig':>10} {'|W|^2':>6} {'|phi|^2':>8} {'phi>0':>6}")

    def report(step: int) -> None:
        traces = []
        for group in groups.values():
            kernel = layer_ntk(tail, feats[sub], group)
            if kernel is None:
                raise SystemExit("layer_ntk does not apply to this tail")
            traces.append(kernel[0].double())
        whole = sum(traces)
        with torch.no_grad():
            loss = float(F.cross_entropy(torch.cat([tail(feats[i : i + 256]) for i in range(0, len(feats), 256)]), y))
            phi = features(feats[sub]).flatten(1)
        top = float(torch.linalg.eigvalsh(whole)[-1])
        print(f"{step:>5} {loss:>6.3f} " + " ".join(f"{float(k.trace()):>13.1f}" for k in traces)
              + f" {top:>10.1f} {float((classifier.weight.detach() ** 2).sum()):>6.2f} "
              f"{float((phi**2).sum(1).mean()):>8.2f} {float((phi > 0).float().mean()):>6.1%}", flush=True)

    report(0)
    perm, pos, last = torch.randperm(len(feats), generator=gen), 0, max(args.steps)
    for step in range(1, last + 1):
        if pos + args.batch_size > len(feats):
            perm, pos = torch.randperm(len(feats), generator=gen), 0
        idx = perm[pos : pos + args.batch_size]
        pos += args.batch_size
        if args.bn == "train":
            tail.train()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(tail(feats[idx]), y[idx]).backward()
        opt.step()
        tail.eval()
        if step in args.steps:
            report(step)
    print(f"epochs: {last * args.batch_size / len(feats):.2f} at step {last}")


if __name__ == "__main__":
    main()
