"""``rank(dataset, candidates)``: score every candidate from one forward pass, without training."""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from hf_quicktune.errors import ConfigError, DatasetError, QuickTuneError
from hf_quicktune.rank.ensemble import mean_rank_ensemble
from hf_quicktune.rank.features import candidate_features, image_loader, is_cached
from hf_quicktune.rank.result import RankResult
from hf_quicktune.rank.sampling import stratified_sample
from hf_quicktune.rank.scores import FEATURE_SCORES, LOGIT_SCORES, SCORES
from hf_quicktune.rank.timed_sample import (
    FeatureRows,
    TimedSample,
    merge_features,
    remember_sample,
    remembered_sample,
)

if TYPE_CHECKING:  # pragma: no cover
    from hf_quicktune.data.types import PreparedDataset
    from hf_quicktune.zoo.candidate import Candidate

logger = logging.getLogger(__name__)

DEFAULT_SCORES = ("lfc", "logme", "knn")
#: a ranking's load (``data.load(train_limit=n, eval_limit=n, cut_rows_over=...)``) keeps every row of a split
#: holding up to this many times the 1.5 n images it needs: checking them costs seconds where the features cost tens,
#: and a later run without limits then loads the same rows and reads the ranking's features (session 45); a larger
#: split keeps a stratified part (ImageNet's 1.28 million images are not checked for a ranking of 300)
LOAD_ROWS_OVER = 20.0

#: ``progress(task, completed, total)``; ``task`` is a candidate name (features) or "name · lgc"
ProgressFn = Callable[[str, int, int], None]


def parse_scores(scores: str | Iterable[str]) -> list[str]:
    """Validate score names ("lfc,logme" or a list); raise ConfigError naming the valid ones."""
    names = [
        s.strip().lower() for s in (scores.split(",") if isinstance(scores, str) else scores) if s.strip()
    ]
    unknown = [s for s in names if s not in SCORES]
    if unknown or not names:
        raise ConfigError(
            f"unknown score(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(SCORES)} "
            "(e.g. --scores lfc,logme,knn)."
        )
    return list(dict.fromkeys(names))


def _resolve(candidates: Sequence[Candidate | str]) -> list[Candidate]:
    from hf_quicktune.zoo import get_candidate

    out = [get_candidate(c) if isinstance(c, str) else c for c in candidates]
    if not out:
        raise ConfigError(
            "no candidates to rank; pass a zoo with at least one model (see `hf-quicktune zoo`)."
        )
    names = [c.name for c in out]
    if len(set(names)) != len(names):
        raise ConfigError(
            f"duplicate candidate names in the zoo: {sorted({n for n in names if names.count(n) > 1})}."
        )
    return out


def _model_factory(candidate: Candidate, seed: int, image_size: int | None):
    def build():
        import torch

        from hf_quicktune.zoo import create_model

        torch.manual_seed(seed)  # random-init baselines are reproducible (and cache-keyed by seed)
        return create_model(candidate, num_classes=None, image_size=image_size)

    return build


