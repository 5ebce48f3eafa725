"""Normalised regret against wall-clock with N = 1, 4, 8 simulated asynchronous workers (issue 15, "Measured").

Each (method, dataset, seed) is replayed by ``hf-quicktune bench --workers N`` (hf_quicktune/bench/replay.py
``replay_workers``: every free worker asks for a trial, epochs end at their recorded cost on a simulated clock,
results are told in finish order; the optimizer's own ask/tell seconds run serially on one driver). The
gray-box optimizers see the trials in flight through the kriging believer (search/quicktune.py ``_believing``).

Benchmarks (``--bench``):

* ``lcbench``: ``../shared/benchmarks/lcbench`` (34 tasks x 1,000 runs x 52 epochs), budget 20 median full
  runs per task; default methods ``dyhpo-init5`` (the gray-box method that beats ASHA sequentially there:
  benchmarks/README.md) and ``asha``.
* ``qte``: the Quick-Tune extended meta-dataset (``../shared/metadatasets/quicktune-extended``, imported once
  with ``hf-quicktune meta import``), 16 h of recorded time per dataset; default methods ``quicktune-recipe``
  (the fold priors of ``--priors``, 5 folds as benchmarks/quicktune_extended_regret.py builds them; a missing
  fold prior is meta-trained under ``--out``) and ``asha``.

Prints, per method and N, the mean normalised regret at 10 / 25 / 50 / 100 % of the budget, and the speed-up to
reach the N = 1 run's final regret: per replay ``t1 / tN`` where ``t1`` is when the N = 1 run first reached its
final regret and ``tN`` when the N-worker run first reached it (median and geometric mean over replays; a run
that never reaches it counts as ``t1 / budget``, an upper bound, and is counted), and on the mean curves.
Checks the targets: speed-up >= 3 at N = 4 for the gray-box method, and at N = 4 its regret below ASHA's at
every checkpoint. ``--per-dataset`` adds each replay's figures and its path bound (:func:`winning_path`): the N = 1
run's time to its final regret over the time its winning trial's own epochs took, the speed-up of a parallel run
that gets there along the same trial, and where each run's time to the target went along its winning trial
(:func:`winner_timing`: before it started, its own epochs, its pauses).

    OMP_NUM_THREADS=1 python benchmarks/parallel_regret.py --bench qte --datasets APL,BTS,PLT_VIL --seeds 1
    OMP_NUM_THREADS=1 python benchmarks/parallel_regret.py --bench lcbench --datasets lcbench_3945 --seeds 1

Outputs under ``--out`` (git-ignored ``bench-out/parallel-BENCH``; one ``wN/`` bench directory per N); a rerun
reuses finished traces.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"lcbench": ROOT.parent / "shared" / "benchmarks" / "lcbench",
           "qte": ROOT.parent / "shared" / "metadatasets" / "quicktune-extended"}
DEFAULT_METHODS = {"lcbench": "dyhpo-init5,asha", "qte": "quicktune-recipe,asha"}
SPACES = {"lcbench": "lcbench", "qte": "quicktune"}


def first_hit(trace, target: float, best: float, worst: float, budget: float) -> int | None:
    """Index of the trace's first step within the budget whose regret is <= ``target`` (None if none)."""
    from hf_quicktune.bench.regret import normalised_regret

    if not trace.time:
        return None
    reg = normalised_regret(np.asarray(trace.incumbent, dtype=float), best, worst)
    hit = np.flatnonzero((reg <= target + 1e-12) & (np.asarray(trace.time) <= budget))
    return int(hit[0]) if len(hit) else None


def first_reach(trace, target: float, best: float, worst: float, budget: float) -> float:
    """Simulated seconds at which the trace's regret first is <= ``target`` (inf if never)."""
    i = first_hit(trace, target, best, worst, budget)
    return math.inf if i is None else float(trace.time[i])


def winning_path(trace, target: float, best: float, worst: float, budget: float) -> float:
    """Simulated seconds a one-worker trace spent on the trial whose step first reached regret ``target``, up to
    that step (the trial's epochs in sequence, each step's cost and the optimizer's time before it): with any
    number of workers, that trial cannot get there sooner, so ``t1 / path`` bounds the speed-up of a parallel
    run that reaches the target along the same trial (another trial may get there by a shorter path)."""
    i = first_hit(trace, target, best, worst, budget)
    if i is None or not trace.visits:
        return math.nan
    winner = trace.visits[i][0]
    start = [0.0] + list(trace.time[:-1])
    return float(sum(trace.time[k] - start[k] for k in range(i + 1) if trace.visits[k][0] == winner))


