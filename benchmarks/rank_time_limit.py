"""A time-limited ranking (a run's share of its budget) against its limit: candidates priced by the activations of
their forward pass (since session 25) vs by their FLOPs (session 24), both cheapest first, side by side; then how
well each count prices a forward pass, for the zoo and for other timm families.

``rank(seconds=S)`` shrinks its shared sample while the forward passes run so that the candidates left fit the
limit, pricing them from the ones done per unit of forward cost (``rank.api.forward_weights``). Priced by FLOPs, a
small MobileNet done first made every later candidate look 2-10x dearer than it was, and the sample shrank further
than the limit needed (it never grows back). Both variants run in this one process, alternating (the FLOP one by
swapping ``forward_weights`` for the GFLOPs of the same traced pass), feature cache off. Prints wall seconds of the
ranking, the images it ended on, and its wall over the limit.

Then, from one ranking without a limit on ``--per-unit-n`` images, each candidate's forward milliseconds per image,
per GFLOP and per million activations; and the same for ``--archs`` (random-init timm models on random images at
their own input size, batches of ``--batch-size``, one warm-up batch, then ``--batches`` timed): the spread
(max / min) of each column is how far pricing by that count can be off across families on this machine.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/rank_time_limit.py [--seconds 18] [--rounds 2] [--archs a,b,...]

Many classes (session 35): the sample keeps two images per class, so with 100 classes it cannot shrink below 200
and the forward passes overran the limit 3x; a candidate that cannot fit even the smallest sample is now left
unscored (pretrained candidates first). ``--variants activation-priced,no-skip`` prints today's ranking beside
the same with that rule off (``TimedSample.overruns`` answering None: every candidate scored, as before):

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/rank_time_limit.py --dataset variant:mnist5k-pairs \
        --variants activation-priced,no-skip --seconds 13.5 --per-unit-n 0 --archs ''

The first candidate priced by a probe (session 40): it runs on the smallest sample first, which prices every
candidate, then on the images the limit affords (it ran on the whole sample, whatever the limit: a 60-second run on
290 images of 10 classes spent its 9 s on EfficientNet-Lite0's 256 images and left three candidates unscored).
``--variants activation-priced,no-probe`` prints today's ranking beside the same without the probe
(``TimedSample.probe`` answering None):

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/rank_time_limit.py --variants activation-priced,no-probe \
        --seconds 9 --per-unit-n 0 --archs ''
"""

from __future__ import annotations

import argparse
import statistics
import time

ARCHS = ("resnet18,resnet50,mobilenetv3_large_100,efficientnet_b0,convnext_atto,regnety_008,vit_tiny_patch16_224,"
         "deit_small_patch16_224,mobilevit_xs")


def _row(name: str, ms: float, cost) -> str:
    return (f"{'':<4}{name:<34} {ms:>9.2f} {cost.gflops:>7.3f} {cost.activations_m:>7.2f} {ms / cost.gflops:>9.1f} "
            f"{ms / cost.activations_m:>9.2f}")


