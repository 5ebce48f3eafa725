"""How well do the zero-training scores predict fine-tuned accuracy? τ, weighted τ and recall side by side.

For each dataset: rank every candidate of the zoo with every score (one forward pass; LGC one
gradient pass) at each score resolution (``native``: each model's own input size; ``32``: the
``--image-size`` the run uses), then fine-tune every candidate with ONE fixed recipe through the
train engine (``hf_quicktune.train.Trial``) at ``--image-size`` and take its validation top-1.
The recipe sees a fixed number of training images (``--images-seen``, 60 steps of 32 by default),
so a few-shot set gets more epochs, not fewer steps. Per dataset, resolution and score it reports:

- Kendall τ and weighted τ (``scipy.stats.weightedtau``, hyperbolic weights that emphasise the top,
  as in the LogME/SFDA benchmarks) between the score and the fine-tuned accuracy;
- top-k recall: is the best fine-tuned candidate among the score's k best (k = 1, 2, 3)?

Rows ``ensemble`` (the mean normalised rank of the default scores, raw) and ``default`` (the order
``hf-quicktune run`` keeps its ``--top-k`` from: the ensemble with the random-init-baselines policy
of :meth:`hf_quicktune.rank.result.RankResult.order`) show what the tool does. Everything is cached in
``--workdir`` (one JSON per score table and per fine-tuning), so several processes can fill it in
parallel (``--only``, ``--resolutions``, ``--datasets``) and a last call prints the tables.
Datasets: ``builtin:*``, any spec ``hf_quicktune.data.load`` takes, or ``variant:NAME``
(``benchmarks/rank_variants.py``: digits-fewshot, mnist5k-colour).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/rank_quality.py --workdir /tmp/rq   # the README figures
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

FIXED_CONFIG = {"lr": 1e-3, "opt": "adamw", "batch_size": 32, "weight_decay": 1e-4, "sched": "cosine"}
DATASETS = "builtin:digits,builtin:mnist5k,variant:digits-fewshot,variant:mnist5k-colour"
KS = (1, 2, 3)


def taus(score: dict[str, float], acc: dict[str, float]) -> tuple[float, float]:
    """(Kendall τ, weighted τ) over candidates where the score is defined (NaN with fewer than 3)."""
    from scipy.stats import kendalltau, weightedtau

    names = [c for c in acc if score.get(c) is not None and not math.isnan(score[c])]
    if len(names) < 3:
        return math.nan, math.nan
    x = [score[c] for c in names]
    y = [acc[c] for c in names]
    return float(kendalltau(x, y).statistic), float(weightedtau(x, y).statistic)


def recalls(order: list[str], acc: dict[str, float]) -> dict[int, float]:
    """k -> 1.0 when the best fine-tuned candidate is in ``order[:k]`` (NaN when order is empty)."""
    if not order:
        return {k: math.nan for k in KS}
    best = max(acc, key=lambda c: acc[c])
    return {k: float(best in order[:k]) for k in KS}


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-." else "_" for ch in text)


def _cached(path: Path, compute):
    if path.is_file():
        return json.loads(path.read_text())
    if compute is None:  # --cached-only
        return None
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=1, default=lambda v: None))
    tmp.replace(path)
    return value


def _dataset(spec: str, workdir: Path, seed: int):
    from hf_quicktune.data import load

    if spec.startswith("variant:"):
        sys.path.insert(0, str(Path(__file__).parent))
        from rank_variants import build_variant

        return load(build_variant(spec.split(":", 1)[1], workdir / "variants", seed), seed=seed)
    return load(spec, seed=seed)


def score_table(spec, data, cands, scores, resolution, args) -> dict:
    """``RankResult.to_dict()`` of every candidate at ``resolution`` ('native' or pixels)."""
    from hf_quicktune.rank import rank

    size = None if resolution == "native" else int(resolution)
    names = [s for s in scores if not (size is None and s == "lgc" and not args.lgc_native)]
    start = time.perf_counter()
    result = rank(data, cands, scores=names, n=args.n, image_size=size, seed=args.seed)
    out = result.to_dict()
    out["seconds"] = time.perf_counter() - start
    print(f"  {spec} @ {resolution}: ranked in {out['seconds']:.0f}s", flush=True)
    return out


def _final_eval_trial():
    """A Trial that evaluates only after its last epoch (the earlier placeholders are never read):
    a few-shot set trains 20 short epochs, whose per-epoch validation would cost more than training."""
    from hf_quicktune.train import Trial

    class FinalEvalTrial(Trial):
        final_epoch = 1

        def _loop(self):
            loop = super()._loop()
            if self.epochs_done + 1 < self.final_epoch:
                loop.evaluate = lambda state, dataset: {"loss": 0.0, "top1": 0.0, "top5": 0.0}
            return loop

    return FinalEvalTrial


def finetune(spec, data, cand, args, tmp: str) -> dict:
    train_n = min(args.train_limit, len(data.train))
    epochs = max(1, math.ceil(args.images_seen / train_n))
    start = time.perf_counter()
    Trial = _final_eval_trial()
    Trial.final_epoch = epochs
    trial = Trial(f"{tmp}/{_slug(spec)}/{_slug(cand.name)}", cand, dict(FIXED_CONFIG, model=cand.name), data,
                  max_epochs=epochs, image_size=args.image_size, train_limit=args.train_limit,
                  eval_limit=args.eval_limit, seed=args.seed)
    records = trial.advance(epochs)
    last = records[-1] if records else None
    acc = float(last.val_top1) if last is not None and last.ok else math.nan
    seconds = time.perf_counter() - start
    print(f"  {spec} {cand.name}: val top-1 {acc:.3f} ({epochs} epochs x {train_n} images, {seconds:.0f}s)", flush=True)
    return {"val_top1": acc, "epochs": epochs, "train_images": train_n, "seconds": seconds}


def analyse(table: dict, acc: dict[str, float], score_names: list[str], cands, top_k: int,
            extra_ensembles: tuple[str, ...] = ()) -> dict[str, dict]:
    """Per score (and ensemble/default): τ, weighted τ and top-k recalls against ``acc``; ``kept``:
    is the best fine-tuned candidate among what ``run --top-k`` keeps (the default row)."""
    from hf_quicktune.rank.api import _twins
    from hf_quicktune.rank.result import RankResult, keep_top_k

    result = RankResult.from_json(json.dumps(table))
    result.table = {c: row for c, row in result.table.items() if c in acc}
    present = [c for c in cands if c.name in result.table]  # tables cached before the policy existed
    result.info.setdefault("baselines", [c.name for c in present if c.is_scratch])
    result.info.setdefault("twins", _twins(present))
    out = {}
    from hf_quicktune.rank.ensemble import mean_rank_ensemble

    for combo in extra_ensembles:
        parts = [p for p in combo.split("+") if p]
        values = mean_rank_ensemble(result.table, parts)
        for c, v in values.items():
            result.table[c][f"ens:{combo}"] = v
    for s in [*score_names, "ensemble", *(f"ens:{c}" for c in extra_ensembles), "default"]:
        if s == "default":
            order = [c for c in result.order() if c in acc]
            values = {c: -float(i) for i, c in enumerate(order)}
        else:
            values = {c: row.get(s, math.nan) for c, row in result.table.items()}
            values = {c: v for c, v in values.items() if v is not None and not math.isnan(v)}
            order = sorted(values, key=lambda c: -values[c])
        if not values:
            continue
        tau, wtau = taus(values, acc)
        out[s] = {"tau": tau, "wtau": wtau, "recall": recalls(order, acc), "order": order}
        if s == "default":
            kept = keep_top_k(order, top_k, result.baselines)
            out[s]["kept"] = kept
            out[s]["best_kept"] = max(acc, key=lambda c: acc[c]) in kept
    return out


def _fmt(v: float, width: int = 6, signed: bool = True) -> str:
    return f"{'n/a':>{width}s}" if v is None or (isinstance(v, float) and math.isnan(v)) else (
        f"{v:+{width}.2f}" if signed else f"{v:{width}.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default=DATASETS)
    parser.add_argument("--zoo", default="offline")
    parser.add_argument("--extra", default="", help="extra candidate names, comma-separated (e.g. scratch:resnet18)")
    parser.add_argument("--scores", default="lfc,lgc,logme,knn,leep,nce")
    parser.add_argument("--resolutions", default="native,32", help="score resolutions: 'native' and/or pixels")
    parser.add_argument("--lgc-native", action="store_true", help="also LGC at native resolution (slow on CPU)")
    parser.add_argument("--n", type=int, default=200, help="images sampled for the scores (stratified)")
    parser.add_argument("--image-size", type=int, default=32, help="fine-tuning resolution (the run's --image-size)")
    parser.add_argument("--images-seen", type=int, default=1920, help="training images per fine-tuning (60 steps of 32)")
    parser.add_argument("--train-limit", type=int, default=640, help="training images per epoch")
    parser.add_argument("--eval-limit", type=int, default=500)
    parser.add_argument("--top-k", type=int, default=None, help="also report recall at this k [default: the run's]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=["scores", "finetune"], help="compute only this part (parallel workers)")
    parser.add_argument("--ensembles", default="lfc+logme,lfc+logme+knn+lgc",
                        help="extra mean-rank ensembles to report, comma-separated (rows ens:A+B)")
    parser.add_argument("--cached-only", action="store_true", help="compute nothing: report what --workdir holds")
    parser.add_argument("--workdir", default="rank-quality", help="cache of every table and fine-tuning result")
    parser.add_argument("--json", dest="json_path", default=None, help="also write all numbers here")
    args = parser.parse_args()

    import tempfile

    from hf_quicktune.rank import parse_scores
    from hf_quicktune.run.settings import RunSettings
    from hf_quicktune.zoo import get_candidate, load_zoo

    top_k = args.top_k or RunSettings.__dataclass_fields__["top_k"].default
    scores = parse_scores(args.scores)
    resolutions = [r.strip() for r in args.resolutions.split(",") if r.strip()]
    ensembles = tuple(e.strip() for e in args.ensembles.split(",") if e.strip())
    cands = load_zoo(args.zoo) + [get_candidate(c) for c in args.extra.split(",") if c.strip()]
    workdir = Path(args.workdir)
    print(f"zoo {args.zoo} ({len(cands)} candidates), scores {', '.join(scores)}, n={args.n}, score resolutions "
          f"{resolutions}; fine-tuning at {args.image_size}px, {args.images_seen} images seen, config {FIXED_CONFIG}",
          flush=True)
    report: dict[str, dict] = {}
    tmp = tempfile.mkdtemp(prefix="rank-quality-")
    for spec in [s.strip() for s in args.datasets.split(",") if s.strip()]:
        data = _dataset(spec, workdir, args.seed)
        key = f"{_slug(spec)}-n{args.n}-seed{args.seed}"
        tables = {}
        if args.only != "finetune":
            for res in resolutions:
                table = _cached(workdir / "scores" / f"{key}-{res}-{_slug(args.zoo)}.json", None if args.cached_only
                                else lambda res=res, spec=spec, data=data: score_table(spec, data, cands, scores, res, args))
                if table is not None:
                    tables[res] = table
        acc = {}
        if args.only != "scores":
            for cand in cands:
                path = workdir / "finetune" / f"{_slug(spec)}-{args.image_size}px-{args.images_seen}-seed{args.seed}" / f"{_slug(cand.name)}.json"
                done = _cached(path, None if args.cached_only
                               else lambda cand=cand, spec=spec, data=data: finetune(spec, data, cand, args, tmp))
                if done is not None:
                    acc[cand.name] = done["val_top1"]
        if args.only:
            continue
        acc = {c: a for c, a in acc.items() if a is not None and not math.isnan(a)}
        if len(acc) < len(cands) or len(tables) < len(resolutions):
            print(f"\n{spec}: incomplete in {workdir} ({len(acc)}/{len(cands)} fine-tuned, "
                  f"{len(tables)}/{len(resolutions)} score tables): left out of the summary")
            continue
        report[spec] = {"accuracy": acc, "tables": tables,
                        "quality": {res: analyse(t, acc, scores, cands, top_k, ensembles) for res, t in tables.items()}}
        _print_dataset(spec, acc, tables, scores, resolutions)
    if report:
        _print_summary(report, [*scores, "ensemble", *(f"ens:{e}" for e in ensembles), "default"], resolutions, top_k)
    if args.json_path and report:
        with open(args.json_path, "w") as fh:
            json.dump({"args": vars(args), "config": FIXED_CONFIG, "datasets": report}, fh, indent=1,
                      default=lambda v: None)
        print(f"wrote {args.json_path}")


def _print_dataset(spec, acc, tables, scores, resolutions) -> None:
    for res in resolutions:
        table = tables[res]["table"]
        cols = [s for s in [*scores, "ensemble"] if any(row.get(s) is not None for row in table.values())]
        print(f"\n{spec} @ {res}: fine-tuned val top-1 and zero-cost scores; default order {tables[res]['order']}")
        print(f"{'candidate':32s} {'top-1':>6s} " + " ".join(f"{c:>8s}" for c in cols))
        for c in sorted(acc, key=lambda k: -acc[k]):
            print(f"{c:32s} {acc[c]:6.3f} " + " ".join(_fmt(table[c].get(s), 8) for s in cols))


def _print_summary(report, rows, resolutions, top_k) -> None:
    print("\nPer dataset: Kendall τ / weighted τ / best fine-tuned candidate in the top-1, top-2, top-3 (1 = kept)")
    for res in resolutions:
        print(f"\nscore resolution: {res}")
        names = list(report)
        print(f"{'score':20s} " + " ".join(f"{n.split(':')[-1][:22]:>22s}" for n in names))
        for s in rows:
            cells = []
            for n in names:
                q = report[n]["quality"][res].get(s)
                cells.append(f"{'n/a':>22s}" if q is None else
                             f"{_fmt(q['tau'], 5)} {_fmt(q['wtau'], 5)}  {''.join(str(int(q['recall'][k])) if not math.isnan(q['recall'][k]) else '-' for k in KS):>3s}   ")
            print(f"{s:20s} " + " ".join(cells))
    print(f"\nMean over {len(report)} datasets: τ, weighted τ, recall@1/2/3 (%), @{top_k}: best kept by the run's "
          f"--top-k {top_k} (default row: keep_top_k, every random-init baseline kept; other rows: plain top-{top_k})")
    print(f"{'score':20s} " + " ".join(f"{res:>40s}" for res in resolutions))
    for s in rows:
        cells = []
        for res in resolutions:
            pairs = [(rep["quality"][res][s], rep["accuracy"]) for rep in report.values() if s in rep["quality"][res]]
            pairs = [(q, a) for q, a in pairs if not math.isnan(q["tau"])]
            if not pairs:
                cells.append(f"{'n/a':>40s}")
                continue
            qs = [q for q, _ in pairs]
            t = sum(q["tau"] for q in qs) / len(qs)
            w = sum(q["wtau"] for q in qs) / len(qs)
            rec = [100 * sum(q["recall"][k] for q in qs) / len(qs) for k in KS]
            kept = 100 * sum(max(a, key=a.get) in q.get("kept", q["order"][:top_k]) for q, a in pairs) / len(qs)
            cells.append(f"{t:+5.2f} {w:+5.2f} {rec[0]:4.0f} {rec[1]:4.0f} {rec[2]:4.0f} @{top_k}:{kept:4.0f} ({len(qs)})")
        print(f"{s:20s} " + " ".join(f"{c:>40s}" for c in cells))


if __name__ == "__main__":
    main()
