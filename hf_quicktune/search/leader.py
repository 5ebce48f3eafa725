"""Which trial to train to the end of its schedule when a budget ends, compared at equal epochs: the best score
observed at any epoch favours the trial searched longest, so an open trial that trained fewer epochs and was ahead
of it within them is finished instead, as successive halving compares trials at equal resource (Jamieson &
Talwalkar 2016, section 3; Li et al. 2018, Hyperband, section 3).

The run loop uses it when ``run/search_loop.SAME_EPOCH_FINISH`` is on (off by default: no gain measured on real
runs, ``benchmarks/finish_margin.py``; a small one replayed on the Quick-Tune extended meta-dataset,
``benchmarks/finish_choice.py``; figures in benchmarks/README.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from hf_quicktune.search.base import OK, TrialState

__all__ = ["best_within", "equal_epoch_leader", "incumbent", "lead_needed"]


def incumbent(trials: Mapping[int, TrialState], *, can_go_on: bool = False) -> tuple[int, int, float] | None:
    """(trial_id, epoch, score) of the trial a run keeps: the best score at any epoch, ties to the higher last score,
    then the lower id; its epoch the first to reach that score (the kept checkpoint, kept too when the trial failed
    later). The leaderboard's order (``report.curves.sort_leaderboard``, ``run.finalize.pick_incumbent``), so the
    trial a run stops on and reports is the one it exports. ``can_go_on``: among trials that did not fail (the one
    to train further). None before any score."""
    top: tuple[float, float, int] | None = None
    for tid, st in trials.items():
        scores = [s for s in st.scores if s is not None]
        if (can_go_on and st.status != OK) or not scores:
            continue
        key = (max(scores), scores[-1], -tid)
        top = key if top is None or key > top else top
    if top is None:
        return None
    tid = -top[2]
    return tid, trials[tid].scores.index(top[0]) + 1, top[0]


def best_within(state: TrialState, epochs: int) -> float:
    """The best score ``state`` reached in its first ``epochs`` epochs (-inf before any)."""
    return max(state.scores[:epochs], default=float("-inf"))


def lead_needed(a: float, b: float, val_images: int | None, z: float) -> float:
    """How far accuracy ``a`` must be ahead of ``b``, both measured on the same ``val_images`` images, to count:
    ``z`` standard errors of their difference, taking the two models' errors as independent (an upper bound: models
    that fail on the same images differ less). 0 without a count (``None``) or with ``z`` 0."""
    if not val_images or z <= 0:
        return 0.0
    a, b = min(max(a, 0.0), 1.0), min(max(b, 0.0), 1.0)
    return z * math.sqrt((a * (1 - a) + b * (1 - b)) / val_images)


def equal_epoch_leader(trials: Mapping[int, TrialState], open_ids: Iterable[int], best_id: int | None, *,
                       val_images: int | None = None, z: float = 0.0) -> int | None:
    """The trial to finish among ``open_ids`` (started, not ended, not at the end of their schedule): the best
    observed trial ``best_id``, unless an open trial that trained fewer epochs than it scored higher than it did
    within that trial's own epoch count, by more than :func:`lead_needed` (``z`` standard errors on ``val_images``
    validation images: a lead of one image on a small split is noise); then the one ahead by the most (ties: the
    lowest id). None when the best observed trial is not open (finished, or ended) and no open trial is ahead of
    it, or before any score."""
    if best_id is None or best_id not in trials:
        return None
    open_ids = sorted(set(open_ids))
    lead = trials[best_id]
    pick, margin = (best_id if best_id in open_ids else None), 0.0
    for tid in open_ids:
        st = trials[tid]
        if tid == best_id or not 0 < st.epochs < lead.epochs:
            continue
        mine, theirs = best_within(st, st.epochs), best_within(lead, st.epochs)
        ahead = mine - theirs
        if ahead > margin and ahead > lead_needed(mine, theirs, val_images, z):
            pick, margin = tid, ahead
    return pick
