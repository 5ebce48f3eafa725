"""A trial = (candidate model, hyperparameter configuration, dataset), trained epoch by epoch.

Freeze-thaw (Quick-Tune §4, Swersky et al. 2014): the optimizer asks for "k more epochs of trial
X"; :meth:`Trial.advance` loads X's newest checkpoint, trains, evaluates on the validation split,
checkpoints, and appends the per-epoch records to ``curve.jsonl``. The lr schedule spans
``max_epochs``, checkpoints carry optimizer/scheduler/scaler/RNG states and the shuffling order
depends only on (seed, epoch), so 2 + 3 epochs give the same curve as 5 in one go.

Failures are results: a non-finite loss ends the trial as ``diverged``; an out-of-memory error
is retried once with half the micro-batch (gradient accumulation keeps the batch size), then
recorded as ``oom``; any other exception is recorded as ``failed`` with its message.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hf_quicktune import faults
from hf_quicktune.errors import TrainError
from hf_quicktune.train import checkpoint as ckpt
from hf_quicktune.train.config import validate_config
from hf_quicktune.train.loaders import (
    build_transforms,
    data_config_for,
    limit_split,
    make_loader,
    torch_dataset,
)
from hf_quicktune.train.optim import (
    build_optimizer,
    build_scheduler,
    current_lr,
    load_scheduler_state,
    scheduler_state,
)
from hf_quicktune.train.records import AdvanceResult, EpochRecord, append_records, finite_or_none, load_curve
from hf_quicktune.train.regularizers import DeltaRegularizer, FeatureTap, SPRegularizer, bss_penalty
from hf_quicktune.train.strategies import (
    apply_freezing,
    frozen_parameter_names,
    linear_probing_epochs,
    set_train_mode,
)

logger = logging.getLogger(__name__)

TRIAL_FILE = "trial.json"
#: How often (optimizer steps) the running loss is checked for NaN/inf; each check syncs the device.
CHECK_EVERY = 10

ModelFactory = Callable[..., nn.Module]


class DivergedError(Exception):
    """Raised inside an epoch when the loss stops being finite."""


class _StopRequested(Exception):
    """Raised inside an epoch when the caller's ``should_stop`` says so; caught by :meth:`Trial.advance`
    (never leaves the engine)."""


def is_oom(err: BaseException) -> bool:
    if isinstance(err, torch.OutOfMemoryError):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError | MemoryError) and (
        "out of memory" in text or "can't allocate memory" in text or isinstance(err, MemoryError)
    )


_ACCELERATOR = None


def default_accelerator():
    """One process-wide Accelerator (Accelerate's state is global; mixed precision is chosen per
    trial with autocast, see :func:`amp_settings`)."""
    global _ACCELERATOR
    if _ACCELERATOR is None:
        from accelerate import Accelerator

        _ACCELERATOR = Accelerator()
    return _ACCELERATOR


def amp_settings(device_type: str, bf16_supported: bool) -> tuple[torch.dtype | None, bool]:
    """(autocast dtype, use a grad scaler) for ``amp: true`` on a device.

    GPUs: bf16 where supported, else fp16 with loss scaling. CPUs: no autocast (bf16 kernels are
    slower than fp32 on most CPUs; ``amp`` only matters on accelerators).
    """
    if device_type == "cuda":
        return (torch.bfloat16, False) if bf16_supported else (torch.float16, True)
    if device_type in ("xpu", "npu", "mlu"):
        return torch.bfloat16, False
    return None, False


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB; process peak


class _State:
    """Everything that lives in memory while a trial trains (rebuilt from the checkpoint)."""

    model: nn.Module
    raw_model: nn.Module
    optimizer: Any
    scheduler: Any
    scaler: torch.amp.GradScaler | None
    sp: SPRegularizer | None
    delta: DeltaRegularizer | None
    tap: FeatureTap | None
    rng: dict[str, Any] | None = None


class Trial:
    """One fine-tuning trial living in ``directory`` (curve, newest checkpoint, trial.json).

    ``candidate`` is a :class:`~hf_quicktune.zoo.candidate.Candidate` (built with
    ``hf_quicktune.zoo.create_model``) or a factory ``f(num_classes=..., drop_rate=...) -> timm model``.
    ``config`` uses the Quick-Tune hyperparameter names; missing keys take
    :data:`~hf_quicktune.train.config.DEFAULTS`. ``image_size`` overrides the candidate's input
    size; ``train_limit``/``eval_limit`` train/evaluate on a fixed random subset.
    ``max_micro_batch`` caps the examples per forward pass (gradient accumulation makes up the
    batch size). ``keep_in_memory`` keeps model and optimizer between :meth:`advance` calls
    instead of reloading the checkpoint.
    """

    def __init__(
        self,
        directory: str | Path,
        candidate: Any,
        config: dict[str, Any] | None,
        dataset: Any,
        *,
        max_epochs: int = 50,
        image_size: int | None = None,
        train_limit: int | None = None,
        eval_limit: int | None = None,
        seed: int = 0,
        accelerator: Any = None,
        num_workers: int | None = None,
        max_micro_batch: int | None = None,
        keep_in_memory: bool = False,
    ):
        if max_epochs < 1:
            raise TrainError(f"max_epochs must be >= 1, got {max_epochs}.")
        self.directory = Path(directory)
        self.candidate = candidate
        self.config = validate_config(config)
        self.dataset = dataset
        self.max_epochs = int(max_epochs)
        self.image_size = image_size
        self.train_limit = train_limit
        self.eval_limit = eval_limit
        self.seed = int(seed)
        self.accelerator = accelerator or default_accelerator()
        self.num_workers = num_workers
        self.keep_in_memory = keep_in_memory
        if not hasattr(candidate, "architecture") and not callable(candidate):
            raise TrainError(f"candidate must be a zoo Candidate or a model factory, got {type(candidate).__name__}.")
        self.name = getattr(candidate, "name", None) or getattr(candidate, "__name__", "custom")
        for split in ("train", "validation"):
            if split not in dataset.splits:
                raise TrainError(f"dataset {getattr(dataset, 'name', '?')!r} has no {split!r} split; "
                                 "prepare it with hf_quicktune.data.load (it creates one).")
        self.num_classes = int(dataset.num_classes)
        batch = self.config["batch_size"]
        self.accumulation = max(1, math.ceil(batch / max_micro_batch)) if max_micro_batch else 1
        self._state: _State | None = None
        self._data_config: dict[str, Any] | None = None
        self._write_trial_file()
        self._reconcile_curve()

    # ------------------------------------------------------------------ on-disk state
    def _trial_info(self) -> dict[str, Any]:
        return {
            "candidate": self.name,
            "config": self.config,
            "max_epochs": self.max_epochs,
            "image_size": self.image_size,
            "train_limit": self.train_limit,
            "eval_limit": self.eval_limit,
            "seed": self.seed,
            "dataset": getattr(self.dataset, "name", None),
            "dataset_fingerprint": getattr(self.dataset, "fingerprint", None),
            "num_classes": self.num_classes,
        }

    def _write_trial_file(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / TRIAL_FILE
        info = json.loads(json.dumps(self._trial_info(), default=str))
        if path.exists():
            old = json.loads(path.read_text(encoding="utf-8"))
            keys = ("candidate", "config", "max_epochs", "image_size", "train_limit", "seed", "dataset_fingerprint")
            diff = [k for k in keys if old.get(k) != info.get(k)]
            if diff and latest_checkpoint_epoch(self.directory):
                raise TrainError(
                    f"{self.directory} already holds a trial with different {', '.join(diff)}; "
                    "use a new directory for a new trial (or the same settings to continue it)."
                )
        if self.accelerator.is_main_process:
            path.write_text(json.dumps(info, indent=1), encoding="utf-8")

    def _reconcile_curve(self) -> None:
        """If the process died between checkpoint and curve append, restore the missing record."""
        if self.accelerator.is_main_process:
            restore_curve(self.directory)

    @property
    def curve(self) -> list[EpochRecord]:
        return load_curve(self.directory)

    @property
    def epochs_done(self) -> int:
        """Epochs trained and checkpointed."""
        return latest_checkpoint_epoch(self.directory)

    @property
    def status(self) -> str:
        """``ok`` or the status of the failure that ended the trial."""
        curve = self.curve
        return curve[-1].status if curve else "ok"

    @property
    def finished(self) -> bool:
        return self.status != "ok" or self.epochs_done >= self.max_epochs

    # ------------------------------------------------------------------ building
    def _create_model(self) -> nn.Module:
        drop = self.config["drop"]
        if hasattr(self.candidate, "architecture"):
            from hf_quicktune.zoo import create_model

            model = create_model(self.candidate, num_classes=self.num_classes, drop_rate=drop)
        else:
            model = self.candidate(num_classes=self.num_classes, drop_rate=drop)
        return model

    def data_config(self, model: nn.Module | None = None) -> dict[str, Any]:
        if self._data_config is None:
            if hasattr(self.candidate, "data_config"):
                base = self.candidate.data_config()
            else:
                from timm.data import resolve_model_data_config

                base = resolve_model_data_config(model if model is not None else self._create_model())
            self._data_config = data_config_for(base, self.image_size)
        return self._data_config

    def _build_state(self) -> _State:
        acc = self.accelerator
        _seed_everything(self.seed)
        state = _State()
        model = self._create_model()
        data_config = self.data_config(model)
        # References for SP / DELTA are the weights the trial starts from (pretrained backbone).
        state.sp = SPRegularizer(model, self.config["sp_reg"]) if self.config["sp_reg"] > 0 else None
        state.delta = DeltaRegularizer(model, self.config["delta_reg"]) if self.config["delta_reg"] > 0 else None
        optimizer = build_optimizer(model, self.config)
        scheduler = build_scheduler(optimizer, self.config, self.max_epochs)
        self._amp_dtype, use_scaler = (None, False)
        if self.config["amp"]:
            dev = acc.device
            bf16 = dev.type == "cuda" and torch.cuda.is_bf16_supported()
            self._amp_dtype, use_scaler = amp_settings(dev.type, bf16)
            if self._amp_dtype is None:
                logger.info("amp requested but ignored on %s (no mixed precision on CPU)", dev.type)
        state.scaler = torch.amp.GradScaler(acc.device.type) if use_scaler else None
        latest = ckpt.latest_checkpoint(self.directory)
        rng = None
        if latest is not None:
            weights, training, info = ckpt.load_checkpoint(latest[1])
            model.load_state_dict(weights)
            optimizer.load_state_dict(training["optimizer"])
            load_scheduler_state(scheduler, training.get("scheduler"))
            if state.scaler is not None and training.get("scaler"):
                state.scaler.load_state_dict(training["scaler"])
            self.accumulation = max(self.accumulation, int(info.get("accumulation", 1)))
            rng = training["rng"]
        state.raw_model = model
        state.model, state.optimizer = acc.prepare(model, optimizer)
        state.scheduler = scheduler
        if state.sp is not None:
            state.sp.params = [(p, p0.to(acc.device)) for p, p0 in state.sp.params]
        if state.delta is not None:
            state.delta.to(acc.device)
        needs_features = self.config["delta_reg"] > 0 or self.config["bss_reg"] > 0
        state.tap = FeatureTap(model) if needs_features else None
        state.rng = rng
        self._train_set, self._val_set = self._datasets(data_config)
        return state

    def _datasets(self, data_config):
        train_tf, eval_tf = build_transforms(data_config, self.config, self.image_size)
        train = limit_split(self.dataset.splits["train"], self.train_limit, self.seed)
        val = limit_split(self.dataset.splits["validation"], self.eval_limit, self.seed)
        return torch_dataset(train, train_tf), torch_dataset(val, eval_tf)

    def _eval_dataset(self, split: str):
        if split not in self.dataset.splits:
            raise TrainError(f"dataset has no {split!r} split (available: {', '.join(self.dataset.splits)}).")
        _, eval_tf = build_transforms(self.data_config(), self.config, self.image_size)
        return torch_dataset(limit_split(self.dataset.splits[split], self.eval_limit, self.seed), eval_tf)

    def release(self) -> None:
        """Free the in-memory model/optimizer (the checkpoint on disk is the truth)."""
        state, self._state = self._state, None
        if state is None:
            return
        if state.tap is not None:
            state.tap.remove()
        acc = self.accelerator
        for attr, obj in (("_models", state.model), ("_optimizers", state.optimizer)):
            items = getattr(acc, attr, None)
            if isinstance(items, list):
                items[:] = [o for o in items if o is not obj]
        del state
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _ensure_state(self) -> _State:
        if self._state is None:
            self._state = self._build_state()
        if self._state.rng is not None:
            ckpt.set_rng_state(self._state.rng)
        return self._state

    # ------------------------------------------------------------------ training
    def _mixup(self):
        cfg = self.config
        if (cfg["mixup"] > 0 or cfg["cutmix"] > 0) and cfg["mixup_prob"] > 0:
            from timm.data import Mixup

            return Mixup(mixup_alpha=cfg["mixup"], cutmix_alpha=cfg["cutmix"], prob=cfg["mixup_prob"],
                         label_smoothing=cfg["smoothing"], num_classes=self.num_classes)
        return None

    def _autocast(self):
        if getattr(self, "_amp_dtype", None) is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.accelerator.device.type, dtype=self._amp_dtype)

    def _loader(self, dataset, *, shuffle: bool, epoch: int = 0):
        """Training batches of ``batch_size``; evaluation batches of the micro-batch size (what fits)."""
        acc = self.accelerator
        batch_size = self.config["batch_size"]
        if not shuffle:
            batch_size = math.ceil(batch_size / self.accumulation)
        loader = make_loader(dataset, batch_size, shuffle=shuffle, seed=self.seed, epoch=epoch,
                             num_workers=self.num_workers, pin_memory=acc.device.type == "cuda")
        prepared = acc.prepare_data_loader(loader)
        items = getattr(acc, "_dataloaders", None)
        if isinstance(items, list) and items and items[-1] is prepared:
            items.pop()  # one loader per epoch: do not let the accelerator accumulate them
        return prepared

    def _train_epoch(self, state: _State, epoch_index: int, callback, should_stop=None) -> tuple[float, int, float]:
        """Train one epoch; returns (mean train loss, images seen, seconds)."""
        acc, cfg = self.accelerator, self.config
        lp = cfg["linear_probing"] and epoch_index < linear_probing_epochs(self.max_epochs)
        apply_freezing(state.raw_model, frozen_parameter_names(state.raw_model, cfg["pct_to_freeze"], lp))
        set_train_mode(state.model)
        params = [p for p in state.raw_model.parameters() if p.requires_grad]
        mixup = self._mixup()
        loader = self._loader(self._train_set, shuffle=True, epoch=epoch_index)
        total_batches = len(loader)
        loss_sum = torch.zeros((), device=acc.device)
        seen = 0
        start = time.perf_counter()
        if acc.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(acc.device)
        for step, batch in enumerate(loader):
            x, y = batch["pixel_values"], batch["label"]
            n = x.shape[0]
            target = y
            if mixup is not None:
                if n % 2 == 0:
                    x, target = mixup(x, y)
                else:  # timm's Mixup needs an even batch; keep the soft-target loss for the odd one
                    from timm.data.mixup import mixup_target

                    target = mixup_target(y, self.num_classes, lam=1.0, smoothing=cfg["smoothing"])
            # micro-batches of >= 2 images (BatchNorm needs two values per channel)
            chunks = [c for c in torch.tensor_split(torch.arange(n), max(1, min(self.accumulation, n // 2))) if len(c)]
            for i, idx in enumerate(chunks):
                sync = i == len(chunks) - 1
                ctx = contextlib.nullcontext() if sync else acc.no_sync(state.model)
                xc = x if len(chunks) == 1 else x[idx.to(x.device)]
                tc = target if len(chunks) == 1 else target[idx.to(x.device)]
                with ctx:
                    with self._autocast():
                        logits = state.model(xc)
                        if tc.ndim == 2:
                            loss = torch.sum(-tc * F.log_softmax(logits.float(), dim=-1), dim=-1).mean()
                        else:
                            loss = F.cross_entropy(logits.float(), tc, label_smoothing=cfg["smoothing"])
                        total = loss
                        if state.tap is not None:
                            feats = state.tap.pop()
                            if state.delta is not None:
                                total = total + state.delta(xc, feats)
                            if cfg["bss_reg"] > 0:
                                total = total + bss_penalty(feats, cfg["bss_reg"])
                        if state.sp is not None:
                            total = total + state.sp()
                    scaled = total * (len(idx) / n)
                    if state.scaler is not None:
                        scaled = state.scaler.scale(scaled)
                    acc.backward(scaled)
                loss_sum += loss.detach() * len(idx)
            if cfg["clip_grad"]:
                if state.scaler is not None:
                    state.scaler.unscale_(state.optimizer)
                acc.clip_grad_norm_(params, cfg["clip_grad"])
            if state.scaler is not None:
                state.scaler.step(state.optimizer)
                state.scaler.update()
            else:
                state.optimizer.step()
            state.optimizer.zero_grad(set_to_none=True)
            seen += n
            faults.point("train.step")
            if (step + 1) % CHECK_EVERY == 0 and not torch.isfinite(loss_sum):
                raise DivergedError(f"training loss became non-finite at step {step + 1} of epoch {epoch_index + 1}")
            if callback is not None:
                callback("train_step", {"step": step + 1, "steps": total_batches, "epoch": epoch_index + 1})
            if should_stop is not None and should_stop():
                raise _StopRequested()
        seconds = time.perf_counter() - start
        mean_loss = (loss_sum / max(seen, 1)).item()
        if not math.isfinite(mean_loss):
            raise DivergedError(f"training loss became non-finite in epoch {epoch_index + 1}")
        return mean_loss, seen * acc.num_processes, seconds

    @torch.no_grad()
    def _evaluate(self, state: _State, dataset) -> dict[str, float | None]:
        from hf_quicktune.train.metrics import load_topk_accuracy

        acc = self.accelerator
        state.model.eval()
        loader = self._loader(dataset, shuffle=False)
        k = min(5, self.num_classes)
        ranks, labels, losses = [], [], []
        for batch in loader:
            x, y = batch["pixel_values"], batch["label"]
            with self._autocast():
                logits = state.model(x).float()
            if state.tap is not None:
                state.tap.features = None
            loss = F.cross_entropy(logits, y, reduction="none")
            topk = logits.topk(k, dim=-1).indices
            topk, y, loss = acc.gather_for_metrics((topk, y, loss))
            ranks.append(topk.cpu())
            labels.append(y.cpu())
            losses.append(loss.cpu())
        ranks_t, labels_t, losses_t = torch.cat(ranks), torch.cat(labels), torch.cat(losses)
        metric = load_topk_accuracy()
        scores = metric.compute(predictions=ranks_t.tolist(), references=labels_t.tolist(), ks=(1, 5))
        return {
            "top1": scores["top1"],
            "top5": scores.get("top5") if self.num_classes >= 5 else None,
            "loss": float(losses_t.mean()),
            "n": len(labels_t),
        }

    def _run_epoch(self, state: _State, callback, should_stop=None) -> EpochRecord:
        acc = self.accelerator
        epoch_index = self.epochs_done
        lr = current_lr(state.optimizer)
        train_loss, images, train_seconds = self._train_epoch(state, epoch_index, callback, should_stop)
        start = time.perf_counter()
        scores = self._evaluate(state, self._val_set)
        eval_seconds = time.perf_counter() - start
        if not math.isfinite(scores["loss"]):
            raise DivergedError(f"validation loss is non-finite after epoch {epoch_index + 1}")
        record = EpochRecord(
            epoch=epoch_index + 1,
            val_top1=scores["top1"],
            val_top5=scores["top5"],
            val_loss=finite_or_none(scores["loss"]),
            train_loss=finite_or_none(train_loss),
            train_seconds=train_seconds,
            eval_seconds=eval_seconds,
            images_per_second=images / train_seconds if train_seconds > 0 else None,
            peak_memory_mb=_peak_memory_mb(acc.device),
            lr=lr,
        )
        if state.scheduler is not None:
            state.scheduler.step(epoch_index + 1, scores["top1"])
        state.rng = ckpt.rng_state()
        self._save(state, record)
        return record

    def _save(self, state: _State, record: EpochRecord) -> None:
        acc = self.accelerator
        acc.wait_for_everyone()
        if acc.is_main_process:
            model = acc.unwrap_model(state.model)
            optimizer = state.optimizer.optimizer if hasattr(state.optimizer, "optimizer") else state.optimizer
            training = {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler_state(state.scheduler),
                "scaler": state.scaler.state_dict() if state.scaler is not None else None,
                "rng": state.rng,
            }
            info = {
                "epoch": record.epoch,
                "accumulation": self.accumulation,
                "architecture": _architecture(model, self.candidate),
                "num_classes": self.num_classes,
                "label_names": list(self.dataset.class_names),
                "data_config": self.data_config(),
                "config": self.config,
                "candidate": self.name,
                "record": record.to_dict(),
            }
            path = ckpt.save_checkpoint(self.directory, record.epoch, model.state_dict(), training, info)
            ckpt.update_best(self.directory, record.epoch, path)
            faults.point("curve.append")
            append_records(self.directory, [record])
        acc.wait_for_everyone()

    def _failure(self, status: str, message: str, seconds: float) -> EpochRecord:
        record = EpochRecord(
            epoch=self.epochs_done + 1, val_top1=None, val_top5=None, val_loss=None, train_loss=None,
            train_seconds=seconds, eval_seconds=0.0, images_per_second=None, peak_memory_mb=None,
            lr=None, status=status, message=message,
        )
        if self.accelerator.is_main_process:
            append_records(self.directory, [record])
        return record

    def _advance_one(self, callback, should_stop=None) -> EpochRecord | float:
        """One epoch: its record, or the seconds spent before ``should_stop`` stopped it (discarded)."""
        retried = False
        while True:
            start = time.perf_counter()
            try:
                state = self._ensure_state()
                return self._run_epoch(state, callback, should_stop)
            except _StopRequested:
                self.release()  # the weights are mid-epoch: the next advance reloads the checkpoint
                return time.perf_counter() - start
            except DivergedError as err:
                logger.warning("trial %s diverged: %s", self.directory.name, err)
                self.release()
                return self._failure("diverged", str(err), time.perf_counter() - start)
            except Exception as err:  # noqa: BLE001 - failures are results
                self.release()
                if is_oom(err):
                    micro = math.ceil(self.config["batch_size"] / self.accumulation)
                    if not retried and micro > 1:
                        retried = True
                        self.accumulation *= 2
                        logger.warning("trial %s ran out of memory; retrying with micro-batches of %d "
                                       "(gradient accumulation x%d)", self.directory.name,
                                       math.ceil(self.config["batch_size"] / self.accumulation), self.accumulation)
                        continue
                    return self._failure("oom", f"out of memory with micro-batches of {micro}: {err}",
                                         time.perf_counter() - start)
                # the traceback goes to the log file (and the terminal with -v); the failure itself is a
                # result the caller reports once (a zoo failing 128 times prints one line, not 128 tracebacks)
                logger.info("trial %s failed", self.directory.name, exc_info=True)
                return self._failure("failed", f"{type(err).__name__}: {err}", time.perf_counter() - start)

    def advance(self, epochs: int = 1, callback: Callable[[str, dict], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> AdvanceResult:
        """Train ``epochs`` more epochs (fewer if ``should_stop`` stops it or the trial fails).

        Returns the finished epochs' records (also appended to ``curve.jsonl``) as an
        :class:`~hf_quicktune.train.records.AdvanceResult` (a list; ``.stopped``, ``.status``).
        ``callback(event, info)`` is called after each training step (``"train_step"``) and epoch
        (``"epoch"``), for progress bars. ``should_stop()`` (e.g. a budget) is polled before each epoch
        and after each training step; when it returns True the unfinished epoch is discarded, the
        in-memory state released (the trial continues from its newest checkpoint) and the result has
        ``stopped=True``. It should not raise: inside an epoch, an exception from it fails that epoch like
        any other error.
        """
        records = AdvanceResult()
        try:
            for _ in range(int(epochs)):
                if self.finished:
                    break
                if should_stop is not None and should_stop():
                    records.stopped = True
                    break
                outcome = self._advance_one(callback, should_stop)
                if not isinstance(outcome, EpochRecord):
                    records.stopped, records.discarded_seconds = True, outcome
                    break
                record = outcome
                records.append(record)
                if callback is not None:
                    callback("epoch", {"record": record})
                if not record.ok:
                    break
        finally:
            if not self.keep_in_memory:
                self.release()
        return records

    def evaluate(self, split: str = "test", best: bool = False) -> dict[str, float | None]:
        """Top-1/top-5 accuracy and loss of the newest checkpoint on ``split`` (with ``best``: of the
        best validation epoch's weights, what :func:`~hf_quicktune.train.export.load_model` exports)."""
        if self.epochs_done == 0 and self._state is None:
            raise TrainError("the trial has no trained checkpoint yet; call advance() first.")
        found = ckpt.best_checkpoint(self.directory) if best else None
        if found is not None and found[0] == self.epochs_done:
            found = None  # the newest checkpoint is the best one
        if found is not None and self.keep_in_memory:
            raise TrainError("evaluate(best=True) replaces the in-memory weights; use a trial built "
                             "with keep_in_memory=False.")
        dataset = self._eval_dataset(split)
        state = self._ensure_state()
        if found is not None:
            from safetensors.torch import load_file

            state.raw_model.load_state_dict(load_file(str(found[1] / ckpt.WEIGHTS_FILE)))
        try:
            scores = self._evaluate(state, dataset)
        finally:
            if not self.keep_in_memory:
                self.release()
        return {"top1": scores["top1"], "top5": scores["top5"], "loss": scores["loss"], "num_examples": scores["n"]}

    def export(self, out_dir: str | Path) -> Path:
        """Write the trained model for publishing: ``model.safetensors`` + ``config.json``."""
        from hf_quicktune.train.export import export_trial

        return export_trial(self.directory, out_dir)


def restore_curve(directory: str | Path) -> EpochRecord | None:
    """Finish the writes of an epoch whose process died after its checkpoint was complete: the best-epoch
    copy and the curve line (taken from the checkpoint). Idempotent; returns the restored record, if any.
    The run calls it for every trial directory on resume, so the epoch counts without reopening the trial."""
    latest = ckpt.latest_checkpoint(directory)
    if latest is None:
        return None
    epoch, path = latest
    ckpt.update_best(directory, epoch, path)
    if epoch in {r.epoch for r in load_curve(directory)}:
        return None
    info = json.loads((path / ckpt.INFO_FILE).read_text(encoding="utf-8"))
    if not info.get("record"):
        return None
    record = EpochRecord.from_dict(info["record"])
    append_records(directory, [record])
    return record


def latest_checkpoint_epoch(directory: str | Path) -> int:
    latest = ckpt.latest_checkpoint(directory)
    return latest[0] if latest else 0


def _architecture(model: nn.Module, candidate: Any) -> str | None:
    arch = getattr(candidate, "architecture", None)
    if arch:
        return arch
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return cfg.get("architecture")