def rank(
    dataset: PreparedDataset,
    candidates: Sequence[Candidate | str],
    *,
    scores: str | Iterable[str] = DEFAULT_SCORES,
    n: int = 1000,
    image_size: int | None = None,
    batch_size: int = 64,
    cache: bool = True,
    seed: int = 0,
    accelerator=None,
    progress: ProgressFn | None = None,
    lgc_dim: int = 1024,
    linpred_steps: int = 100,
    linpred_samples: int = 128,
    seconds: float | None = None,
) -> RankResult:
    """Rank ``candidates`` on ``dataset`` by zero-training scores (higher is better for all).

    Features are extracted on a stratified sample of ``n`` training images (all of them when
    the split is smaller) with each candidate's eval preprocessing (``image_size`` overrides
    its input size) and cached on disk. ``scores`` from :data:`hf_quicktune.rank.scores.SCORES`;
    LEEP/NCE apply only to candidates that keep a pretrained source head (NaN otherwise); LGC
    needs a second, gradient pass; ``linpred`` (slow-ish) is minus the training loss the linearized
    model predicts after ``linpred_steps`` SGD steps of linear probing, from the NTK on
    ``min(n, linpred_samples)`` of the sampled images (:mod:`hf_quicktune.rank.scores.linpred`).
    ``table[c]["ensemble"]`` is the mean normalised rank over the
    requested scores (see :mod:`hf_quicktune.rank.ensemble`). A candidate that cannot be loaded
    is skipped with a warning (listed in ``info["errors"]``) unless every candidate fails. ``seconds``
    limits the forward passes: the first candidate computed runs on a small stratified subset first, which prices
    them all, then on the images the limit affords; the sample shrinks further as they go when the candidates left
    would overrun it (:class:`~hf_quicktune.rank.timed_sample.TimedSample`; ``info["sample_reduced_from"]`` then
    says from how many images); the same draw ranked again under a limit no more than 10 % larger starts from the
    images that ranking kept (:func:`~hf_quicktune.rank.timed_sample.remembered_sample`), whose features the cache
    holds (it serves any rows an earlier ranking computed, :mod:`~hf_quicktune.rank.feature_cache`). A candidate whose
    forward passes on the smallest sample would still overrun it (many classes: the sample keeps two images per
    class) is not scored: NaN scores, its priced forward seconds as ``feature_seconds``, listed in
    ``info["unscored"]``; pretrained candidates are extracted before random-init baselines, cheapest first.
    """
    from hf_quicktune.data.columns import column_values
    from hf_quicktune.data.transforms import build_transform

    score_names = parse_scores(scores)
    cands = _resolve(candidates)
    if n < 2:
        raise ConfigError(f"n must be at least 2 samples to compare features; got {n}.")
    labels_all = np.asarray(column_values(dataset.train, dataset.label_column))
    if len(np.unique(labels_all)) < 2:
        raise DatasetError(
            f"the training split of {dataset.name} has fewer than 2 classes; ranking needs labelled data "
            "with at least two classes."
        )
    indices = stratified_sample(labels_all, n, seed)
    from hf_quicktune.train.device import trial_accelerator

    errors: dict[str, str] = {}
    # (candidate, features, device, transform, factory) of each extracted candidate: no Accelerator is kept
    t_priced = time.perf_counter()
    weights = forward_weights(cands, image_size) if seconds is not None else [1.0] * len(cands)
    # pricing traces each candidate once per machine (kept on disk): time the limit pays like the forward passes
    drawn = indices
    if seconds is not None and cache:  # the images a rerun's earlier ranking under this limit settled on
        kept = remembered_sample(dataset.fingerprint, seed, image_size, drawn, seconds)
        if kept is not None:
            logger.info("ranking on the %d of %d images an earlier ranking within %.0fs kept (the features it "
                        "computed are read from the cache)", len(kept), len(drawn), seconds)
            indices = kept
    sample = TimedSample(indices, labels_all[indices], seconds, weights, seed, spent=time.perf_counter() - t_priced,
                         first=len(drawn))
    # a time limit extracts the cheapest pretrained candidates first, then the random-init baselines (kept by
    # `run --top-k` whatever their scores): the sample shrinks before an expensive one runs on all of it, and a
    # candidate left unscored when even the smallest sample cannot fit is a baseline or a costly one
    order = (sorted(range(len(cands)), key=lambda i: (cands[i].is_scratch, weights[i])) if seconds is not None
             else range(len(cands)))
    done: dict[int, tuple] = {}
    unscored: dict[str, float] = {}  # candidate -> its predicted forward seconds, past the time limit
    for i in order:
        cand = cands[i]
        transform = build_transform(cand.data_config(), train=False, image_size=image_size)
        left = None if seconds is None else seconds - sample.spent
        free = cache and seconds is not None and is_cached(cand, dataset.fingerprint, sample.indices, transform, seed)
        predicted = None if free else sample.overruns(weights[i])
        if predicted is not None:
            logger.info("not scoring %s: its forward passes on %d images (~%.1fs predicted) do not fit the %.1fs "
                        "left of the ranking's %.0fs; it is ranked after the scored candidates", cand.name,
                        len(sample.indices), predicted, left, seconds)
            unscored[cand.name] = predicted
            continue
        # without a caller's Accelerator, one per candidate on the process's Accelerate state: it alone
        # tracks the candidate's prepared model and loader, which go with it (none kept for the search)
        acc = accelerator if accelerator is not None else trial_accelerator()
        factory = _model_factory(cand, seed, image_size)
        began = time.perf_counter()
        # features of some of the sample's images; a probe and the rest of the sample share one built model
        features = functools.partial(candidate_features, dataset.train, dataset.fingerprint, cand,
                                     transform=transform, model_factory=functools.cache(factory), accelerator=acc,
                                     batch_size=batch_size, cache=cache, seed=seed, progress=progress)
        try:
            probed = None if free else sample.probe()
            if probed is None:
                fs = features(sample.indices)
            else:  # the first timed candidate: on a small subset first, then on what the limit affords
                fs = features(probed)
                sample.fit_to_probe(probed, fs, time.perf_counter() - began, weights[i])
                rest = np.setdiff1d(sample.indices, probed)
                if len(rest):
                    fs = merge_features(probed, fs, rest, features(rest))
        except QuickTuneError as err:
            logger.warning("skipping %s: %s", cand.name, err)
            errors[cand.name] = str(err)
            sample.done(None, time.perf_counter() - began, weights[i])
            continue
        done[i] = (cand, FeatureRows(fs, sample.indices), acc.device, transform, factory)
        del acc  # it holds the candidate's prepared model: one candidate's model in memory at a time
        sample.done(fs, time.perf_counter() - began, weights[i])
    extracted = [done[i] for i in sorted(done)]  # the candidates' own order from here on
    indices = sample.indices
    if seconds is not None and cache and len(indices) < len(drawn) and done:
        remember_sample(dataset.fingerprint, seed, image_size, drawn, seconds, indices)

    table: dict[str, dict[str, float]] = {}
    score_seconds: dict[str, dict[str, float]] = {}
    cached: dict[str, bool] = {}
    for cand, rows, device, transform, factory in extracted:
        fs = rows.on(indices)
        row: dict[str, float] = {}
        timings: dict[str, float] = {}
        source_head = fs.logits is not None and not cand.is_scratch
        for name in score_names:
            start = time.perf_counter()
            if name in FEATURE_SCORES:
                row[name] = FEATURE_SCORES[name](fs.features, fs.labels)
            elif name in LOGIT_SCORES:
                row[name] = LOGIT_SCORES[name](fs.logits, fs.labels) if source_head else math.nan
            elif name == "linpred":  # linearized-training prediction on a subsample (no training step)
                from hf_quicktune.rank.scores.linpred import linpred

                row[name] = linpred(dataset, cand, steps=linpred_steps, n=min(len(indices), linpred_samples),
                                    image_size=image_size, seed=seed)
            else:  # lgc: a second (gradient) pass; a model it cannot handle gets NaN, not a failed ranking
                try:
                    row[name] = _lgc(cand, factory, dataset, indices, transform, batch_size, seed, lgc_dim, device,
                                     progress)
                except QuickTuneError as err:
                    logger.warning("lgc of %s: %s", cand.name, err)
                    errors[f"{cand.name} (lgc)"] = str(err)
                    row[name] = math.nan
            timings[name] = time.perf_counter() - start
        row["feature_seconds"] = float(fs.seconds)
        row["model_seconds"] = float(fs.model_seconds)
        row["num_params"] = int(fs.num_params or cand.num_params or 0)
        table[cand.name] = row
        score_seconds[cand.name] = timings
        cached[cand.name] = fs.cached
        logger.info("%s: %s", cand.name, {k: round(v, 4) for k, v in row.items()})
    if not table:
        first = next(iter(errors.values()))  # every candidate failed to load
        raise QuickTuneError(f"no candidate could be ranked; the first failure was: {first}")
    ensemble = mean_rank_ensemble(table, score_names)
    for cand_name, value in ensemble.items():
        table[cand_name]["ensemble"] = value
    for cand in cands:  # unscored: NaN scores (last in every order), the forward seconds it was priced at
        if cand.name in unscored:
            table[cand.name] = {**{name: math.nan for name in score_names}, "ensemble": math.nan,
                                "feature_seconds": unscored[cand.name], "num_params": int(cand.num_params or 0)}
    table = {c.name: table[c.name] for c in cands if c.name in table}  # the candidates' own order
    return RankResult(
        table=table,
        scores=score_names,
        dataset=dataset.name,
        n=len(indices),
        info={
            "fingerprint": dataset.fingerprint,
            "image_size": image_size,
            "seed": seed,
            "score_seconds": score_seconds,
            "cached": cached,
            "errors": errors,
            "baselines": [c.name for c in cands if c.is_scratch and c.name in table],
            "twins": _twins([c for c in cands if c.name in table]),
            **({"sample_reduced_from": sample.first} if len(indices) < sample.first else {}),
            **({"unscored": {k: round(v, 2) for k, v in unscored.items()}} if unscored else {}),
        },
    )



