"""Meta-training the Quick-Tune prior (Arango et al., ICLR 2024, §4.4 and App. B).

* **Dataset-level splits**: the meta-dataset's datasets are shuffled (seeded) into train /
  validation / held-out test groups (default 60/20/20 %). Gradient steps see only train
  datasets; validation datasets drive early stopping and model selection; the test datasets
  give one final held-out loss that nothing is selected on.
* **Batches**: each step draws one train dataset, ``batch_size`` (32) of its runs and, per run,
  a random budget ``b`` in ``[1, length]``; the target is the accuracy at ``b``, the input curve
  epochs ``1 .. k``: ``k = b - 1`` (the paper's one-epoch-ahead pairs) or, with probability
  ``extrapolate``, ``k`` uniform in ``[0, b - 1]`` so the surrogate also learns to predict several
  epochs ahead (down to the configuration alone), which the optimizer's ``horizon="max"`` queries. The surrogate minimises the GP's negative marginal log-likelihood, the
  cost model the MSE of log seconds of epoch ``b``. Adam with a cosine schedule.
* **Validation** (every ``val_every`` steps): fixed seeded episodes on validation datasets —
  condition the GP on ``batch_size`` points of a dataset, predict ``batch_size`` others (MSE);
  the best weights are kept, training stops after ``patience`` evaluations without improvement.

The encoder's scalers (dataset meta-features) are fitted on the *train* datasets and saved with
the prior, so search-time inputs are scaled exactly as at meta-training.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from hf_quicktune.errors import MetaError
from hf_quicktune.meta.format import MetaDataset

logger = logging.getLogger(__name__)

#: one fixed evaluation episode: ((context inputs, y, cost), (query inputs, y, cost))
Episode = tuple[tuple[Any, np.ndarray, np.ndarray], tuple[Any, np.ndarray, np.ndarray]]


#: horizons (epochs; the meta-dataset's longest run is added) for zero-shot trees that know the run's schedule, an
#: ablation (``MetaTrainConfig.zero_shot_horizons``): a run fits --max-epochs to its budget, a handful of epochs on a
#: small one, and the best configuration after 50 epochs need not be the best after 3. Measured leave-datasets-out
#: (benchmarks/zero_shot_horizon.py) they rank a held-out dataset's runs better at 1-2 epochs (Spearman 0.40 / 0.61
#: vs 0.23 / 0.55) but their single pick is no better from 2 epochs on (regret 0.317 / 0.278 / 0.249 vs 0.335 /
#: 0.278 / 0.247 at 2 / 3 / 5 epochs) and worse at 50 (0.113 vs 0.095): the default trees predict over the whole curve.
HORIZONS = (1, 2, 3, 4, 6, 8, 12, 17, 25, 35)


@dataclass
class MetaTrainConfig:
    steps: int = 2000
    batch_size: int = 32
    lr: float = 1e-3
    min_lr: float = 1e-7
    val_every: int = 50
    val_episodes: int = 20
    patience: int = 8
    split: tuple[float, float, float] = (0.6, 0.2, 0.2)
    hidden: int = 32
    out_dim: int = 32
    seed: int = 0
    train_cost_model: bool = True
    extrapolate: float = 0.5
    mean: str = "mlp"
    mean_weight: float = 10.0
    mean_centered: bool = True
    final: float = 0.5
    model_encoding: str = "auto"  # descriptors (transfer to unseen models) | onehot (the paper) | auto
    fidelity_threshold: float = 0.8  # initial_epochs = first epoch ranking final accuracy this well
    zero_shot_trees: bool = True  # fit the configuration-only start (search/zero_shot.py) on the runs' best accuracy
    # the trees' horizons (epochs, e.g. HORIZONS: an ablation); None: each run's best accuracy over its whole curve
    zero_shot_horizons: tuple[int, ...] | None = None


@dataclass
class MetaTrainResult:
    prior: Any  # hf_quicktune.search.prior.Prior
    splits: dict[str, list[str]]
    best_step: int
    val_mse: float
    test_mse: float | None
    baseline_test_mse: float | None  # MSE of predicting the conditioning points' mean (a yardstick)
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def split_datasets(datasets: list[str], fractions: tuple[float, float, float], seed: int) -> dict[str, list[str]]:
    """Seeded dataset-level split; every group non-empty when there are >= 3 datasets."""
    if len(datasets) < 2:
        raise MetaError(
            f"meta-training needs at least 2 datasets (train + validation), the meta-dataset has {len(datasets)}"
        )
    order = [str(d) for d in np.random.default_rng(seed).permutation(sorted(datasets))]
    n = len(order)
    n_test = int(round(fractions[2] * n)) if n >= 3 else 0
    n_val = max(1, int(round(fractions[1] * n)))
    if n >= 3:
        n_test = max(1, n_test)
    n_train = n - n_val - n_test
    if n_train < 1:
        n_test = max(0, n_test - 1) if n_test > 1 else n_test
        n_train = n - n_val - n_test
    return {"train": order[:n_train], "val": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}


class _Sampler:
    """Draws (dataset, runs, budgets) batches and encodes them with the prior's encoder."""

    def __init__(self, md: MetaDataset, encoder: Any, datasets: list[str], batch_size: int, extrapolate: float = 0.0,
                 final: float = 0.0):
        self.md, self.encoder, self.batch_size = md, encoder, batch_size
        self.extrapolate, self.final = float(extrapolate), float(final)
        self.datasets = datasets
        self.index = {d: md.indices(d) for d in datasets}
        self.lengths = md.lengths
        self.meta = {d: {k: float(v) for k, v in md.meta_features.loc[d].items()} for d in datasets}
        self.model_features = md.model_feature_rows() or None
        self.encoded: dict[str, np.ndarray] = {}

    def _pool(self, i: int) -> dict[str, Any]:
        cfg = dict(self.md.configs[i])
        if self.md.models[i] is not None:
            cfg[self.encoder.model_key] = self.md.models[i]
        return cfg

    def draw(self, rng: np.random.Generator, dataset: str | None = None, n: int | None = None):
        """(inputs, accuracies, seconds) of ``n`` random (run, budget) points of one dataset."""
        dataset = dataset or self.datasets[int(rng.integers(len(self.datasets)))]
        idx = self.index[dataset]
        n = n or self.batch_size
        runs = rng.choice(idx, size=n, replace=len(idx) < n)
        budgets = np.array([int(rng.integers(1, self.lengths[i] + 1)) for i in runs])
        if self.final > 0:
            budgets = np.where(rng.random(n) < self.final, self.lengths[runs], budgets)
        seen = budgets - 1
        if self.extrapolate > 0:
            far = rng.random(n) < self.extrapolate
            # a third of the far-ahead queries start from the configuration alone (what a new trial is
            # scored on), the rest from a random prefix
            k = np.array([0 if rng.random() < 1 / 3 else int(rng.integers(0, b)) for b in budgets])
            seen = np.where(far, k, seen)
        configs = [self._pool(i) for i in runs]
        curves = [self.md.curves[i, :k] for i, k in zip(runs, seen)]
        inputs = self.encoder.encode(configs, budgets.tolist(), curves, meta_features=self.meta[dataset],
                                     model_features=self.model_features)
        y = self.md.curves[runs, budgets - 1].astype(np.float32)
        c = self.md.costs[runs, budgets - 1].astype(np.float64)
        return inputs, y, c


