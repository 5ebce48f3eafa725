"""When can Syne Tune's BOHB fit its model on the extended meta-dataset's pools? (why its replays equal ASHA's)

For each dataset of the Quick-Tune extended meta-dataset (converted from ../shared on first use, as the regret
benchmark does): the Syne Tune peer's configuration space for that pool (``bench/synetune_peer.py``), the number of
features syne-tune 0.16's kernel density estimator encodes it into, and the fewest trials after which it fits its
good and bad densities (its own ``_check_data_shape_and_good_size``), with syne-tune's default ``num_min_data_points``
(the number of features) and with the original BOHB's ``min_points_in_model`` (features + 1); against the pool's size.
Until then BOHB samples at random, as ASHA does.

    .venv/bin/python benchmarks/bohb_model_fit.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def trials_to_fit(kde, limit: int) -> int | None:
    """The fewest observations with which ``kde`` fits its densities (None: not within ``limit``)."""
    features = len(kde.vartypes)
    return next((n for n in range(1, limit + 1) if kde._check_data_shape_and_good_size((n, features)) is not None),
                None)


def main() -> int:
    from extended_tasks import ExtendedTasks
    from syne_tune.optimizer.schedulers.searchers.kde.kde_searcher import KernelDensityEstimator

    from hf_quicktune.bench.runner import make_task
    from hf_quicktune.bench.synetune_peer import SyneTunePeer

    md = ExtendedTasks().md
    print(f"{'dataset':<10} {'pool':>5} {'features':>9} {'trials to fit: default':>23} {'features + 1':>13}")
    for dataset in md.dataset_names:
        task, _, _ = make_task(md, dataset)
        space = SyneTunePeer(task.pool, task.max_epochs, variant="bohb").config_space
        default = KernelDensityEstimator(space)
        original = KernelDensityEstimator(space, num_min_data_points=len(default.vartypes) + 1)
        fits = [trials_to_fit(kde, 10_000) for kde in (default, original)]
        print(f"{dataset:<10} {len(task.pool):>5} {len(default.vartypes):>9} {fits[0]!s:>23} {fits[1]!s:>13}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
