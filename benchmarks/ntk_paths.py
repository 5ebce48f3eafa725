"""Seconds and accuracy of the estimator's NTK paths on one subsample (hf_quicktune/estimate/jacobian.py).

Arms, each on the same ``--samples`` stratified images of ``--dataset`` and the same model (the new head
initialised alike): the layers' inputs and output gradients (``layer_gram.py``, the exact default since session 47),
the per-sample Jacobians of all C outputs (``layer_gram=False``), and the per-sample Jacobians with
``--probes`` random class probes (what ``estimate_accuracy.py`` used before). Printed per arm: the seconds of the
kernel (median of ``--repeats``, after one warm-up call of each arm on a few images), the sketch dimension the
per-sample path chose (its n x C x P gradients over 512 MB are count-sketched to 8,192 dimensions), and the relative
Frobenius distance of each kernel to the layer path's, which is exact (tests/estimate/test_layer_gram.py checks it
against unsketched per-sample Jacobians), with the ratio of the top eigenvalues.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ntk_paths.py [--dataset builtin:mnist5k] [--samples 256]
        [--pct-to-freeze 0.918] [--image-size 32] [--probes 1] [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="builtin:mnist5k")
    p.add_argument("--model", default="tf_efficientnet_lite0")
    p.add_argument("--samples", type=int, default=256)
    p.add_argument("--pct-to-freeze", type=float, default=0.918, help="0.918: Lite0's last stage + head")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--probes", type=int, default=1)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()

    from hf_quicktune.data import load
    from hf_quicktune.estimate.estimator import load_subsample
    from hf_quicktune.estimate.jacobian import empirical_ntk, trainable_parameter_names
    from hf_quicktune.zoo import create_model, get_candidate

    data = load(args.dataset)
    cand = get_candidate(args.model)
    torch.manual_seed(0)
    model = create_model(cand, num_classes=data.num_classes, image_size=args.image_size).eval()
    x, _ = load_subsample(data, cand, args.samples, args.image_size, seed=0)
    names = trainable_parameter_names(model, args.pct_to_freeze, False)
    params = sum(p.numel() for n, p in model.named_parameters() if n in set(names))
    arms = {
        "layer inputs x output gradients (exact)": {},
        "per-sample Jacobians, all C classes": {"layer_gram": False},
        f"per-sample Jacobians, {args.probes} class probe(s)": {"class_probes": args.probes},
    }
    print(f"{args.dataset}, {args.model} at {args.image_size} px, pct_to_freeze {args.pct_to_freeze} "
          f"({len(names)} tensors, {params:,} parameters), n = {len(x)}, C = {data.num_classes}")
    kernels, seconds, sketch = {}, {}, {}
    for name, kw in arms.items():
        empirical_ntk(model, x[:8], trainable=names, **kw)  # warm-up
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            gram = empirical_ntk(model, x, trainable=names, **kw)
            times.append(time.perf_counter() - t0)
        kernels[name], seconds[name], sketch[name] = gram.kernel, statistics.median(times), gram.projected_dim
    exact = kernels["layer inputs x output gradients (exact)"]
    top = torch.linalg.eigvalsh(exact)[-1]
    print(f"{'arm':<45} {'seconds':>8} {'sketch':>7} {'rel. distance to exact':>23} {'top eigenvalue ratio':>21}")
    for name, kernel in kernels.items():
        dist = float(torch.linalg.matrix_norm(kernel - exact) / torch.linalg.matrix_norm(exact))
        ratio = float(torch.linalg.eigvalsh(kernel)[-1] / top)
        print(f"{name:<45} {seconds[name]:>8.2f} {sketch[name] or '-':>7} {dist:>23.2e} {ratio:>21.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