MODEL_ENCODINGS = ("auto", "descriptors", "onehot")


def build_encoder(md: MetaDataset, train_datasets: list[str], space: Any = None,
                  model_encoding: str = "auto") -> Any:
    """The prior's :class:`~hf_quicktune.search.features.FeatureEncoder`: the space (given, else
    inferred from every configuration), the meta-feature scaler fitted on train, and the models
    either by their descriptors (``"descriptors"``: features every model has, so the prior informs
    the search for models it never saw; needs a meta-dataset with model features) or by identity
    (``"onehot"``: a learned embedding per meta-training model, the paper's encoding; unseen models
    share one "unknown" embedding). ``"auto"``: descriptors when the meta-dataset has model features."""
    from hf_quicktune.search.features import FeatureEncoder
    from hf_quicktune.search.space import Space

    if model_encoding not in MODEL_ENCODINGS:
        raise MetaError(f"model_encoding must be one of {MODEL_ENCODINGS}, got {model_encoding!r}")
    models = sorted({str(m) for m in md.models if m is not None})
    model_features = None
    if model_encoding == "auto":
        model_encoding = "descriptors" if md.model_feature_rows() else "onehot"
    if model_encoding == "descriptors" and models:
        rows = md.model_feature_rows()
        if not rows:
            raise MetaError("this meta-dataset has no model features (mf.* columns) to describe its models; re-import "
                            "it with this version, or meta-train with the one-hot model encoding")
        model_features = {m: rows[m] for m in models if m in rows}
        models = []
    if space is None:
        pool = []
        for cfg, m in zip(md.configs, md.models):
            c = dict(cfg)
            if m is not None:
                c["model"] = m
            pool.append(c)
        space = Space.from_pool(pool, name=str(md.info.get("source", "meta-dataset")))
    meta_rows = [{k: float(v) for k, v in md.meta_features.loc[d].items()} for d in train_datasets]
    return FeatureEncoder.fit(space, md.max_epochs, model_names=models, meta_features=meta_rows,
                              model_features=model_features)


