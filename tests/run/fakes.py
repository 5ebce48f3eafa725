"""Fake executors shared by the loop tests (no training): results arrive out of order, one epoch per wait."""

from __future__ import annotations

from hf_quicktune.run.trials import Outcome
from hf_quicktune.search.base import Optimizer, Suggestion
from hf_quicktune.train.records import EpochRecord


class ParallelFake:
    """An executor with ``capacity`` workers that finishes the most recently submitted job first (results
    arrive out of order), one epoch per wait."""

    device = "cpu"

    def __init__(self, capacity, state):
        self.capacity, self.state, self.jobs, self.worker_seconds = capacity, state, [], 0.0
        self.max_busy, self.epochs_submitted = 0, 0

    @property
    def busy(self):
        return len(self.jobs)

    def submit(self, trial_id, config, to_epoch, *, from_epoch=0, deadline_s=None, wrap_up_s=None):
        assert trial_id not in [j[0] for j in self.jobs], "a trial in flight was submitted again"
        self.jobs.append((trial_id, to_epoch, from_epoch))
        self.epochs_submitted += to_epoch - from_epoch
        self.max_busy = max(self.max_busy, len(self.jobs))

    def wait(self):
        tid, to_epoch, from_epoch = self.jobs.pop()
        recs = [EpochRecord(epoch=e, val_top1=(tid + e) / 100, val_top5=None, val_loss=None, train_loss=None,
                            train_seconds=1.0, eval_seconds=0.5, images_per_second=None, peak_memory_mb=None,
                            lr=None).to_dict() for e in range(from_epoch + 1, to_epoch + 1)]
        self.worker_seconds += 1.0
        return Outcome(tid, to_epoch, recs, wall_s=1.0)

    def shutdown(self):
        self.jobs = []


class Explorer(Optimizer):
    """Only ever opens the next new trial for one epoch (a search that never continues on its own)."""

    def _ask(self):
        tid = next((i for i in range(len(self.pool)) if i not in self.trials and i not in self.in_flight), None)
        return None if tid is None else Suggestion(tid, dict(self.pool[tid]), 1)