def forward_weights(cands: Sequence[Candidate], image_size: int | None) -> list[float]:
    """Each candidate's forward cost per image relative to the others: the activations of its forward pass at the
    size it is ranked at (millions of elements its convolutions and matrix products write,
    :func:`~hf_quicktune.zoo.forward_cost.forward_cost`), which price a forward pass across families where FLOPs
    price it only within one (a depthwise network is bound by memory traffic; on 2 CPU cores the offline zoo's
    six candidates took 7.2-13.2 ms per million activations and image, and 14-154 ms per GFLOP:
    benchmarks/rank_time_limit.py). A candidate timm cannot count (a transformers model) gets its parameters x
    pixels at the counted candidates' median activations per unit of it, else the counted ones' median, else 1."""
    from hf_quicktune.zoo.descriptors import architecture_facts
    from hf_quicktune.zoo.forward_cost import candidate_cost

    def size_of(cand: Candidate) -> int:
        return int(image_size or (cand.input_size[-1] if cand.input_size else 224))

    def proxy(cand: Candidate) -> float:
        params = cand.num_params or 1e6 * float(architecture_facts(cand.architecture).get("params_m") or 0)
        return float(params) * size_of(cand) ** 2

    def counted(cand: Candidate) -> float | None:
        cost = candidate_cost(cand, image_size)
        return cost.activations_m if cost else None

    costs = [counted(c) for c in cands]
    known = [a for a in costs if a]
    per_proxy = [a / proxy(c) for a, c in zip(costs, cands) if a and proxy(c)]
    out = []
    for a, c in zip(costs, cands):
        if a:
            out.append(a)
        elif per_proxy and proxy(c):
            out.append(proxy(c) * float(np.median(per_proxy)))
        else:
            out.append(float(np.median(known)) if known else 1.0)
    return out


def _twins(cands: list[Candidate]) -> dict[str, list[str]]:
    """Random-init candidate -> the pretrained candidates of the same architecture (its twins)."""
    out = {}
    for c in cands:
        if c.is_scratch:
            twins = [p.name for p in cands if not p.is_scratch and p.architecture == c.architecture
                     and p.library == c.library]
            if twins:
                out[c.name] = twins
    return out


def _lgc(
    cand, factory, dataset, indices, transform, batch_size, seed, proj_dim, device, progress
) -> float:
    from hf_quicktune.rank.scores.lgc import lgc

    model = factory()
    loader = image_loader(dataset.train, indices, transform, max(1, min(batch_size, 32)))
    task = f"{cand.name} · lgc"
    return lgc(
        model,
        loader,
        proj_dim=proj_dim,
        seed=seed,
        device=device,
        progress=None if progress is None else (lambda done, total: progress(task, done, total)),
    )