def fidelity(md: MetaDataset, datasets: list[str], max_k: int = 10) -> dict[int, float]:
    """Mean over ``datasets`` of the Spearman correlation between the accuracy after epoch ``k`` and the
    final accuracy, over the runs that reached ``md.max_epochs`` (how well a new trial's first ``k``
    epochs rank configurations)."""
    from scipy.stats import spearmanr

    lengths = md.lengths
    out: dict[int, float] = {}
    for k in range(1, min(max_k, md.max_epochs) + 1):
        rs = []
        for d in datasets:
            idx = md.indices(d)
            idx = idx[lengths[idx] == md.max_epochs]
            if len(idx) >= 5:
                r = spearmanr(md.curves[idx, k - 1], md.curves[idx, md.max_epochs - 1]).statistic
                if np.isfinite(r):
                    rs.append(float(r))
        if rs:
            out[k] = float(np.mean(rs))
    return out


def choose_initial_epochs(table: dict[int, float], threshold: float) -> int:
    """The first ``k`` whose fidelity reaches ``threshold`` (else the most informative ``k`` measured)."""
    for k in sorted(table):
        if table[k] >= threshold:
            return k
    return max(table, key=lambda k: table[k]) if table else 1


def meta_train(
    md: MetaDataset,
    config: MetaTrainConfig | None = None,
    space: Any = None,
    splits: dict[str, list[str]] | None = None,
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
) -> MetaTrainResult:
    """Meta-train a surrogate and cost model on ``md``; returns the best prior (by validation MSE)."""
    import torch

    from hf_quicktune.search.prior import Prior

    config = config or MetaTrainConfig()
    t_start = time.perf_counter()
    splits = splits or split_datasets(md.dataset_names, config.split, config.seed)
    if not splits["train"] or not splits["val"]:
        raise MetaError("meta-training needs at least one train and one validation dataset")
    encoder = build_encoder(md, splits["train"], space, config.model_encoding)
    torch.manual_seed(config.seed)
    prior = Prior.create(encoder, hidden=config.hidden, out_dim=config.out_dim, seed=config.seed,
                         with_cost_model=config.train_cost_model, mean=config.mean)
    surrogate, cost_model = prior.surrogate, prior.cost_model
    rng = np.random.default_rng(config.seed)
    train = _Sampler(md, encoder, splits["train"], config.batch_size, config.extrapolate, config.final)
    val = _Sampler(md, encoder, splits["val"], config.batch_size, config.extrapolate, config.final)
    test = _Sampler(md, encoder, splits["test"], config.batch_size, config.extrapolate, config.final) if splits["test"] else None
    val_episodes = _episodes(val, config.val_episodes, config.batch_size, config.seed + 1)
    test_episodes = _episodes(test, config.val_episodes, config.batch_size, config.seed + 2) if test else []

    params = list(surrogate.parameters())
    opt = torch.optim.Adam(params, lr=config.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, config.steps), eta_min=config.min_lr)
    if cost_model is not None:
        all_costs = np.concatenate([md.costs[train.index[d]].ravel() for d in splits["train"]])
        all_costs = all_costs[np.isfinite(all_costs)]
        cost_model.log_offset.fill_(float(np.mean(np.log(np.maximum(all_costs, cost_model.min_seconds)))))
        c_opt = torch.optim.Adam([p for p in cost_model.parameters() if p.requires_grad], lr=config.lr)
        c_sched = torch.optim.lr_scheduler.CosineAnnealingLR(c_opt, T_max=max(1, config.steps), eta_min=config.min_lr)

    best: dict[str, Any] = {"mse": math.inf, "step": 0, "state": copy.deepcopy(surrogate.state_dict())}
    best_cost: dict[str, Any] = {"mse": math.inf, "state": copy.deepcopy(cost_model.state_dict()) if cost_model else None}
    history: list[dict[str, float]] = []
    bad = 0
    import gpytorch

    for step in range(1, config.steps + 1):
        inputs, y, c = train.draw(rng)
        opt.zero_grad()
        with gpytorch.settings.cholesky_jitter(1e-4):
            loss = surrogate.loss(inputs, torch.from_numpy(y),
                                  mean_weight=config.mean_weight if config.mean == "mlp" else 0.0,
                                  centered=config.mean_centered)
        loss.backward()
        opt.step()
        sched.step()
        if cost_model is not None:
            c_opt.zero_grad()
            c_loss = cost_model.loss(inputs, c)
            c_loss.backward()
            c_opt.step()
            c_sched.step()
        if step % config.val_every == 0 or step == config.steps:
            mse, cost_mse = _evaluate(surrogate, cost_model, val_episodes)
            rec = {"step": step, "train_nll": float(loss.detach()), "val_mse": mse, "val_cost_mse": cost_mse}
            history.append(rec)
            if progress is not None:
                progress(step, config.steps, rec)
            logger.info("meta-train step %d: val MSE %.5f, val log-cost MSE %.4f", step, mse, cost_mse)
            if mse < best["mse"] - 1e-7:
                best = {"mse": mse, "step": step, "state": copy.deepcopy(surrogate.state_dict())}
                bad = 0
            else:
                bad += 1
            if cost_model is not None and cost_mse < best_cost["mse"]:
                best_cost = {"mse": cost_mse, "state": copy.deepcopy(cost_model.state_dict())}
            if bad >= config.patience:
                logger.info("early stopping at step %d (best %d)", step, best["step"])
                break
    surrogate.load_state_dict(best["state"])
    surrogate.mark_initial()
    if cost_model is not None:
        cost_model.load_state_dict(best_cost["state"])
        cost_model.mark_initial()
    test_mse = baseline = None
    if test_episodes:
        test_mse, _ = _evaluate(surrogate, cost_model, test_episodes)
        baseline = float(np.mean([np.mean((ys - yc.mean()) ** 2) for (_, yc, _), (_, ys, _) in test_episodes]))
    if config.zero_shot_trees:
        prior.zero_shot = fit_zero_shot(md, encoder, splits["train"] + splits["val"], config.seed,
                                        config.zero_shot_horizons)
    seconds = time.perf_counter() - t_start
    table = fidelity(md, splits["train"] + splits["val"])
    prior.provenance = {
        "fidelity": {str(k): round(v, 4) for k, v in table.items()},
        "initial_epochs": choose_initial_epochs(table, config.fidelity_threshold),
        "source": md.info.get("source"),
        "splits": splits,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
        "best_step": best["step"],
        "val_mse": best["mse"],
        "test_mse": test_mse,
        "meta_train_seconds": round(seconds, 1),
        "runs": int(md.n_runs),
    }
    return MetaTrainResult(prior, splits, best["step"], best["mse"], test_mse, baseline, history, seconds)


