"""The Quick-Tune extended meta-dataset's target datasets with their fold priors, for the scripts that replay the run's
recipe on them (``finish_choice.py``, ``search_threshold.py``): the meta-dataset converted from ../shared on first
use (bench-out/quicktune-extended.parquet), leave-datasets-out folds and a prior per fold meta-trained without it,
as ``quicktune_extended_regret.py`` builds them (read from or written under ``OUT/priors``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "metadatasets" / "quicktune-extended"
OUT = ROOT / "bench-out" / "quicktune-extended"


class ExtendedTasks:
    """The meta-dataset (``md``), its datasets' folds, and :meth:`task` for one target dataset."""

    def __init__(self, out: Path = OUT, source: Path = SOURCE):
        import torch

        from hf_quicktune.bench.presets import preset
        from hf_quicktune.bench.runner import bench_space, dataset_folds
        from hf_quicktune.meta import import_meta_dataset, load_meta_dataset

        torch.set_num_threads(1)
        self.out, self.source = out, source
        self.fields = preset("quicktune-extended")
        parquet = out.parent / "quicktune-extended.parquet"
        if not parquet.exists():
            import_meta_dataset(source).save(parquet)
        self.md = load_meta_dataset(parquet)
        self.space = bench_space(self.fields["space"], self.md)
        self.folds = dataset_folds(self.md.dataset_names, self.fields["folds"])
        self.fold_of = {d: i for i, f in enumerate(self.folds) for d in f}
        self._priors: dict[int, Any] = {}

    def task(self, dataset: str) -> tuple[Any, Any, Any]:
        """``(task, curves, costs)`` of ``dataset`` (``bench.runner.make_task``), the task given the prior of its
        fold and the search space."""
        from hf_quicktune.bench.priors import fold_prior
        from hf_quicktune.bench.runner import make_task

        task, curves, costs = make_task(self.md, dataset)
        f = self.fold_of[dataset]
        if f not in self._priors:
            train = [d for d in self.md.dataset_names if self.fold_of[d] != f]
            self._priors[f] = fold_prior(self.md.subset(train), self.folds[f], self.out / "priors" / f"fold{f}",
                                         space=self.space, **self.fields["meta_train"])
        task.prior, task.extra = self._priors[f], {"space": self.space}
        return task, curves, costs
