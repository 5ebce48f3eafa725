"""``estimate(dataset, candidate, config)``: predicted loss curve, steps/epochs and wall-clock.

Pipeline (Zancato et al. 2020): stratified subsample of n training images -> per-sample
Jacobians of the trainable parameters, count-sketched to k dims -> class-traced NTK ->
eigendecomposition rescaled to the full training set -> expected SGD loss curve
(:mod:`.dynamics`) -> steps / epochs to the target loss -> seconds, from a measured
seconds-per-step of the real model on this device.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hf_quicktune.errors import ConfigError

logger = logging.getLogger(__name__)

#: configurations whose training the linearized-SGD theory does not describe
OUTSIDE_THEORY_OPTS = ("adam", "adamw")
DEFAULT_MAX_EPOCHS = 100


@dataclass
class Estimate:
    """What :func:`estimate` predicts for one (dataset, candidate, configuration)."""

    candidate: str
    config: dict[str, Any]
    loss_name: str
    curve: Any  # dynamics.Curve
    num_train: int
    n: int
    num_params: int
    projected_dim: int | None
    target_loss: float | None = None
    epochs: float | None = None
    steps_to_target: int | None = None  # to target_loss, or (with ``within``) to within eps of the final loss
    within: float | None = None
    seconds_per_step: float | None = None
    estimation_seconds: float = 0.0
    ntk_seconds: float = 0.0  # the part of estimation_seconds shared by every lr/batch/momentum (no dynamics)
    warnings: list[str] = field(default_factory=list)
    spectrum: Any = None  # dynamics.Spectrum, reusable for other lr/batch/momentum (same model + strategy)
    halves: list[Any] = field(default_factory=list)  # n/2 sub-spectra for the finite-size correction
    #: how trained BatchNorm layers were linearized (:func:`estimate`'s ``norm_statistics``; None: none trains)
    norm_statistics: str | None = None

    @property
    def batch_size(self) -> int:
        return self.curve.batch_size

    @property
    def steps_per_epoch(self) -> float:
        return self.num_train / self.batch_size

    @property
    def epochs_to_target(self) -> float | None:
        return None if self.steps_to_target is None else self.steps_to_target / self.steps_per_epoch

    def loss_after(self, steps: int) -> float:
        """Predicted expected training loss after ``steps`` SGD steps."""
        return self.curve.loss_at(int(steps))

    def loss_after_epochs(self, epochs: float) -> float:
        return self.loss_after(int(math.ceil(epochs * self.steps_per_epoch)))

    @property
    def predicted_steps(self) -> int | None:
        """Steps the run takes: to the target loss (or within ``within`` of the final loss), or ``epochs`` worth."""
        if self.target_loss is not None or self.within is not None:
            return self.steps_to_target
        if self.epochs is not None:
            return int(math.ceil(self.epochs * self.steps_per_epoch))
        return None

    @property
    def predicted_seconds(self) -> float | None:
        steps = self.predicted_steps
        if steps is None or self.seconds_per_step is None:
            return None
        return steps * self.seconds_per_step

    @property
    def seconds_per_epoch(self) -> float | None:
        """Cost prior for the optimizer: predicted wall-clock of one epoch on this device."""
        return None if self.seconds_per_step is None else self.seconds_per_step * self.steps_per_epoch

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "config": self.config,
            "loss": self.loss_name,
            "num_train": self.num_train,
            "subsample": self.n,
            "trainable_params": self.num_params,
            "projected_dim": self.projected_dim,
            "norm_statistics": self.norm_statistics,
            "initial_loss": float(self.curve.loss[0]),
            "target_loss": self.target_loss,
            "within": self.within,
            "steps_to_target": self.steps_to_target,
            "epochs_to_target": self.epochs_to_target,
            "epochs": self.epochs,
            "loss_after_epochs": None if self.epochs is None else self.loss_after_epochs(self.epochs),
            "diverged": bool(self.curve.diverged),
            "seconds_per_step": self.seconds_per_step,
            "predicted_seconds": self.predicted_seconds,
            "estimation_seconds": self.estimation_seconds,
            "warnings": list(self.warnings),
        }


def _sgd_params(config: dict[str, Any]) -> tuple[float, int, float, list[str]]:
    warnings: list[str] = []
    try:
        lr = float(config["lr"])
        batch_size = int(config["batch_size"])
    except KeyError as err:
        raise ConfigError(f"the configuration has no {err.args[0]!r}; pass --lr and --batch-size.") from None
    if lr <= 0 or batch_size <= 0:
        raise ConfigError(f"lr and batch_size must be positive (got lr={lr}, batch_size={batch_size}).")
    opt = str(config.get("opt") or "sgd").lower()
    momentum = float(config.get("momentum") or 0.0)
    if not 0.0 <= momentum < 1.0:
        raise ConfigError(f"momentum must be in [0, 1), got {momentum}.")
    if opt in OUTSIDE_THEORY_OPTS:
        warnings.append(
            f"opt={opt}: Adam-type optimizers are outside the linearized-SGD theory (Zancato et al. 2020); "
            "the estimate treats the run as SGD with the same lr and momentum=beta1 and may be far off."
        )
        betas = config.get("opt_betas")
        momentum = float(betas[0]) if betas else 0.9
    if config.get("sched") not in (None, "none"):
        warnings.append(f"sched={config.get('sched')}: the learning-rate schedule is not modelled (constant lr).")
    if config.get("data_augmentation") not in (None, "none") or config.get("mixup") or config.get("cutmix"):
        warnings.append("strong data augmentation / mixup / cutmix is outside the theory; the estimate ignores it.")
    if config.get("weight_decay"):
        warnings.append("weight decay is not modelled.")
    return lr, batch_size, momentum, warnings


def load_subsample(dataset, candidate, n: int, image_size: int | None, seed: int = 0):
    """Stratified n training images as a (n, 3, H, W) tensor with deterministic eval transforms."""
    import torch

    from hf_quicktune.data.columns import column_values
    from hf_quicktune.data.decoding import decode_image, min_source_side, undecoded
    from hf_quicktune.data.sampling import stratified_sample
    from hf_quicktune.data.transforms import build_transform

    train = dataset.train
    idx = stratified_sample(np.asarray(column_values(train, dataset.label_column)), n, seed=seed)
    transform = build_transform(candidate.data_config(), train=False, image_size=image_size)
    subset = train.select(idx.tolist())
    raw = undecoded(subset, dataset.image_column)  # JPEGs decoded no larger than the transform needs
    side = min_source_side(transform) if raw is not None else None
    values = (subset if raw is None else raw)[dataset.image_column]
    images = torch.stack([transform(decode_image(v, side)) for v in values])
    labels = torch.as_tensor(subset[dataset.label_column], dtype=torch.long)
    return images, labels


def measure_seconds_per_step(model, trainable: list[str], batch_size: int, image_shape, num_classes: int,
                             repeats: int = 2, optimizer: str = "sgd", max_seconds: float | None = None) -> float:
    """Wall-clock of one real training step (train mode, forward + backward + update with ``optimizer``:
    ``sgd`` or ``adamw``) at this batch size, on the device the model is on (CUDA synchronised around it):
    the median of ``repeats`` after one that warms up, fewer once the steps so far took ``max_seconds``
    (at least one). The batch is in the model's memory layout (:mod:`~hf_quicktune.train.layout`)."""
    import torch
    import torch.nn.functional as F

    from hf_quicktune.train.layout import batch_layout, uses_channels_last

    device = next((p.device for p in model.parameters()), torch.device("cpu"))

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    names = set(trainable)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    params = [p for name, p in model.named_parameters() if name in names]
    for name, p in model.named_parameters():
        p.requires_grad_(name in names)
    opt = torch.optim.AdamW(params, lr=1e-8) if optimizer == "adamw" else torch.optim.SGD(params, lr=1e-8)
    x = batch_layout(torch.randn(batch_size, *image_shape, device=device), uses_channels_last(model))
    y = torch.randint(0, num_classes, (batch_size,), device=device)
    model.train()
    times: list[float] = []
    spent = 0.0
    try:
        for i in range(repeats + 1):
            sync()
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()
            sync()
            if i:
                times.append(time.perf_counter() - t0)
            spent += time.perf_counter() - t0
            if times and max_seconds is not None and spent >= max_seconds:
                break
    finally:
        model.load_state_dict(state)
        for name, p in model.named_parameters():
            p.requires_grad_(flags[name])
        model.eval()
    return float(np.median(times))