def fit_zero_shot(md: MetaDataset, encoder: Any, datasets: list[str], seed: int = 0,
                  horizons: tuple[int, ...] | None = None) -> Any:
    """:class:`~hf_quicktune.search.zero_shot.TreeEnsemble` predicting a run's best accuracy within its first
    ``h`` epochs from its configuration, model and dataset, encoded as the prior encodes them, and ``h`` (every run
    of ``datasets`` that has a score, once per horizon of ``horizons`` up to the meta-dataset's longest run; a run
    shorter than ``h`` counts the epochs it has, so a one-epoch failure stays one at every horizon). ``horizons``
    None (the default): one row per run, its best accuracy over all its epochs. None when fewer than two runs have a
    score."""
    from hf_quicktune.search.zero_shot import TreeEnsemble

    hs = [None] if horizons is None else [h for h in horizons if h < md.max_epochs] + [md.max_epochs]
    xs, ys, scored = [], [], 0
    for d in datasets:
        idx = md.indices(d)
        x = zero_shot_inputs(md, encoder, idx, d)
        curves = md.curves[idx]
        scored += int(np.isfinite(curves).any(axis=1).sum())
        for h in hs:
            best = np.max(np.where(np.isfinite(curves[:, :h]), curves[:, :h], -np.inf), axis=1)  # -inf: no score
            xs.append(x if h is None else np.hstack([x, np.full((len(x), 1), float(h))]))
            ys.append(best)
    if scored < 2:  # nothing to learn from: the prior starts from its surrogate's mean
        return None
    x, y = np.vstack(xs), np.concatenate(ys)
    keep = np.isfinite(y)
    return TreeEnsemble.fit(x[keep], y[keep], seed=seed, horizon=horizons is not None)


