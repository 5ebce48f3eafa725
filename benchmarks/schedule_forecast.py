"""Where a searched run's surrogate says its trials end, when the run's schedule is not the prior's: read in epochs of the
prior's schedule (epoch e of S is e / P, the product until session 40) or relative to the run's own (e / S,
``QuickTuneOptimizer(relative_budget=True)``, ``FeatureEncoder.encode(schedule_epochs=)``).

The shipped prior was meta-trained on the Quick-Tune extended meta-dataset's 50-epoch runs (P = 50); a run fits its
schedule S to its budget (136-156 epochs on a 100-image set at 5 minutes, 10 in the demo). For each finished run
directory given (``hf-quicktune run`` output, e.g. those ``finish_margin.py`` wrote), the run's optimizer is rebuilt
from the directory (its settings, pool, the prior it used, the dataset's meta-features, the models' features) once
per encoding, told the run's observations, its surrogate fitted to them in one full refit alike, and asked
for each trial's accuracy at the end of the searched schedule from the first k of its recorded epochs (k = 10, 20,
all): mean +- std. Printed beside each trial's best recorded accuracy and the number of forecasts above 1 (an
accuracy no trial can reach).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/schedule_forecast.py RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def rebuild(run: Path, relative: bool):
    """The run's optimizer, told its observations, its surrogate refitted from the prior under one encoding; and
    the searched schedule's length."""
    from hf_quicktune.run import search_setup
    from hf_quicktune.run.settings import RunSettings
    from hf_quicktune.run.stages import load_dataset
    from hf_quicktune.search.serialization import load_state
    from hf_quicktune.zoo import load_zoo

    settings = RunSettings(**json.loads((run / "settings.json").read_text()))
    schedule = json.loads((run / "schedule.json").read_text())
    searched = int(schedule.get("searched_max_epochs", schedule["max_epochs"]))
    settings.max_epochs = searched
    prior, _ = search_setup.load_prior(settings)
    candidates = {c.name: c for c in load_zoo(settings.zoo)}
    dataset = load_dataset(settings)
    ranking = json.loads((run / "ranking.json").read_text())
    features = search_setup.model_features(ranking, candidates, settings.image_size, scores=settings.score_features)
    pool = json.loads((run / "pool.json").read_text())
    opt = search_setup.make_optimizer(settings, pool, prior=prior, meta=dataset.meta.to_dict(), features=features,
                                      num_classes=dataset.num_classes)
    opt.relative_budget = relative
    state = dict(load_state(run / "optimizer"))
    state.pop("tensors", None)  # the prior's weights, refitted below on this encoding's inputs
    state.update(max_epochs=searched, schedule_epochs=searched, stale=True, fit_loss=None, n_refits=0, n_full_refits=0)
    opt.load_state_dict(state)
    opt.set_max_epochs(searched)
    opt._fit_if_stale()
    return opt, searched, pool


def forecasts(opt, searched: int, ids: list[int], k: int | None) -> tuple[np.ndarray, np.ndarray, list[int]]:
    curves = [list(opt.trials[t].scores[:k] if k else opt.trials[t].scores) for t in ids]
    inputs = opt._encode(ids, [searched] * len(ids), curves)
    mean, std = opt.surrogate.predict(inputs, noise=False)
    return np.asarray(mean), np.asarray(std), [len(c) for c in curves]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--seen", default="10,20,all", help="the recorded epochs each forecast starts from")
    args = p.parse_args()
    cuts = [None if c == "all" else int(c) for c in args.seen.split(",")]
    above = {False: 0, True: 0}
    total = 0
    for run in args.runs:
        summary = json.loads((run / "summary.json").read_text())
        built = {rel: rebuild(run, rel) for rel in (False, True)}
        opt, searched, pool = built[False]
        ids = sorted(t for t, st in opt.trials.items() if st.scores)
        prior_epochs = opt.encoder.max_epochs
        print(f"\n{run.name}: searched schedule S = {searched} epochs, prior P = {prior_epochs}; exported trial "
              f"{summary.get('best_trial')} at {100 * summary['val_top1']:.1f} %")
        print(f"  {'trial':>5} {'model':<22} {'freeze':>6} {'epochs':>6} {'best':>6}   " + "   ".join(
            f"{'seen ' + str(c or 'all'):>8}: {'e/P':>12} {'e/S':>12}" for c in cuts))
        table = {(rel, c): forecasts(built[rel][0], searched, ids, c) for rel in (False, True) for c in cuts}
        for row, t in enumerate(ids):
            st = opt.trials[t]
            cells = []
            for c in cuts:
                (ma, sa, seen), (mr, sr, _) = table[(False, c)], table[(True, c)]
                cells.append(f"{seen[row]:>8}: {ma[row]:>6.3f}+-{sa[row]:.3f} {mr[row]:>6.3f}+-{sr[row]:.3f}")
            print(f"  {t:>5} {pool[t]['model']:<22} {pool[t].get('pct_to_freeze', 0):>6} {st.epochs:>6} "
                  f"{max(st.scores):>6.3f}   " + "   ".join(cells))
        for rel in (False, True):
            above[rel] += sum(int((table[(rel, c)][0] > 1.0).sum()) for c in cuts)
        total += len(ids) * len(cuts)
    print(f"\nforecasts above 1: e/P {above[False]} of {total}, e/S {above[True]} of {total}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