def targets_for(labels: np.ndarray, num_classes: int, loss: str, smoothing: float = 0.0) -> np.ndarray:
    onehot = np.eye(num_classes)[np.asarray(labels)]
    if loss == "cross_entropy" and smoothing:
        onehot = (1.0 - smoothing) * onehot + smoothing / num_classes
    return onehot


def curve_for(spec, loss: str, lr: float, batch_size: int, momentum: float, max_steps: int,
              stop_below: float | None = None, momentum_model: str = "heavy_ball", halves=None):
    """Predicted curve from the subset spectrum, finite-size corrected to N when ``halves`` are given.

    ``halves``: the two n/2 sub-spectra (:func:`~.dynamics.half_spectra`); the corrected curve is
    :func:`~.dynamics.finite_size_extrapolate` of the n and n/2 curves, computed to ``max_steps``
    and then cut at the first step at or below ``stop_below``.
    """
    from hf_quicktune.estimate.dynamics import Curve, cross_entropy_curve, finite_size_extrapolate, mse_curve

    fn = mse_curve if loss == "mse" else cross_entropy_curve
    kw: dict[str, Any] = {"lr": lr, "batch_size": batch_size, "momentum": momentum, "max_steps": max_steps,
          "momentum_model": momentum_model}
    if not halves:
        return fn(spec, stop_below=stop_below, **kw)
    curve = finite_size_extrapolate(fn(spec, **kw), [fn(h, **kw) for h in halves], spec.n, spec.num_train)
    if stop_below is not None:
        hit = curve.steps_to(stop_below)
        if hit is not None:
            curve = Curve(curve.loss[: hit + 1], curve.loss_flow[: hit + 1], curve.batch_size, curve.num_train,
                          curve.diverged)
    return curve


