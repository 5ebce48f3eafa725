"""The training step and the evaluation of one trial's epoch, on Accelerate.

Each optimizer step sees ``batch_size`` images, split into micro-batches when the trial runs with
gradient accumulation (after an out-of-memory retry); the loss is cross-entropy (soft targets under
mixup/cutmix, timm's ``Mixup``) plus the SP / DELTA / BSS regularizers the configuration turns on.
The running loss is checked for NaN/inf every :data:`CHECK_EVERY` steps (:class:`DivergedError`), and
a caller's ``should_stop`` is polled after every step (:class:`StopRequested`).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from hf_quicktune import faults
from hf_quicktune.train import device, layout
from hf_quicktune.train.loaders import make_loader, train_batches
from hf_quicktune.train.metrics import class_balanced_scores, confusion_cells, topk_accuracy
from hf_quicktune.train.optim import current_lr
from hf_quicktune.train.regularizers import bss_penalty
from hf_quicktune.train.strategies import (
    apply_freezing,
    frozen_parameter_names,
    linear_probing_epochs,
    set_train_mode,
)

if TYPE_CHECKING:
    from accelerate import Accelerator
    from torch.utils.data import DataLoader, Dataset

    from hf_quicktune.train.state import TrainState

#: How often (optimizer steps) the running loss is checked for NaN/inf; each check syncs the device.
CHECK_EVERY = 10

#: ``callback(event, info)`` of :meth:`~hf_quicktune.train.trial.Trial.advance`.
Callback = Callable[[str, dict[str, Any]], None]


class DivergedError(Exception):
    """Raised inside an epoch when the loss stops being finite."""


class StopRequested(Exception):
    """Raised inside an epoch when the caller's ``should_stop`` says so; caught by
    :meth:`~hf_quicktune.train.trial.Trial.advance` (it never leaves the engine)."""


#: tolerance of a fraction on the batch grid (``k * batch_size / images`` read back as ``k`` batches)
_GRID_TOLERANCE = 1e-6


def epoch_batches(batches: int, fraction: float = 1.0, *, images: int | None = None,
                  batch_size: int | None = None) -> int:
    """The batches an epoch of ``fraction`` of the training images trains out of the loader's ``batches``
    (at least one): the fewest whose ``batch_size`` images each reach ``fraction`` of ``images``; without
    them, ``fraction`` of the batches (rounded up)."""
    if fraction >= 1.0:
        return batches
    per_epoch = images / batch_size if images and batch_size else batches
    return max(1, min(batches, math.ceil(fraction * per_epoch - _GRID_TOLERANCE)))


def grid_fraction(fraction: float, images: int, batch_size: int) -> float:
    """``fraction`` of an epoch's ``images`` moved down onto whole batches of ``batch_size``: the share of the
    images that the most batches within it train (one batch at least; 1.0 when that is all of them), which is
    what :func:`epoch_batches` then trains. A share between two batch counts trained the larger one, so a
    schedule priced by its share took longer than planned (up to a batch an epoch: on 100 images at batch 32
    a share of 0.3 trained 0.64; benchmarks/epoch_fraction_grid.py)."""
    if fraction >= 1.0 or images <= 0 or batch_size <= 0:
        return min(1.0, fraction)
    whole = train_batches(images, batch_size)
    k = max(1, math.floor(fraction * images / batch_size + _GRID_TOLERANCE))
    return 1.0 if k >= whole else k * batch_size / images


@dataclass
class EpochLoop:
    """How one trial trains and evaluates: its Accelerator, configuration and batch split."""

    accelerator: Accelerator
    config: dict[str, Any]
    num_classes: int
    max_epochs: int
    seed: int
    accumulation: int
    num_workers: int | None
    #: the share of the training images an epoch trains, as its first shuffled batches (:func:`epoch_batches`;
    #: Lightning's ``limit_train_batches``): each epoch a fresh random subset, as the shuffle is drawn per epoch
    epoch_fraction: float = 1.0
    #: when the learning rate moves (:data:`~hf_quicktune.train.config.LR_STEPPINGS`): ``"warmup"`` (default)
    #: after every update while a warm-up lasts, then once an epoch; ``"update"`` after every update (timm's
    #: ``--sched-on-updates``); ``"epoch"`` once an epoch (timm ``train.py``'s default)
    lr_stepping: str = "warmup"

    def _advance_lr(self, state: TrainState, epoch_index: int, step: int, total_batches: int) -> None:
        """Set the learning rate of the next update to the schedule's value at epoch ``epoch_index + step /
        total_batches`` where :attr:`lr_stepping` says so. Stepped once an epoch, a warm-up trains its whole first
        epoch at ``warmup_lr`` (1e-6 by default): a 2-epoch warm-up's first epoch ended at 7-14 % top-1 on digits
        (chance), 38-39 % with the warm-up per update. After the warm-up, moving a cosine per update lowers the area
        under the lr of a short schedule: mean final top-1 of 3 seeds 0.849 vs 0.873 once an epoch (3-epoch
        cosine), 0.854 vs 0.897 for "warmup" (2 warm-up epochs + cosine, 5 epochs) (``benchmarks/lr_stepping.py``).
        A plateau scheduler reacts to the validation score, once an epoch, whatever the stepping."""
        if self.lr_stepping == "epoch" or state.scheduler is None:
            return
        t = epoch_index + step / total_batches
        in_warmup = t <= self.config["warmup_epochs"]
        if in_warmup or (self.lr_stepping == "update" and self.config["sched"] != "plateau"):
            state.scheduler.step(t)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        return device.autocast(self.accelerator, bool(self.config["amp"]))

    def loader(self, dataset: Dataset, *, shuffle: bool, epoch: int = 0) -> DataLoader:
        """Training batches of ``batch_size``; evaluation batches of the micro-batch size (what fits)."""
        acc = self.accelerator
        batch_size = self.config["batch_size"]
        if not shuffle:
            batch_size = math.ceil(batch_size / self.accumulation)
        loader = make_loader(dataset, batch_size, shuffle=shuffle, seed=self.seed, epoch=epoch,
                             num_workers=self.num_workers, pin_memory=acc.device.type == "cuda")
        return acc.prepare_data_loader(loader)

    def mixup(self) -> Any:
        cfg = self.config
        if (cfg["mixup"] > 0 or cfg["cutmix"] > 0) and cfg["mixup_prob"] > 0:
            from timm.data import Mixup

            return Mixup(mixup_alpha=cfg["mixup"], cutmix_alpha=cfg["cutmix"], prob=cfg["mixup_prob"],
                         label_smoothing=cfg["smoothing"], num_classes=self.num_classes)
        return None

    def train_epoch(self, state: TrainState, dataset: Dataset, epoch_index: int, callback: Callback | None = None,
                    should_stop: Callable[[], bool] | None = None,
                    end_early: Callable[[], bool] | None = None) -> tuple[float, int, float, str]:
        """Train one epoch; returns (mean train loss, images seen, seconds, a note: "" or how it ended early).
        ``end_early()`` true after a step ends the epoch there (kept: evaluated and saved by the caller);
        ``should_stop()`` true raises :class:`StopRequested` (the epoch is discarded)."""
        acc, cfg = self.accelerator, self.config
        lp = cfg["linear_probing"] and epoch_index < linear_probing_epochs(self.max_epochs)
        apply_freezing(state.raw_model, frozen_parameter_names(state.raw_model, cfg["pct_to_freeze"], lp))
        set_train_mode(state.model)
        params = [p for p in state.raw_model.parameters() if p.requires_grad]
        mixup = self.mixup()
        loader = self.loader(dataset, shuffle=True, epoch=epoch_index)
        total_batches = epoch_batches(len(loader), self.epoch_fraction, images=len(dataset),
                                      batch_size=cfg["batch_size"] * acc.num_processes)
        loss_sum = torch.zeros((), device=acc.device)
        seen, note = 0, ""
        start = time.perf_counter()
        device.reset_peak_memory(acc.device)
        for step, batch in enumerate(loader):
            if step >= total_batches:
                break
            x, y = layout.batch_layout(batch["pixel_values"], state.channels_last), batch["label"]
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
                    with self.autocast():
                        loss, total = self._loss(state, xc, tc)
                    acc.backward(total * (len(idx) / n))  # Accelerate scales the loss under fp16
                loss_sum += loss.detach() * len(idx)
            if cfg["clip_grad"]:
                acc.clip_grad_norm_(params, cfg["clip_grad"])  # unscales first under fp16
            step_lr = current_lr(state.optimizer)
            state.optimizer.step()  # Accelerate's optimizer: the scaler's step and update under fp16
            state.optimizer.zero_grad(set_to_none=True)
            self._advance_lr(state, epoch_index, step + 1, total_batches)
            seen += n
            faults.point("train.step")
            if (step + 1) % CHECK_EVERY == 0 and not torch.isfinite(loss_sum):
                raise DivergedError(f"training loss became non-finite at step {step + 1} of epoch {epoch_index + 1}")
            if callback is not None:
                callback("train_step", {"step": step + 1, "steps": total_batches, "epoch": epoch_index + 1,
                                        "lr": step_lr})
            if end_early is not None and step + 1 < total_batches and end_early():
                note = f"ended early at the budget's end after {step + 1} of {total_batches} batches"
                break
            if should_stop is not None and should_stop():
                raise StopRequested()
        seconds = time.perf_counter() - start
        mean_loss = (loss_sum / max(seen, 1)).item()
        if not math.isfinite(mean_loss):
            raise DivergedError(f"training loss became non-finite in epoch {epoch_index + 1}")
        return mean_loss, seen * acc.num_processes, seconds, note

    def _loss(self, state: TrainState, x: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the data loss, the loss with the regularizers) of one micro-batch."""
        cfg = self.config
        logits = state.model(x)
        if target.ndim == 2:
            loss = torch.sum(-target * F.log_softmax(logits.float(), dim=-1), dim=-1).mean()
        else:
            loss = F.cross_entropy(logits.float(), target, label_smoothing=cfg["smoothing"])
        total = loss
        if state.tap is not None:
            feats = state.tap.pop()
            if state.delta is not None:
                total = total + state.delta(x, feats)
            if cfg["bss_reg"] > 0:
                total = total + bss_penalty(feats, cfg["bss_reg"])
        if state.sp is not None:
            total = total + state.sp()
        return loss, total

    @torch.no_grad()
    def evaluate(self, state: TrainState, dataset: Dataset, confusion: bool = False) -> dict[str, Any]:
        """Top-1/top-5 accuracy (top-5 None under 5 classes), balanced accuracy, macro-F1, mean loss and the number
        of examples; with ``confusion``, the top-1 confusion matrix too (``confusion``: its non-zero cells,
        ``[true, predicted, count]``, :func:`~hf_quicktune.train.metrics.confusion_cells`)."""
        acc = self.accelerator
        state.model.eval()
        loader = self.loader(dataset, shuffle=False)
        k = min(5, self.num_classes)
        ranks, labels, losses = [], [], []
        for batch in loader:
            x, y = layout.batch_layout(batch["pixel_values"], state.channels_last), batch["label"]
            with self.autocast():
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
        scores = topk_accuracy(ranks_t, labels_t, ks=(1, 5))
        balanced = class_balanced_scores(ranks_t[:, 0], labels_t, self.num_classes)
        out: dict[str, Any] = {
            "top1": scores["top1"],
            "top5": scores.get("top5") if self.num_classes >= 5 else None,
            "balanced_accuracy": balanced["balanced_accuracy"],
            "macro_f1": balanced["macro_f1"],
            "loss": float(losses_t.mean()),
            "n": len(labels_t),
        }
        if confusion:
            out["confusion"] = confusion_cells(ranks_t[:, 0], labels_t, self.num_classes)
        return out
