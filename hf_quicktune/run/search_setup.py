"""Setting up the search of a run: the prior, the candidates' model features, the pool and the optimizer.

* **Prior**: ``--prior`` resolved by :func:`hf_quicktune.meta.priors.resolve_prior` (``default`` = the
  prior shipped in the package, meta-learned on real fine-tuning curves; ``none``; a folder; a Hub id).
* **Model features**: every candidate's :mod:`~hf_quicktune.zoo.descriptors` (at the run's image size)
  plus its zero-cost scores; a prior reads the features it was meta-trained with, a search without
  a prior uses all of them.
* **Pool** (Quick-Tune §4.3 scores a finite pool; the paper samples it at random): with a prior, half of
  the pool is the configurations the prior predicts best for this dataset (from ``POOL_OVERSAMPLE`` x
  pool-size seeded draws: :meth:`~hf_quicktune.search.quicktune.QuickTuneOptimizer.zero_shot_order`),
  the other half seeded draws, so the search can start from the prior's
  zero-shot choice and still explore; the zero-shot half (and so the first trial, pool member 0, the
  best predicted among the draws that cost no more than their median) is chosen among pretrained candidates, since the meta-dataset has no random-init
  model the prior could know. Without a prior, pool member 0 is the robust default
  (``hf_quicktune/meta/priors/robust_default.json``: per hyperparameter the value with the best mean
  normalised final accuracy on the extended meta-dataset) on the best-ranked candidate, and the search
  starts there instead of at a seed-dependent draw. A budget too small to search trains the by-hand member 0
  alone, so its pool is seeded draws behind it, with or without a prior (no zero-shot scoring).
* **Initial design**: pool member 1 is the configuration a practitioner would run by hand (the train
  engine's defaults: AdamW, lr 1e-3, cosine, batch 32, full fine-tuning) on the best-ranked pretrained
  candidate; the search tries members 0 and 1 before its acquisition takes over, so it never misses
  what a fine-tune with common defaults gets (it can lose only the budget spent elsewhere).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from hf_quicktune.run.settings import RunSettings, resolve_recipe_file
from hf_quicktune.run.state import RunState

logger = logging.getLogger(__name__)

POOL_OVERSAMPLE = 16
#: the schedule length the search space's epoch-valued hyperparameters are written for (Quick-Tune's
#: search_space_v1 and its meta-dataset: 50 epochs)
SPACE_SCHEDULE_EPOCHS = 50
_EPOCH_VALUED = {"warmup_epochs": 0, "decay_epochs": 1, "patience_epochs": 1}  # name -> smallest value
ROBUST_DEFAULT = Path(__file__).resolve().parents[1] / "meta" / "priors" / "robust_default.json"
_NOT_MODEL_FEATURES = frozenset({"feature_seconds", "model_seconds", "score_seconds", "seconds", "cached"})


def zero_cost_features(ranking: dict[str, Any]) -> dict[str, dict[str, float]] | None:
    """Zero-cost scores of the kept candidates that every kept candidate has as a finite number (e.g. LEEP
    is undefined for scratch models); never timings such as ``feature_seconds`` (they describe the machine)."""

    def usable(key: str, value: Any) -> bool:
        return (key not in _NOT_MODEL_FEATURES and isinstance(value, int | float) and not isinstance(value, bool)
                and math.isfinite(value))

    rows = [ranking["table"].get(name, {}) for name in ranking["kept"]]
    common = set.intersection(*({k for k, v in r.items() if usable(k, v)} for r in rows)) if rows else set()
    if not common:
        return None
    return {name: {k: float(ranking["table"][name][k]) for k in sorted(common)} for name in ranking["kept"]}


def model_features(ranking: dict[str, Any], candidates: dict[str, Any], image_size: int | None,
                   scores: bool = True) -> dict[str, dict[str, float]] | None:
    """Descriptors + (``scores``) zero-cost scores of the kept candidates (the optimizer's model features;
    a prior keeps only the features it was meta-trained with)."""
    from hf_quicktune.zoo.descriptors import describe_candidate

    zc = (zero_cost_features(ranking) or {}) if scores else {}
    out: dict[str, dict[str, float]] = {}
    for name in ranking["kept"]:
        row = {k: float(v) for k, v in describe_candidate(candidates[name], image_size).items() if v is not None} \
            if name in candidates else {}
        row.update(zc.get(name, {}))
        if row:
            out[name] = row
    return out or None


def load_prior(settings: RunSettings) -> tuple[Any, str | None]:
    """(Prior or None, the label the run records)."""
    from hf_quicktune.meta.priors import resolve_prior

    return resolve_prior(settings.prior)


def initial_epochs(settings: RunSettings, prior: Any) -> int:
    """``--initial-epochs`` when given, else the prior's learnt value, else 1 (the paper)."""
    if settings.initial_epochs is not None:
        return int(settings.initial_epochs)
    if prior is None:
        return 1
    from hf_quicktune.meta.priors import prior_initial_epochs

    return prior_initial_epochs(prior, settings.schedule_epochs)