#: what :func:`estimate` linearizes trained normalisation layers with (its ``norm_statistics``)
ESTIMATOR_STATISTICS = ("batch", "pretrained", "target")


def estimate(
    dataset,
    candidate,
    config: dict[str, Any],
    *,
    n: int = 128,
    k: int | None = None,
    target_loss: float | None = None,
    epochs: float | None = None,
    image_size: int | None = None,
    loss: str = "cross_entropy",
    class_probes: int | None = None,
    max_epochs: float = DEFAULT_MAX_EPOCHS,
    time_steps: bool = True,
    model=None,
    seed: int = 0,
    finite_size: bool = True,
    within: float | None = None,
    norm_statistics: str = "pretrained",
    statistics_batch: int | None = None,
) -> Estimate:
    """Predict the training-loss curve of fine-tuning ``candidate`` on ``dataset`` with ``config``.

    ``dataset``: a :class:`~hf_quicktune.data.types.PreparedDataset`; ``candidate``: a
    :class:`~hf_quicktune.zoo.Candidate` or its name; ``config``: a flat configuration
    (``lr``, ``batch_size``, ``momentum``, ``opt``, ``pct_to_freeze``, ``linear_probing``,
    ``smoothing`` are used). Give ``target_loss`` (steps/epochs to reach it) or ``epochs``
    (loss after them); with neither, the curve runs ``max_epochs``. ``n`` images are linearized
    (stratified), their gradients sketched to ``k`` dims when large. ``loss``: ``cross_entropy``
    (what fine-tuning uses) or ``mse`` (the paper's closed form). ``time_steps`` measures one real
    SGD step here to turn steps into seconds. ``model``: an already built model to linearize.
    ``finite_size``: correct the subset curve to the N training images from nested halves of the
    subsample (:func:`~.dynamics.finite_size_extrapolate`; off = the paper's plain N/n rescaling).
    ``within`` (in (0, 1)) replaces the absolute target by the supplementary criterion of Zancato et
    al. (2020): steps until the loss is within ``within`` x (initial - final) of its final value,
    the final value being the loss after ``epochs`` (or ``max_epochs``). It is defined whatever the
    loss scale, and a run whose loss plateaus above any absolute target still gets a time.
    ``norm_statistics``, how trained normalisation layers are linearized: ``pretrained`` (default), in eval mode with
    the checkpoint's running statistics; ``batch``, normalising by the linearized images' statistics as functions of
    the weights, as the trainer's train-mode layers do (:mod:`.batch_ntk`: n x C backward passes, each over its group
    of images, several times the eval-mode kernel's cost). ``batch`` is right where BatchNorm layers train at the end
    of the network (the last stage + head below) and not the default: with every layer trained (EfficientNet-Lite0
    at 32 px on digits) its linearized model diverged at lr 0.001-0.01 where training does not (early layers' scale
    invariance under BatchNorm keeps real SGD stable, a linearization cannot follow it; seen by hand in session 63,
    not benchmarked);
    ``target``, in eval mode with the linearized images' statistics (:mod:`.bn_stats`). A given ``model`` is never
    changed. ``statistics_batch``: with ``batch``, the statistics are taken over random groups of this many of the
    linearized images (default: the configuration's batch size, the trainer's batches); 0: all of them as one.

    The linearization point is the pretrained body with the *new, randomly initialised* head
    (paper eq. 1 at w0), and the kernel stays frozen there. That is exact for linear probing. When
    body layers train, the NTK moves. In eval mode with the pretrained statistics most of it is units switching
    on: EfficientNet-Lite0's last stage at 32 px on mnist5k keeps 1.6 % of its pooled features above zero and the
    kernel's top eigenvalue grows 42x in 2.6 epochs; with the target statistics 8.2 % are and it grows 2.6x
    (``benchmarks/estimate_kernel_growth.py``). Yet the trainer's train-mode layers also pass gradients through
    the batch statistics, which an eval-mode linearization leaves out: against that training the target statistics
    predicted 0.22-0.48x the steps in 29 of 32 rows; the ``batch`` kernel, whose statistics are functions of the
    weights, predicted the steps to within 10 % of the final loss with a median error of 11.6 % over 5 epochs and
    4.6 % over 20 (with 2 class probes), where the checkpoint's statistics erred by 63.1 % over 20
    (``benchmarks/estimate_accuracy.py``, ``benchmarks/estimate_batch_stats.py``).
    """
    from hf_quicktune.estimate.batch_ntk import batch_statistics_ntk
    from hf_quicktune.estimate.bn_stats import set_target_statistics, trained_norm_layers
    from hf_quicktune.estimate.dynamics import half_spectra, spectrum
    from hf_quicktune.estimate.jacobian import empirical_ntk, trainable_parameter_names
    from hf_quicktune.zoo import create_model, get_candidate

    if loss not in ("cross_entropy", "mse"):
        raise ConfigError(f"loss must be 'cross_entropy' or 'mse', got {loss!r}.")
    if target_loss is not None and epochs is not None:
        raise ConfigError("give either a target loss or a number of epochs, not both.")
    if within is not None and target_loss is not None:
        raise ConfigError("give either a target loss or a convergence tolerance (within), not both.")
    if within is not None and not 0.0 < within < 1.0:
        raise ConfigError(f"within must be a fraction in (0, 1) of the loss decrease, got {within}.")
    if target_loss is not None and target_loss <= 0:
        raise ConfigError(f"the target loss must be positive, got {target_loss}.")
    if norm_statistics not in ESTIMATOR_STATISTICS:
        raise ConfigError(f"norm_statistics must be one of {ESTIMATOR_STATISTICS}, got {norm_statistics!r}.")
    cand = get_candidate(candidate) if isinstance(candidate, str) else candidate
    lr, batch_size, momentum, warnings = _sgd_params(config)
    t0 = time.perf_counter()
    num_classes = dataset.num_classes
    num_train = len(dataset.train)
    x, labels = load_subsample(dataset, cand, n, image_size, seed=seed)
    given = model is not None
    if model is None:
        import torch

        torch.manual_seed(seed)  # the new head's (and a scratch body's) initialisation is reproducible
        model = create_model(cand, num_classes=num_classes, image_size=image_size)
    trainable = trainable_parameter_names(
        model, float(config.get("pct_to_freeze") or 0.0), bool(config.get("linear_probing"))
    )
    trained_norms = bool(trained_norm_layers(model, trainable))
    if norm_statistics == "target" and trained_norms:
        if given:
            model = copy.deepcopy(model)  # the caller's model keeps its statistics
        set_target_statistics(model, x, trainable)
    if norm_statistics == "batch" and trained_norms:
        group = batch_size if statistics_batch is None else (statistics_batch or None)
        gram = batch_statistics_ntk(model, x, trainable, class_probes=class_probes, k=k, seed=seed, group=group)
    else:
        gram = empirical_ntk(model, x, trainable=trainable, k=k, class_probes=class_probes, seed=seed)
    targets = targets_for(labels.numpy(), num_classes, loss, float(config.get("smoothing") or 0.0))
    spec = spectrum(gram.kernel.numpy(), gram.outputs.numpy(), targets, num_train)
    halves = half_spectra(gram.kernel.numpy(), gram.outputs.numpy(), targets, num_train, seed=seed) \
        if finite_size and len(x) < num_train else []
    ntk_seconds = time.perf_counter() - t0  # subsample loading + Jacobians + NTK + eigendecompositions
    steps_per_epoch = num_train / batch_size
    horizon = epochs if epochs is not None else max_epochs
    max_steps = max(1, int(math.ceil(horizon * steps_per_epoch)))
    curve = curve_for(spec, loss, lr, batch_size, momentum, max_steps, stop_below=target_loss, halves=halves)
    est_seconds = time.perf_counter() - t0
    if curve.diverged:
        warnings.append(f"the linearized model diverges at lr={lr} (lr x top NTK eigenvalue too large).")
    steps_to = curve.steps_to(target_loss) if target_loss is not None else None
    if within is not None:
        steps_to = curve.steps_to_within(within)
    if target_loss is not None and steps_to is None and not curve.diverged:
        warnings.append(
            f"the target loss {target_loss} is not reached within {max_epochs:g} epochs "
            f"(predicted {float(curve.loss[-1]):.4g} then); raise max_epochs or the target."
        )
    sec_per_step = None
    if time_steps:  # in the memory layout the train engine trains this model in (an fp32 SGD configuration)
        from hf_quicktune.train.layout import to_layout, use_channels_last

        device_type = next((p.device.type for p in model.parameters()), "cpu")
        to_layout(model, use_channels_last(device_type, False))
        sec_per_step = measure_seconds_per_step(model, trainable, batch_size, tuple(x.shape[1:]), num_classes)
    for w in warnings:
        logger.warning(w)
    return Estimate(
        candidate=cand.name, config=dict(config), loss_name=loss, curve=curve, num_train=num_train,
        n=len(x), num_params=gram.num_params, projected_dim=gram.projected_dim, target_loss=target_loss,
        epochs=epochs, steps_to_target=steps_to, within=within, seconds_per_step=sec_per_step,
        estimation_seconds=est_seconds, ntk_seconds=ntk_seconds, warnings=warnings, spectrum=spec, halves=halves,
        norm_statistics=norm_statistics if trained_norms else None,
    )


def predicted_loss_after(steps: int, dataset, candidate, config: dict[str, Any], **kwargs: Any) -> float:
    """Zero-cost ranking feature: predicted training loss after ``steps`` SGD steps."""
    kwargs.setdefault("time_steps", False)
    batch_size = int(config["batch_size"])
    epochs = steps * batch_size / len(dataset.train)
    est = estimate(dataset, candidate, config, epochs=epochs, **kwargs)
    return est.loss_after(steps)