def _time_arch(arch: str, batch_size: int, batches: int) -> tuple[float, int] | None:
    """Forward milliseconds per image of a random-init ``arch`` at its own input size, and that size."""
    import timm
    import torch

    try:
        model = timm.create_model(arch, pretrained=False).eval()
    except Exception as err:  # noqa: BLE001 - not in this timm
        print(f"    {arch}: not built ({err})")
        return None
    size = int(model.pretrained_cfg.get("input_size", (3, 224, 224))[-1])
    x = torch.randn(batch_size, 3, size, size)
    with torch.no_grad():
        model(x)
        start = time.perf_counter()
        for _ in range(batches):
            model(x)
    return 1000 * (time.perf_counter() - start) / (batches * batch_size), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="builtin:digits")
    parser.add_argument("--zoo", default="offline")
    parser.add_argument("--n", type=int, default=256, help="the sample a run ranks on (rank's default in a run)")
    parser.add_argument("--seconds", type=float, default=18.0, help="the limit: 15 %% of a 2-minute budget")
    parser.add_argument("--image-size", type=int, default=None, help="default: each model's own input size")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--per-unit-n", type=int, default=128, help="images of the unlimited ranking (0: skip it)")
    parser.add_argument("--archs", default=ARCHS, help="other timm architectures to time ('': none)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--variants", default="FLOP-priced,activation-priced",
                        help="of FLOP-priced, activation-priced (today's ranking), no-skip (today's, every candidate "
                             "scored even past the limit)")
    parser.add_argument("--workdir", default="bench-out/rank-variants", help="where variant:NAME datasets are written")
    args = parser.parse_args()

    from hf_quicktune.data import load
    from hf_quicktune.rank import api
    from hf_quicktune.zoo import load_zoo
    from hf_quicktune.zoo.forward_cost import forward_cost
    from hf_quicktune.zoo.input_size import size_args

    if args.dataset.startswith("variant:"):  # benchmarks/rank_variants.py
        from rank_variants import build_variant

        dataset = load(build_variant(args.dataset.split(":", 1)[1], args.workdir))
    else:
        dataset = load(args.dataset)
    cands = load_zoo(args.zoo)
    by_activations = api.forward_weights

    def size_of(cand) -> int:
        return int(args.image_size or (cand.input_size[-1] if cand.input_size else 224))

    def cost_of(cand):
        return forward_cost(cand.architecture, size_of(cand), size_args(cand, args.image_size).get("img_size"))

    def by_flops(cs, image_size):
        return [cost_of(c).gflops for c in cs]  # the offline zoo: timm models, all counted

    from hf_quicktune.rank.timed_sample import TimedSample

    overruns, probe = TimedSample.overruns, TimedSample.probe
    variants = {"FLOP-priced": (by_flops, overruns, probe), "activation-priced": (by_activations, overruns, probe),
                "no-skip": (by_activations, lambda self, weight: None, probe),
                "no-probe": (by_activations, overruns, lambda self: None)}
    chosen = [v for v in args.variants.split(",") if v]
    unknown = [v for v in chosen if v not in variants]
    if unknown:
        raise SystemExit(f"unknown --variants {unknown}; choose from {', '.join(variants)}")
    print(f"{args.dataset}: {len(dataset.train)} training images, {dataset.num_classes} classes; zoo {args.zoo} "
          f"({len(cands)} candidates), n = {args.n}, {args.image_size or 'native'} px, limit {args.seconds:.1f} s")
    print(f"{'round':>5} {'variant':<28} {'wall s':>7} {'images':>7} {'over limit':>10} {'scored':>7}  unscored")
    walls: dict[str, list[float]] = {k: [] for k in chosen}
    images: dict[str, list[int]] = {k: [] for k in walls}
    for r in range(args.rounds):
        for name in chosen:
            api.forward_weights, TimedSample.overruns, TimedSample.probe = variants[name]
            start = time.perf_counter()
            res = api.rank(dataset, cands, n=args.n, image_size=args.image_size, cache=False, seconds=args.seconds)
            wall = time.perf_counter() - start
            walls[name].append(wall)
            images[name].append(res.n)
            unscored = list(res.info.get("unscored", {}))
            print(f"{r + 1:>5} {name:<28} {wall:>7.1f} {res.n:>7} {wall / args.seconds:>9.2f}x "
                  f"{len(res.table) - len(unscored):>7}  {', '.join(unscored) or '-'}", flush=True)
    api.forward_weights, TimedSample.overruns, TimedSample.probe = by_activations, overruns, probe
    print("medians: " + ", ".join(f"{k} {statistics.median(v):.1f} s ({statistics.median(v) / args.seconds:.2f}x the "
                                  f"limit) on {statistics.median(images[k]):.0f} images" for k, v in walls.items()))
    header = f"{'':<4}{'model':<34} {'ms/image':>9} {'GFLOPs':>7} {'M act':>7} {'ms/GFLOP':>9} {'ms/M act':>9}"
    per_flop: list[float] = []
    per_act: list[float] = []
    if args.per_unit_n:
        res = api.rank(dataset, cands, n=args.per_unit_n, image_size=args.image_size, cache=False, scores="lfc")
        print(f"no limit, n = {res.n}, the zoo's forward passes (the ranking's batches):\n{header}")
        for cand in cands:
            if cand.name in res.table and (cost := cost_of(cand)):
                ms = 1000 * res.table[cand.name]["feature_seconds"] / res.n
                per_flop.append(ms / cost.gflops)
                per_act.append(ms / cost.activations_m)
                print(_row(f"{cand.name} ({size_of(cand)} px)", ms, cost))
    archs = [a for a in args.archs.split(",") if a]
    if archs:
        print(f"other families, random init, random images, batch {args.batch_size}:\n{header}")
        for arch in archs:
            timed = _time_arch(arch, args.batch_size, args.batches)
            cost = forward_cost(arch, timed[1]) if timed else None
            if timed and cost:
                per_flop.append(timed[0] / cost.gflops)
                per_act.append(timed[0] / cost.activations_m)
                print(_row(f"{arch} ({timed[1]} px)", timed[0], cost), flush=True)
    if per_flop:
        print(f"spread (max / min) over the {len(per_flop)} models: ms per GFLOP {max(per_flop) / min(per_flop):.1f}x "
              f"({min(per_flop):.1f}-{max(per_flop):.1f}), ms per million activations "
              f"{max(per_act) / min(per_act):.1f}x ({min(per_act):.2f}-{max(per_act):.2f})")


if __name__ == "__main__":
    main()