def scale_schedule(config: dict[str, Any], max_epochs: int, reference: int = SPACE_SCHEDULE_EPOCHS) -> dict[str, Any]:
    """``config`` with its epoch-valued hyperparameters (warm-up, decay step, plateau patience) scaled from
    the space's ``reference``-epoch schedule to this run's ``max_epochs`` (rounded; warm-up may become 0,
    the others stay >= 1). A 10-epoch warm-up is a fifth of the paper's 50-epoch runs; in a 10-epoch run
    it would be the whole run. The pool and the optimizer keep the space's values."""
    if max_epochs >= reference:
        return dict(config)
    out = dict(config)
    for name, low in _EPOCH_VALUED.items():
        if out.get(name) is not None:
            out[name] = max(low, int(round(float(out[name]) * max_epochs / reference)))
    return out


def fit_batch_sizes(space, train_size: int):
    """Drop batch sizes above a quarter of the images trained per epoch (fewer than 4 steps an epoch)."""
    if "batch_size" not in space or space.hps["batch_size"].type not in ("categorical", "ordinal"):
        return space
    choices = sorted(space.hps["batch_size"].choices)
    keep = [b for b in choices if b <= max(train_size // 4, choices[0])]
    if len(keep) < len(choices):
        logger.info("batch sizes %s dropped: above a quarter of the %d training images per epoch",
                    [b for b in choices if b not in keep], train_size)
        space = space.with_choices("batch_size", keep)
    return space


def fit_into_space(space, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with each numeric value outside its hyperparameter's choices moved to the nearest choice (on a
    log scale) and inactive conditionals set to None."""
    config = dict(config)
    for name, hp in space.hps.items():
        value = config.get(name)
        choices = getattr(hp, "choices", None)
        if value is None or not choices or value in choices:
            continue
        numeric = [c for c in choices if isinstance(c, int | float) and not isinstance(c, bool)]
        if numeric and isinstance(value, int | float):
            config[name] = min(numeric, key=lambda c: abs(math.log(max(c, 1e-12)) - math.log(max(value, 1e-12))))
    for name in space.names:
        if name in config and not space.is_active(name, config):
            config[name] = None
    return config


def robust_default(space, model: str) -> dict[str, Any] | None:
    """The shipped robust default configuration on ``model``, fitted into ``space``; None when the file is missing."""
    if not ROBUST_DEFAULT.is_file():
        return None
    return fit_into_space(space, dict(json.loads(ROBUST_DEFAULT.read_text())["config"], model=model))


def common_default(space, model: str) -> dict[str, Any]:
    """What a practitioner runs by hand, fitted into ``space``: the train engine's documented defaults
    (``hf_quicktune.train.config.DEFAULTS``: AdamW, lr 1e-3, cosine, batch 32, weight decay 1e-4, full
    fine-tuning, no augmentation or mixing)."""
    from hf_quicktune.train.config import DEFAULTS

    return fit_into_space(space, {**{n: DEFAULTS.get(n) for n in space.names}, "model": model})


def freezing_levels(settings: RunSettings) -> list[float]:
    """The ``pct_to_freeze`` values of the run's search space (and 0: every layer trained)."""
    from hf_quicktune.search.space import Space

    space = Space.from_yaml(str(resolve_recipe_file(settings.space, "search space")))
    hp = space.hps.get("pct_to_freeze")
    values = [float(v) for v in getattr(hp, "choices", None) or [] if isinstance(v, int | float)]
    return sorted({0.0, *values})


def build_pool(settings: RunSettings, state: RunState, names: list[str], train_size: int, *, prior: Any,
               meta: dict[str, float], features: dict[str, dict[str, float]] | None,
               scratch: set[str] | frozenset[str] = frozenset(), timed: dict[str, dict[str, Any]] | None = None,
               candidates: dict[str, Any] | None = None, by_hand_first: bool = False) -> list[dict[str, Any]]:
    """The run's candidate pool (saved in ``pool.json``; a resumed run reuses it). See the module docstring.
    ``timed``: the candidates' timed training steps (:func:`hf_quicktune.run.cost_prior.time_models`): the
    zero-shot choice then weighs the draws' costs by them instead of by the prior's cost model.
    ``by_hand_first``: the by-hand configuration is member 0 (a budget too small to search,
    :mod:`~hf_quicktune.run.schedule`); the rest are seeded draws, since such a run trains member 0 only
    (the prior's zero-shot scoring of ``POOL_OVERSAMPLE`` x pool-size draws would be paid from its budget)."""
    pool = state.load_json(state.pool_path)
    if pool is not None:
        return pool
    from hf_quicktune.run.pool import repair_scratch_configs
    from hf_quicktune.search.space import Space

    space = Space.from_yaml(str(resolve_recipe_file(settings.space, "search space")))
    space = fit_batch_sizes(space.with_choices("model", names), train_size)
    n = settings.pool_size
    first = next((m for m in names if m not in scratch), names[0]) if names else None
    if prior is None or by_hand_first:  # a run that does not search never asks past member 0: no zero-shot scoring
        pool = repair_scratch_configs(space.sample(n, seed=settings.seed), scratch)
        default = robust_default(space, first) if first else None
        if default is not None:
            default = repair_scratch_configs([default], scratch)[0]
            pool = [default] + [c for c in pool if c != default][: n - 1]
    else:
        from hf_quicktune.search.quicktune import QuickTuneOptimizer

        draws = repair_scratch_configs(space.sample(n * POOL_OVERSAMPLE, seed=settings.seed), scratch)
        costs = None
        if timed and candidates:
            from hf_quicktune.run.cost_prior import epoch_seconds
            from hf_quicktune.search.cost import CostPrior

            costs = CostPrior.from_pool(draws, epoch_seconds(draws, candidates, 0, train_size, settings.image_size,
                                                             timed=timed))
        scorer = _with_prior_fix(lambda: QuickTuneOptimizer(
            draws, max_epochs=settings.schedule_epochs, prior=prior, meta_features=meta, model_features=features,
            seed=settings.seed, acquisition=settings.acquisition, cost_prior=costs,
            initial_epochs=initial_epochs(settings, prior)), settings)
        predicted = scorer.zero_shot(range(len(draws)))
        # the meta-dataset holds only pretrained models: the prior has no knowledge of random-init
        # candidates, so its zero-shot choices are made among the pretrained ones (when there are any)
        eligible = [i for i in range(len(draws)) if draws[i].get("model") not in scratch] or list(range(len(draws)))
        order = scorer.zero_shot_order(eligible)
        top = order[: max(1, n // 2)]
        rest = [i for i in range(len(draws)) if i not in set(top)][: n - len(top)]
        pool = [draws[i] for i in top + rest]
        logger.info("pool: %d configurations the prior predicts best (first: %.3f) + %d seeded draws",
                    len(top), float(predicted[top[0]]), len(rest))
    if first:  # pool member 1: the configuration a practitioner would run by hand (tried second)
        by_hand = repair_scratch_configs([common_default(space, first)], scratch)[0]
        rest = [c for c in pool if c != by_hand]
        # --pool-size 1 keeps member 0 alone (the prior's choice, or the robust default, or by_hand_first's)
        head = [] if by_hand_first or pool[:1] == [by_hand] else pool[:1]
        pool = (head + [by_hand] + [c for c in rest if c not in head])[:n]
    pool = [dict(c) for c in pool]
    state.save_json(state.pool_path, pool)
    return pool


def make_optimizer(settings: RunSettings, pool, *, prior: Any, meta: dict[str, float],
                   features: dict[str, dict[str, float]] | None, num_classes: int | None = None, cost_prior=None,
                   search: bool = True, chance: float | None = None):
    """The run's :class:`~hf_quicktune.search.quicktune.QuickTuneOptimizer`. Trials that do not beat
    chance (``chance``: the run's metric under uniform guessing, :func:`~hf_quicktune.run.outcome.majority_baseline`;
    default 1 / classes, top-1's and balanced accuracy's; plus one point) after their first epochs are not continued.
    Its initial design is pool members 0 and 1; only member 0 (the by-hand configuration) when ``search`` is off (a
    budget too small to search: the loop then finishes that trial's schedule)."""
    from hf_quicktune.search.quicktune import QuickTuneOptimizer

    if chance is None and num_classes:
        chance = 1.0 / num_classes
    floor = chance + 0.01 if chance is not None else None
    trained = getattr(getattr(getattr(prior, "surrogate", None), "encoder", None), "max_epochs", None)
    if trained is not None and trained != settings.schedule_epochs:  # said once (the pool's scorer is quiet)
        logger.info("the prior was meta-trained with max_epochs=%d, this search uses %d; budgets are scaled by "
                    "the prior's", trained, settings.schedule_epochs)
    return _with_prior_fix(lambda: QuickTuneOptimizer(
        pool, max_epochs=settings.schedule_epochs, prior=prior, meta_features=meta, model_features=features,
        seed=settings.seed, cost_prior=cost_prior, acquisition=settings.acquisition, horizon=settings.horizon,
        initial_epochs=initial_epochs(settings, prior), start="first", score_floor=floor,
        initial_design=[0, 1] if search else [0]),
        settings)


def _with_prior_fix(build, settings: RunSettings):
    """``build()``; a pool that does not fit the prior's space (a custom ``--space``) says what to do."""
    from hf_quicktune.errors import SpaceError

    try:
        return build()
    except SpaceError as err:
        if settings.prior is None or str(settings.prior).lower() in ("none", ""):
            raise
        raise SpaceError(f"{err.message} The prior ({settings.prior}) was meta-trained on another search space "
                         f"than --space {settings.space}.", input=settings.space,
                         fix="Pass --prior none to search this space without a prior, or meta-train a prior on it "
                             "(`hf-quicktune meta train --space ...`).") from None