def zero_shot_inputs(md: MetaDataset, encoder: Any, idx: np.ndarray, dataset: str) -> np.ndarray:
    """The zero-shot trees' inputs of runs ``idx`` of ``dataset`` (without the horizon column)."""
    from hf_quicktune.search.zero_shot import zero_shot_features

    sampler = _Sampler(md, encoder, [dataset], batch_size=1)  # the runs encoded as meta-training encodes them
    inputs = encoder.encode([sampler._pool(i) for i in idx], [encoder.max_epochs] * len(idx), [[] for _ in idx],
                            meta_features=sampler.meta[dataset], model_features=sampler.model_features)
    return zero_shot_features(inputs)


def _episodes(sampler: _Sampler | None, n: int, k: int, seed: int) -> list[Episode]:
    """Fixed (context, query) pairs: ((ctx inputs, ctx y, ctx cost), (query inputs, query y, query cost))."""
    if sampler is None:
        return []
    rng = np.random.default_rng(seed)
    eps: list[Episode] = []
    for j in range(n):
        d = sampler.datasets[j % len(sampler.datasets)]
        inputs, y, c = sampler.draw(rng, dataset=d, n=2 * k)
        eps.append(((inputs[:k], y[:k], c[:k]), (inputs[k:], y[k:], c[k:])))
    return eps


def _evaluate(surrogate: Any, cost_model: Any, episodes: list[Episode]) -> tuple[float, float]:
    """Mean query MSE of the GP conditioned on each episode's context; log-cost MSE of the cost model."""
    import torch

    mses, cmses = [], []
    saved = surrogate._train
    for (xc, yc, _), (xq, yq, cq) in episodes:
        surrogate.condition(xc, yc)
        mean, _ = surrogate.predict(xq)
        mses.append(float(np.mean((mean - yq) ** 2)))
        if cost_model is not None:
            with torch.no_grad():
                pred = cost_model.predict(xq)
            cmses.append(float(np.mean((np.log(pred) - np.log(np.maximum(cq, cost_model.min_seconds))) ** 2)))
    if saved is None:
        surrogate.clear_condition()
    else:
        surrogate.condition(*saved)
    return float(np.mean(mses)), float(np.mean(cmses)) if cmses else float("nan")
