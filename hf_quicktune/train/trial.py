"""A trial = (candidate model, hyperparameter configuration, dataset), trained epoch by epoch.

Freeze-thaw (Quick-Tune §4, Swersky et al. 2014): the optimizer asks for "k more epochs of trial
X"; :meth:`Trial.advance` loads X's newest checkpoint, trains, evaluates on the validation split,
checkpoints, and appends the per-epoch records to ``curve.jsonl``. The lr schedule spans
``max_epochs``, checkpoints carry optimizer/scheduler/scaler/RNG states and the shuffling order
depends only on (seed, epoch), so 2 + 3 epochs give the same curve as 5 in one go.

Failures are results: a non-finite loss ends the trial as ``diverged``; an out-of-memory error
is retried once with half the micro-batch (gradient accumulation keeps the batch size), then
recorded as ``oom``; any other exception is recorded as ``failed`` with its message. A caller's
``should_stop`` (a budget) ends :meth:`Trial.advance` between steps as ``stopped``.

Over 400 lines on purpose: one class, the engine's facade (lifecycle and files);
:mod:`~hf_quicktune.train.state` builds and restores the in-memory state, :mod:`~hf_quicktune.train.step`
trains and evaluates, and :mod:`~hf_quicktune.train.device` is what the engine asks of Accelerate.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hf_quicktune import faults
from hf_quicktune.errors import DISK_FULL, StorageError, TrainError
from hf_quicktune.train import checkpoint as ckpt
from hf_quicktune.train import device
from hf_quicktune.train.checkpoint import TRIAL_FILE, latest_checkpoint_epoch, restore_curve
from hf_quicktune.train.config import LR_STEPPINGS, validate_config
from hf_quicktune.train.device import default_accelerator, is_oom
from hf_quicktune.train.loaders import build_transforms, limit_split, torch_dataset
from hf_quicktune.train.metrics import check_metric
from hf_quicktune.train.optim import build_scheduler, current_lr
from hf_quicktune.train.records import (
    AdvanceResult,
    EpochRecord,
    EvalScores,
    TrialStatus,
    append_records,
    finite_or_none,
    load_curve,
)
from hf_quicktune.train.state import (
    ModelFactory,
    TrainState,
    activate,
    architecture_of,
    build_state,
    checkpoint_state,
    create_model,
    model_args_of,
    release_state,
    resolve_data_config,
)
from hf_quicktune.train.step import Callback, DivergedError, EpochLoop, StopRequested

if TYPE_CHECKING:
    from accelerate import Accelerator
    from torch import nn
    from torch.utils.data import Dataset

    from hf_quicktune.data.types import PreparedDataset
    from hf_quicktune.zoo.candidate import Candidate

logger = logging.getLogger(__name__)

#: device types this process already said have no mixed precision: the searched ``amp`` is on in about half the
#: trials, and a CPU run's log said so once per trial built
_NO_AMP_SAID: set[str] = set()

__all__ = ["TRIAL_FILE", "DivergedError", "ModelFactory", "Trial", "is_oom", "latest_checkpoint_epoch",
           "restore_curve"]


class Trial:
    """One fine-tuning trial living in ``directory`` (curve, newest checkpoint, trial.json).

    ``candidate`` is a :class:`~hf_quicktune.zoo.candidate.Candidate` (built with
    ``hf_quicktune.zoo.create_model``) or a factory ``f(num_classes=..., drop_rate=...) -> timm model``.
    ``config`` uses the Quick-Tune hyperparameter names; missing keys take
    :data:`~hf_quicktune.train.config.DEFAULTS`. ``image_size`` overrides the candidate's input
    size; ``train_limit``/``eval_limit`` train/evaluate on a fixed random subset.
    ``max_micro_batch`` caps the examples per forward pass (gradient accumulation makes up the
    batch size). ``keep_in_memory`` keeps model and optimizer between :meth:`advance` calls
    instead of reloading the checkpoint. ``horizon_may_change``: the directory's checkpoints may come
    from a schedule of another length (a run re-fits its one fine-tune's ``max_epochs`` to the time the
    first epochs really took); the learning rate then continues on the new horizon from the epochs done.
    ``epoch_fraction`` < 1: each epoch trains that share of the training images, as its first shuffled batches
    (:func:`~hf_quicktune.train.step.epoch_batches`; a fresh random subset each epoch, like Lightning's
    ``limit_train_batches``), so that a run's budget can end on a whole schedule.
    ``lr_stepping``: when the learning rate moves (``"warmup"``: after every update during a warm-up, then once an
    epoch; ``"update"``: after every update; ``"epoch"``: once an epoch, timm ``train.py``'s default), see
    :attr:`~hf_quicktune.train.step.EpochLoop.lr_stepping`.
    ``metric``: the validation metric the trial is selected on (:data:`~hf_quicktune.train.metrics.METRICS`; timm
    ``train.py``'s ``--eval-metric``): its records' score, the best epoch kept and exported, a plateau schedule.
    ``accelerator`` (default: the process-wide
    :func:`~hf_quicktune.train.device.default_accelerator`) answers the process's questions (main
    process, device, precision); the in-memory state trains with an Accelerator of its own on the same
    Accelerate state (:func:`~hf_quicktune.train.device.trial_accelerator`), dropped with the state.
    """

    def __init__(
        self,
        directory: str | Path,
        candidate: Candidate | ModelFactory,
        config: dict[str, Any] | None,
        dataset: PreparedDataset,
        *,
        max_epochs: int = 50,
        image_size: int | None = None,
        train_limit: int | None = None,
        eval_limit: int | None = None,
        seed: int = 0,
        accelerator: Accelerator | None = None,
        num_workers: int | None = None,
        max_micro_batch: int | None = None,
        keep_in_memory: bool = False,
        horizon_may_change: bool = False,
        epoch_fraction: float = 1.0,
        lr_stepping: str = "warmup",
        metric: str = "top1",
    ):
        if max_epochs < 1:
            raise TrainError(f"max_epochs must be >= 1, got {max_epochs}.")
        if not 0.0 < float(epoch_fraction) <= 1.0:
            raise TrainError(f"epoch_fraction must be in (0, 1], got {epoch_fraction}.")
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
        self.horizon_may_change = horizon_may_change
        self.epoch_fraction = float(epoch_fraction)
        if lr_stepping not in LR_STEPPINGS:
            raise TrainError(f"lr_stepping must be one of {', '.join(LR_STEPPINGS)}, got {lr_stepping!r}.")
        self.lr_stepping = lr_stepping
        self.metric = check_metric(metric)
        if not hasattr(candidate, "architecture") and not callable(candidate):
            raise TrainError(f"candidate must be a zoo Candidate or a model factory, got {type(candidate).__name__}.")
        self.name: str = str(getattr(candidate, "name", None) or getattr(candidate, "__name__", "custom"))
        for split in ("train", "validation"):
            if split not in dataset.splits:
                raise TrainError(f"dataset {getattr(dataset, 'name', '?')!r} has no {split!r} split; "
                                 "prepare it with hf_quicktune.data.load (it creates one).")
        self.num_classes = int(dataset.num_classes)
        batch = self.config["batch_size"]
        self.accumulation = max(1, math.ceil(batch / max_micro_batch)) if max_micro_batch else 1
        self._state: TrainState | None = None
        self.ended_early = False  # the latest epoch was ended early by ``advance(end_early=)``
        self._data_config: dict[str, Any] | None = None
        self._train_set: Dataset | None = None
        self._val_set: Dataset | None = None
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
            **({"epoch_fraction": self.epoch_fraction} if self.epoch_fraction < 1.0 else {}),
            **({} if self.lr_stepping == "warmup" else {"lr_stepping": self.lr_stepping}),
        }

    def _write_trial_file(self) -> None:
        ckpt.write_trial_file(self.directory, self._trial_info(), write=self.accelerator.is_main_process,
                              horizon_may_change=self.horizon_may_change)

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
    def status(self) -> TrialStatus:
        """``ok`` or the status of the failure that ended the trial."""
        curve = self.curve
        return curve[-1].status if curve else TrialStatus.OK

    @property
    def finished(self) -> bool:
        return self.status != TrialStatus.OK or self.epochs_done >= self.max_epochs

    # ------------------------------------------------------------------ building
    def data_config(self, model: nn.Module | None = None) -> dict[str, Any]:
        if self._data_config is None:
            if model is None and not hasattr(self.candidate, "data_config"):
                model = self._create_model()
            self._data_config = resolve_data_config(self.candidate, self.image_size, model)
        return self._data_config

    def _create_model(self) -> nn.Module:
        return create_model(self.candidate, self.num_classes, self.config["drop"], self.image_size)

    def _loop(self) -> EpochLoop:
        assert self._state is not None, "the loop trains the in-memory state"
        return EpochLoop(self._state.accelerator, self.config, self.num_classes, self.max_epochs, self.seed,
                         self.accumulation, self.num_workers, self.epoch_fraction, self.lr_stepping)

    def _build_state(self) -> TrainState:
        device.seed_everything(self.seed)
        model = self._create_model()
        data_config = self.data_config(model)
        state, accumulation = build_state(self.directory, model, self.config, self.max_epochs)
        self.accumulation = max(self.accumulation, accumulation)
        if self.config["amp"] and self.accelerator.mixed_precision == "no":
            kind = self.accelerator.device.type
            logger.log(logging.DEBUG if kind in _NO_AMP_SAID else logging.INFO, "amp requested but this process "
                       "has no mixed precision (%s): trials with amp train in full precision here", kind)
            _NO_AMP_SAID.add(kind)
        train_tf, eval_tf = build_transforms(data_config, self.config, self.image_size)
        train = limit_split(self.dataset.splits["train"], self.train_limit, self.seed)
        val = limit_split(self.dataset.splits["validation"], self.eval_limit, self.seed)
        self._train_set, self._val_set = torch_dataset(train, train_tf), torch_dataset(val, eval_tf)
        return state

    def _eval_dataset(self, split: str) -> Dataset:
        if split not in self.dataset.splits:
            raise TrainError(f"dataset has no {split!r} split (available: {', '.join(self.dataset.splits)}).")
        _, eval_tf = build_transforms(self.data_config(), self.config, self.image_size)
        return torch_dataset(limit_split(self.dataset.splits[split], self.eval_limit, self.seed), eval_tf)

    def set_schedule(self, max_epochs: int, config: dict[str, Any] | None = None,
                     epoch_fraction: float | None = None) -> None:
        """Change the schedule's length (and the epoch-counted hyperparameters of ``config``, e.g. a run's
        rescaled ``warmup_epochs``, and the share of the images its next epochs train, ``epoch_fraction``) of a
        trial built with ``horizon_may_change``, keeping the model and optimizer in memory: the learning-rate
        scheduler is rebuilt on the new horizon and stepped to the epochs done, the same learning rate a
        rebuild from the checkpoint gives, without reloading anything."""
        if not self.horizon_may_change:
            raise TrainError("this trial's schedule is fixed; build it with horizon_may_change=True to change it.")
        if max_epochs < 1:
            raise TrainError(f"max_epochs must be >= 1, got {max_epochs}.")
        if epoch_fraction is not None and not 0.0 < float(epoch_fraction) <= 1.0:
            raise TrainError(f"epoch_fraction must be in (0, 1], got {epoch_fraction}.")
        before = self.max_epochs, self.config, self.epoch_fraction
        self.max_epochs = int(max_epochs)
        if config is not None:
            self.config = validate_config(config)
        if epoch_fraction is not None:
            self.epoch_fraction = float(epoch_fraction)
        try:
            self._write_trial_file()  # refuses a change of anything but the schedule
        except TrainError:
            self.max_epochs, self.config, self.epoch_fraction = before
            raise
        state = self._state
        if state is not None and state.scheduler is not None and self.config["sched"] != "plateau":
            # a plateau scheduler has no horizon: it keeps its state (as a rebuild from the checkpoint does)
            state.scheduler = build_scheduler(state.optimizer, self.config, self.max_epochs)
            state.scheduler.step(self.epochs_done)

    def release(self) -> None:
        """Free the in-memory model/optimizer (the checkpoint on disk is the truth)."""
        state, self._state = self._state, None
        if state is not None:
            release_state(state)
            del state  # the last reference here: the model, optimizer and their Accelerator go with it
            device.free_device_cache()

    def _ensure_state(self) -> TrainState:
        if self._state is None:
            self._state = self._build_state()
        activate(self._state)
        return self._state

    # ------------------------------------------------------------------ training
    def _run_epoch(self, state: TrainState, callback: Callback | None,
                   should_stop: Callable[[], bool] | None = None,
                   end_early: Callable[[], bool] | None = None) -> EpochRecord:
        acc, loop = self.accelerator, self._loop()
        assert self._train_set is not None and self._val_set is not None
        epoch_index = self.epochs_done
        lr = current_lr(state.optimizer)
        train_loss, images, train_seconds, note = loop.train_epoch(state, self._train_set, epoch_index, callback,
                                                                   should_stop, end_early)
        start = time.perf_counter()
        scores = loop.evaluate(state, self._val_set, confusion=True)
        eval_seconds = time.perf_counter() - start
        if not math.isfinite(scores["loss"]):
            raise DivergedError(f"validation loss is non-finite after epoch {epoch_index + 1}")
        record = EpochRecord(
            epoch=epoch_index + 1,
            val_top1=scores["top1"],
            val_top5=scores["top5"],
            val_balanced_accuracy=finite_or_none(scores["balanced_accuracy"]),
            val_macro_f1=finite_or_none(scores["macro_f1"]),
            metric=self.metric,
            val_loss=finite_or_none(scores["loss"]),
            train_loss=finite_or_none(train_loss),
            train_seconds=train_seconds,
            eval_seconds=eval_seconds,
            images_per_second=images / train_seconds if train_seconds > 0 else None,
            peak_memory_mb=device.peak_memory_mb(acc.device),
            lr=lr,
            message=note,
        )
        self.ended_early = bool(note)
        if state.scheduler is not None:
            state.scheduler.step(epoch_index + 1, scores[self.metric])
        state.rng = ckpt.rng_state()
        self._save(state, record, scores["confusion"])
        return record

    def _save(self, state: TrainState, record: EpochRecord, confusion: list[list[int]] | None = None) -> None:
        """Checkpoint the epoch: weights, training state, and a JSON of what it is, with its validation confusion
        matrix (``[true, predicted, count]`` cells: the per-class results of the exported epoch, read back by
        :func:`~hf_quicktune.train.checkpoint.checkpoint_confusion` without evaluating again)."""
        acc = state.accelerator
        acc.wait_for_everyone()
        training = checkpoint_state(state)
        if acc.is_main_process:
            model = acc.unwrap_model(state.model)
            info = {
                "epoch": record.epoch,
                "max_epochs": self.max_epochs,
                "accumulation": self.accumulation,
                "architecture": architecture_of(model, self.candidate),
                "model_args": model_args_of(model, self.candidate, self.image_size),
                "num_classes": self.num_classes,
                "label_names": list(self.dataset.class_names),
                "data_config": self.data_config(),
                "config": self.config,
                "candidate": self.name,
                "record": record.to_dict(),
                "confusion": confusion,
            }
            path = ckpt.save_checkpoint(self.directory, record.epoch, model.state_dict(), training, info)
            ckpt.update_best(self.directory, record.epoch, path)
            faults.point("curve.append")
            append_records(self.directory, [record])
        acc.wait_for_everyone()

    def _failure(self, status: TrialStatus, message: str, seconds: float) -> EpochRecord:
        record = EpochRecord(
            epoch=self.epochs_done + 1, val_top1=None, val_top5=None, val_loss=None, train_loss=None,
            train_seconds=seconds, eval_seconds=0.0, images_per_second=None, peak_memory_mb=None,
            lr=None, status=status, message=message,
        )
        if self.accelerator.is_main_process:
            append_records(self.directory, [record])
        return record

    def _advance_one(self, callback: Callback | None, should_stop: Callable[[], bool] | None = None,
                     end_early: Callable[[], bool] | None = None) -> EpochRecord | float:
        """One epoch: its record, or the seconds spent before ``should_stop`` stopped it (discarded)."""
        retried = False
        while True:
            start = time.perf_counter()
            try:
                state = self._ensure_state()
                return self._run_epoch(state, callback, should_stop, end_early)
            except StopRequested:
                self.release()  # the weights are mid-epoch: the next advance reloads the checkpoint
                return time.perf_counter() - start
            except StorageError:  # a full disk is the run's to stop on, not this configuration's failure
                self.release()
                raise
            except DivergedError as err:
                logger.warning("trial %s diverged: %s", self.directory.name, err)
                self.release()
                return self._failure(TrialStatus.DIVERGED, str(err), time.perf_counter() - start)
            except Exception as err:  # noqa: BLE001 - failures are results
                self.release()
                if isinstance(err, OSError) and err.errno in DISK_FULL:  # the curve's or best epoch's write
                    raise StorageError.writing(self.directory, err) from err
                if is_oom(err):
                    micro = math.ceil(self.config["batch_size"] / self.accumulation)
                    if not retried and micro > 1:
                        retried = True
                        self.accumulation *= 2
                        logger.warning("trial %s ran out of memory; retrying with micro-batches of %d "
                                       "(gradient accumulation x%d)", self.directory.name,
                                       math.ceil(self.config["batch_size"] / self.accumulation), self.accumulation)
                        continue
                    return self._failure(TrialStatus.OOM, f"out of memory with micro-batches of {micro}: {err}",
                                         time.perf_counter() - start)
                # the traceback goes to the log file (and the terminal with -v); the failure itself is a
                # result the caller reports once (a zoo failing 128 times prints one line, not 128 tracebacks)
                logger.info("trial %s failed", self.directory.name, exc_info=True)
                return self._failure(TrialStatus.FAILED, f"{type(err).__name__}: {err}", time.perf_counter() - start)

    def advance(self, epochs: int = 1, callback: Callback | None = None,
                should_stop: Callable[[], bool] | None = None,
                end_early: Callable[[], bool] | None = None) -> AdvanceResult:
        """Train ``epochs`` more epochs (fewer if ``should_stop`` stops it or the trial fails).

        Returns the finished epochs' records (also appended to ``curve.jsonl``) as an
        :class:`~hf_quicktune.train.records.AdvanceResult` (a list; ``.stopped``, ``.status``).
        ``callback(event, info)`` is called after each training step (``"train_step"``: step, steps, epoch and
        the step's ``lr``) and epoch (``"epoch"``), for progress bars. ``should_stop()`` (e.g. a budget) is
        polled before each epoch and after each training step; when it returns True the unfinished epoch is
        discarded, the in-memory state released (the trial continues from its newest checkpoint) and the result
        has ``stopped=True``. It should not raise: inside an epoch, an exception from it fails that epoch like
        any other error. ``end_early()`` (a budget about to end) is polled after each training step: when
        it returns True the epoch ends there and is kept (evaluated, checkpointed, its record's ``message``
        says after how many batches), and no further epoch starts (the result ends with it; ``stopped`` when
        that time had come before an epoch began).
        """
        records = AdvanceResult()
        try:
            for _ in range(int(epochs)):
                if self.finished:
                    break
                if should_stop is not None and should_stop():
                    records.stopped = True
                    break
                if end_early is not None and end_early():  # too late to start one: it would end at once
                    records.stopped = True
                    break
                outcome = self._advance_one(callback, should_stop, end_early)
                if not isinstance(outcome, EpochRecord):
                    records.stopped, records.discarded_seconds = True, outcome
                    break
                record = outcome
                records.append(record)
                if callback is not None:
                    callback("epoch", {"record": record})
                if not record.ok or self.ended_early:
                    break
        finally:
            if not self.keep_in_memory:
                self.release()
        return records

    def evaluate(self, split: str = "test", best: bool = False, confusion: bool = False) -> EvalScores:
        """Top-1/top-5 accuracy, balanced accuracy, macro-F1 and loss of the newest checkpoint on ``split`` (with ``best``: of the
        best validation epoch's weights, what :func:`~hf_quicktune.train.export.load_model` exports); with
        ``confusion``, the top-1 confusion matrix's non-zero ``[true, predicted, count]`` cells."""
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
            scores = self._loop().evaluate(state, dataset, confusion=confusion)
        finally:
            if not self.keep_in_memory:
                self.release()
        out: EvalScores = {"top1": scores["top1"], "top5": scores["top5"],
                           "balanced_accuracy": scores["balanced_accuracy"], "macro_f1": scores["macro_f1"],
                           "loss": scores["loss"], "num_examples": scores["n"]}
        if confusion:
            out["confusion"] = scores["confusion"]
        return out

    def export(self, out_dir: str | Path) -> Path:
        """Write the trained model for publishing: ``model.safetensors`` + ``config.json`` (timm's, or a
        transformers candidate's with its image processor)."""
        from hf_quicktune.train.export import export_trial

        return export_trial(self.directory, out_dir, candidate=self.candidate)

