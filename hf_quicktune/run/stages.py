"""The stages before the search, as thin adapters over their APIs: the dataset, the zero-cost ranking
(cached in ``ranking.json``) and the timed cost prior (``--estimate-cost``, on by default)."""

from __future__ import annotations

from typing import Any

from hf_quicktune import faults
from hf_quicktune.run.settings import RunSettings
from hf_quicktune.run.state import RunState

#: images per batch of the zero-cost ranking's forward passes (rank's default)
RANK_BATCH = 64
#: the share of a --budget the ranking's forward passes may take: past it, they score fewer images (at least
#: 32). Six offline candidates at their native resolution scored 256 digits images in 50 s of a 2-minute CPU
#: budget, which left one epoch of training; with a budget of hours the ranking is never reduced
RANK_SHARE = 0.15


def load_dataset(settings: RunSettings, reporter=None):
    """The run's dataset (of a dataset in many files, enough of them for ``--train-limit`` / ``--eval-limit``);
    ``reporter.progress`` (when given) hears the image check's progress."""
    from hf_quicktune.data import load
    from hf_quicktune.data.options import load_kwargs

    shown = getattr(reporter, "progress", None)
    return load(str(settings.dataset), seed=settings.seed, progress=shown, train_limit=settings.train_limit,
                eval_limit=settings.eval_limit, **load_kwargs(settings.to_dict()))


def end_eval_share(settings: RunSettings, dataset) -> float:
    """Test images the run's end evaluates per validation image of an epoch (``--eval-limit`` caps both; 0
    without a test split): the evaluation part of the end's reserve (:attr:`Budget.test_share`)."""
    def size(split) -> int:
        return 0 if split is None else min(len(split), settings.eval_limit or len(split))

    return size(dataset.test) / max(1, size(dataset.splits["validation"]))


def rank_candidates(settings: RunSettings, state: RunState, dataset, candidates, reporter) -> dict[str, Any]:
    """Zero-cost scores of every candidate (cached in ranking.json); keeps the top-k."""
    cached = state.load_json(state.ranking_path)
    if cached is not None:
        return cached
    names = [c.name for c in candidates]
    if len(candidates) <= 1:
        ranking: dict[str, Any] = {"table": {n: {} for n in names}, "order": names, "scores": []}
    else:
        from hf_quicktune.rank import rank

        reporter.message(f"ranking {len(candidates)} candidates without training ({', '.join(settings.scores)})")
        faults.point("rank")
        shown = getattr(reporter, "progress", None)
        budget = settings.budget_s
        result = rank(dataset, candidates, scores=tuple(settings.scores), n=settings.rank_samples,
                      image_size=settings.image_size, batch_size=RANK_BATCH,
                      seconds=None if budget is None else RANK_SHARE * budget,
                      progress=None if shown is None else lambda task, done, total: shown(
                          f"ranking: {task}", done, total, images=min(done * RANK_BATCH, settings.rank_samples)))
        ranking = result.to_dict()  # NaN (score not applicable) -> None
        if result.info.get("sample_reduced_from"):
            reporter.message(f"ranked on {result.n} of {result.info['sample_reduced_from']} images: the forward "
                             f"passes of all of them would take more than {100 * RANK_SHARE:.0f} % of the --budget")
        unscored = result.info.get("unscored")
        if unscored:
            reporter.message(f"not scored: {', '.join(unscored)}: their forward passes, even on two images per class, "
                             f"would overrun the ranking's {100 * RANK_SHARE:.0f} % of the --budget; ranked after the "
                             "scored candidates (the search still tries those kept by --top-k)")
    from hf_quicktune.rank import keep_top_k  # top-k pretrained + every random-init baseline (rank.result)

    ranking["kept"] = keep_top_k(ranking["order"], settings.top_k, ranking.get("baselines", ()))
    faults.point("rank.save")
    state.save_json(state.ranking_path, ranking)
    return ranking


def cost_timings(settings: RunSettings, state: RunState, names: list[str], candidates, dataset, reporter
                 ) -> dict[str, dict[str, Any]] | None:
    """Timed training steps of the kept candidates (``--estimate-cost``, on by default; ``cost_timings.json``),
    or None when turned off."""
    if not settings.estimate_cost:
        return None
    from hf_quicktune.run.cost_prior import load_or_time
    from hf_quicktune.run.search_setup import freezing_levels

    kept = [n for n in names if n in candidates]
    if not (state.dir / "cost_timings.json").exists():
        reporter.message(f"timing training steps of {len(kept)} candidate{'s' if len(kept) != 1 else ''} for the "
                         "cost model (--no-estimate-cost skips it)")
    levels = freezing_levels(settings)
    return load_or_time(state, [{"model": n, "pct_to_freeze": p} for n in kept for p in levels], candidates,
                        dataset.num_classes, settings.image_size, seed=settings.seed)


def cost_prior(settings: RunSettings, state: RunState, pool, candidates, dataset, train_size: int, timed):
    """Per-pool-member seconds-per-epoch predictions from ``timed`` (:func:`cost_timings`), or None."""
    if timed is None:
        return None
    from hf_quicktune.run.cost_prior import load_or_compute

    return load_or_compute(state, pool, candidates, dataset.num_classes, train_size, settings.image_size,
                           seed=settings.seed, timed=timed)