def winner_timing(trace, target: float, best: float, worst: float, budget: float,
                  costs: np.ndarray) -> tuple[int, float, float, float]:
    """Where a trace's time to regret ``target`` went, along the trial whose step first reached it: ``(trial,
    start, own, wait)`` in simulated seconds, ``start`` when that trial's first epoch began, ``own`` its recorded
    epoch costs up to the hit, ``wait`` the rest (its pauses between epochs while other trials ran, and the
    optimizer's time), so ``start + own + wait`` is the time to the target. A parallel run beats N = 1 by starting
    the winner sooner or pausing it less; ``own`` is what no number of workers shortens. ``(-1, nan, nan, nan)``
    when the trace never reaches ``target``."""
    i = first_hit(trace, target, best, worst, budget)
    if i is None:
        return -1, math.nan, math.nan, math.nan
    winner, epoch = trace.visits[i]
    k = next(k for k in range(i + 1) if trace.visits[k][0] == winner)  # a point may tell several epochs (N = 1)
    start = float(trace.time[k]) - float(np.nansum(costs[winner, : trace.visits[k][1]]))
    own = float(np.nansum(costs[winner, :epoch]))
    return int(winner), start, own, float(trace.time[i]) - start - own


def machines_text(traces) -> str:
    """Which machines the traces were replayed on (their ``machine`` records), with how many each: a gray-box
    replay is reproducible on one machine, not across CPUs or library builds."""
    from collections import Counter

    counts = Counter(tuple(sorted(t.machine.items())) for t in traces)
    return "replayed on: " + "; ".join(
        f"{', '.join(f'{k} {v}' for k, v in m) or 'no record'}: {c} replays" for m, c in counts.most_common())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bench", choices=sorted(SOURCES), required=True)
    p.add_argument("--methods", default=None, help="Comma-separated bench methods (default: per --bench).")
    p.add_argument("--workers", default="1,4,8")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--datasets", default=None, help="Comma-separated target datasets (default: all).")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--budget-runs", type=float, default=20.0, help="lcbench: budget in median full runs.")
    p.add_argument("--budget-hours", type=float, default=16.0, help="qte: budget in hours of recorded time.")
    p.add_argument("--priors", type=Path, default=ROOT / "bench-out" / "quicktune-extended" / "priors",
                   help="qte: fold priors to reuse (read only; foldK/prior.json).")
    p.add_argument("--meta", default='{"steps": 2000, "split": [0.8, 0.2, 0.0]}',
                   help="JSON options for a fold prior that has to be meta-trained.")
    p.add_argument("--max-wall", type=float, default=None, help="Real-seconds cap per replay (NaN past it).")
    p.add_argument("--options", default="{}", help='JSON {method: {kwarg: value}} for the gray-box optimizers '
                   '(an ablation: give it its own --out).')
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--per-dataset", action="store_true",
                   help="Also print each replay's N = 1 final regret, when N = 1 and N reach it (share of the "
                        "budget) and the speed-up.")
    args = p.parse_args()

    import torch

    from hf_quicktune.bench.priors import fold_prior
    from hf_quicktune.bench.regret import CHECKPOINTS, reference_values, regret_on_grid
    from hf_quicktune.bench.replay import Trace
    from hf_quicktune.bench.runner import BenchConfig, dataset_budget, make_task, run_bench, trace_path
    from hf_quicktune.meta import import_meta_dataset, load_meta_dataset

    torch.set_num_threads(1)
    out = args.out or ROOT / "bench-out" / f"parallel-{args.bench}"
    out.mkdir(parents=True, exist_ok=True)
    parquet = {"lcbench": ROOT / "bench-out" / "lcbench.parquet",
               "qte": ROOT / "bench-out" / "quicktune-extended.parquet"}[args.bench]
    if not parquet.exists():
        parquet = out / parquet.name
        if not parquet.exists():
            import_meta_dataset(SOURCES[args.bench]).save(parquet)
    md = load_meta_dataset(parquet)
    methods = [m for m in (args.methods or DEFAULT_METHODS[args.bench]).split(",") if m]
    workers = [int(w) for w in args.workers.split(",")]
    targets = args.datasets.split(",") if args.datasets else list(md.dataset_names)
    meta = json.loads(args.meta)

    def prior_for(train_md, held_out, directory):
        from hf_quicktune.search.prior import Prior

        cached = args.priors / Path(directory).name
        if (cached / "prior.json").exists():  # reuse (read only) unless it saw a held-out dataset
            prior = Prior.load(cached)
            if not set(prior.provenance.get("splits", {}).get("train", [])) & set(held_out):
                return prior
        return fold_prior(train_md, held_out, directory, space=bench_space_for(), **meta)

    def bench_space_for():
        from hf_quicktune.bench.runner import bench_space

        return bench_space(SPACES[args.bench], md)

    def config(n: int) -> BenchConfig:
        budget = dict(budget_runs=args.budget_runs) if args.bench == "lcbench" else \
            dict(budget_seconds=args.budget_hours * 3600)
        return BenchConfig(methods=methods, seeds=args.seeds, folds=args.folds, datasets=targets, meta_train=meta,
                           space=SPACES[args.bench], workers=n, max_wall_per_replay=args.max_wall,
                           method_options=json.loads(args.options), **budget)

    for n in workers:
        run_bench(md, config(n), out / f"w{n}", prior_for=prior_for)
        print(f"[w{n}] done", flush=True)

    missing = [trace_path(out / "w1", m, d, s, 1) for m in methods for d in targets for s in range(args.seeds)]
    missing = [p for p in missing if not p.is_file()]
    if missing:  # the speed-ups are against N = 1: without its traces there is nothing to compare with
        print(f"replays saved under {out}; no summary: {len(missing)} N = 1 trace(s) missing (e.g. {missing[0]}). "
              "Run again with --workers 1,N (finished replays are reused) or copy an N = 1 run's w1/ there.")
        return 0
    refs, budgets, recorded = {}, {}, {}
    for d in targets:
        _, curves, costs = make_task(md, d)
        refs[d], budgets[d] = reference_values(curves), dataset_budget(curves, costs, config(1))
        recorded[d] = costs

    def trace(m: str, d: str, s: int, n: int) -> Trace:
        return Trace.from_dict(json.loads(trace_path(out / f"w{n}", m, d, s, n).read_text()))

    grid = np.linspace(0, 1, 1001)
    print(f"\n== {args.bench}: {len(targets)} datasets x {args.seeds} seeds; mean normalised regret at fractions of "
          "the budget (wall-clock), speed-up to reach the N = 1 run's final regret")
    print(f"datasets: {', '.join(targets)}")
    print(machines_text([trace(m, d, s, n) for m in methods for d in targets for s in range(args.seeds)
                         for n in workers]))
    header = "method             N  " + "  ".join(f"{int(c * 100):>5d}%" for c in CHECKPOINTS) + \
        "   speed-up median  geo-mean  not reached  on mean curve"
    print(header)
    at_checkpoints: dict[tuple[str, int], np.ndarray] = {}
    speed: dict[tuple[str, int], float] = {}
    per_replay: list[tuple[str, int, str, int, float, float, float, float, float]] = []
    timing: dict[tuple[str, int, str, int], tuple[tuple[int, float, float, float], ...]] = {}
    depth: dict[tuple[str, int, str, int], tuple[int, ...]] = {}  # the epoch each winner reached the target at
    for m in methods:
        mean1 = None
        for n in workers:
            cps, ratios, missed, undefined, curves_n = [], [], 0, 0, []
            by_seed: dict[int, list[float]] = {}  # each seed's replays (a second seed is a second replay)
            for d in targets:
                best, worst = refs[d]
                for s in range(args.seeds):
                    tr, t1r = trace(m, d, s, n), trace(m, d, s, 1)
                    cps.append(regret_on_grid(tr, np.array(CHECKPOINTS) * budgets[d], "time", best, worst))
                    curves_n.append(regret_on_grid(tr, grid * budgets[d], "time", best, worst))
                    final1 = regret_on_grid(t1r, np.array([budgets[d]]), "time", best, worst)[0]
                    t1 = first_reach(t1r, final1, best, worst, budgets[d])
                    tn = first_reach(tr, final1, best, worst, budgets[d])
                    if not math.isfinite(t1):  # the N = 1 run observed nothing within the budget
                        undefined += 1
                        continue
                    if not math.isfinite(tn):
                        missed += 1
                        tn = budgets[d]
                    ratios.append(t1 / max(tn, 1e-9))
                    by_seed.setdefault(s, []).append(ratios[-1])
                    final_n = regret_on_grid(tr, np.array([budgets[d]]), "time", best, worst)[0]
                    path = winning_path(t1r, final1, best, worst, budgets[d])
                    per_replay.append((m, n, d, s, final1, t1 / budgets[d], tn / budgets[d], final_n, t1 / path))
                    timing[(m, n, d, s)] = tuple(winner_timing(t, final1, best, worst, budgets[d], recorded[d])
                                                 for t in (t1r, tr))
                    hits = [first_hit(t, final1, best, worst, budgets[d]) for t in (t1r, tr)]
                    depth[(m, n, d, s)] = tuple(0 if i is None else int(t.visits[i][1]) for t, i in zip((t1r, tr), hits))
            cp = np.nanmean(np.array(cps), axis=0)
            mean_curve = np.nanmean(np.array(curves_n), axis=0)
            if n == workers[0]:
                mean1 = mean_curve
            target = mean1[-1]
            f1 = grid[np.flatnonzero(mean1 <= target + 1e-12)[0]]
            hit = np.flatnonzero(mean_curve <= target + 1e-12)
            on_mean = f1 / grid[hit[0]] if len(hit) and grid[hit[0]] > 0 else float("nan")  # nan: not reached
            med = float(np.median(ratios)) if ratios else float("nan")
            geo = float(np.exp(np.mean(np.log(np.maximum(ratios, 1e-9))))) if ratios else float("nan")
            at_checkpoints[(m, n)], speed[(m, n)] = cp, med
            print(f"{m:<18s} {n:>2d}  " + "  ".join(f"{v:6.4f}" for v in cp)
                  + f"   {med:15.2f}  {geo:8.2f}  {missed:>4d}/{len(ratios):<6d} {on_mean:8.2f}"
                  + (f"  ({undefined} replays without an N = 1 observation left out)" if undefined else ""))
            if len(by_seed) > 1 and n != workers[0]:
                print(f"{'':<18s} {n:>2d}  speed-up median by seed: "
                      + ", ".join(f"seed {k} {np.median(v):.2f}" for k, v in sorted(by_seed.items())))
    if args.per_dataset:
        print("\nper replay: the N = 1 run's final regret, the share of the budget at which N = 1 and N first reach "
              "it, the speed-up (N = 1 share / N share; a miss counts as reaching it at the end), the N run's final "
              "regret, and the path bound: N = 1's time to its final regret over the time its winning trial took to "
              "get there (winning_path; a run that reaches it along the same trial cannot be faster)")
        print("then the trial each run reached it with (the winner; '=' when the N run's is the N = 1 run's) and, "
              "in shares of the budget, when that trial started, its own recorded epochs up to there and the rest, "
              "its pauses (winner_timing): start + own + pause = the time to the target; ep: the winner's epochs then")
        print(f"{'method':<18s} {'N':>2s}  {'dataset':<10s} seed  final1  N=1 at   N at  speed-up  final N  path bound"
              "  | N = 1: winner  ep  start    own  pause | N: winner  ep  start    own  pause")
        for m, n, d, s, final1, f1, fn, final_n, bound in per_replay:
            if n != workers[0]:
                (w1, s1, o1, p1), (wn, sn, on, pn) = timing[(m, n, d, s)]
                e1, en = depth[(m, n, d, s)]
                b = budgets[d]
                wn_text = "=" if wn == w1 else ("-" if wn < 0 else str(wn))
                print(f"{m:<18s} {n:>2d}  {d:<10s} {s:>4d}  {final1:6.3f}  {f1:6.3f}  {fn:6.3f}  {f1 / max(fn, 1e-9):8.2f}"
                      f"  {final_n:7.3f}  {bound:10.2f}  | {w1:>13d} {e1:3d} {s1 / b:6.3f} {o1 / b:6.3f} {p1 / b:6.3f}"
                      f" | {wn_text:>9s} {en:3d} {sn / b:6.3f} {on / b:6.3f} {pn / b:6.3f}")
        for m in methods:
            bounds = [r[8] for r in per_replay if r[0] == m and r[1] == workers[-1] and math.isfinite(r[8])]
            if bounds:
                print(f"{m}: path bound median {np.median(bounds):.2f}, below 3 in {sum(b < 3 for b in bounds)} of "
                      f"{len(bounds)} replays")
            for n in workers[1:]:  # why the replays short of 3x are: a late winner, or one that paused
                slow = [(r[2], timing[r[:4]]) for r in per_replay if r[0] == m and r[1] == n
                        and r[5] / max(r[6], 1e-9) < 3 and timing[r[:4]][1][0] >= 0]
                if slow:
                    share = np.array([[tn[1] / budgets[d], tn[2] / budgets[d], tn[3] / budgets[d]]
                                      for d, (_, tn) in slow]).mean(axis=0)
                    print(f"{m} N = {n}: of the {len(slow)} replays below 3x that reached the target, "
                          f"{sum(t1[0] == tn[0] for _, (t1, tn) in slow)} reached it with the N = 1 run's winner; "
                          f"mean shares of the budget: before the winner started {share[0]:.3f}, its own epochs "
                          f"{share[1]:.3f}, its pauses {share[2]:.3f}")
    gray = [m for m in methods if m != "asha"]
    if "asha" in methods and 4 in workers:
        for m in gray:
            below = bool(np.all(at_checkpoints[(m, 4)] < at_checkpoints[("asha", 4)]))
            print(f"target {m}: speed-up at N = 4 {speed[(m, 4)]:.2f} (>= 3: {speed[(m, 4)] >= 3}); "
                  f"below ASHA at N = 4 at every checkpoint: {below}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
