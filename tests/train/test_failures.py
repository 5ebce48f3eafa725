"""Failures are results: divergence, out-of-memory (with one retry), other exceptions."""

from __future__ import annotations

import torch
from torch import nn

from hf_quicktune.train import Trial
from hf_quicktune.train.device import is_oom, mixed_precision_for

KW = {"max_epochs": 4, "image_size": 32, "num_workers": 0}


def test_absurd_learning_rate_diverges(tmp_path, tiny_dataset, tiny_model):
    trial = Trial(tmp_path, tiny_model, {"lr": 1e6, "opt": "sgd", "momentum": 0.9, "batch_size": 4,
                                         "weight_decay": 0.0, "sched": "none"}, tiny_dataset, **KW)
    records = trial.advance(3)
    assert [r.status for r in records] == ["diverged"]
    assert records[0].val_top1 is None and "non-finite" in records[0].message
    assert trial.finished and trial.status == "diverged" and trial.advance(1) == []
    assert trial.curve[-1].status == "diverged"


class MemoryLimited(nn.Module):
    """Wraps a timm model and raises torch's OOM error for forward passes above ``limit`` images,
    like a GPU that only fits that many."""

    def __init__(self, inner: nn.Module, limit: int):
        super().__init__()
        self.inner, self.limit = inner, limit
        self.batch_sizes: list[int] = []

    def get_classifier(self):
        return self.inner.get_classifier()

    @property
    def pretrained_cfg(self):
        return self.inner.pretrained_cfg

    def forward(self, x):
        if self.training:
            self.batch_sizes.append(x.shape[0])
        if x.shape[0] > self.limit:
            raise torch.OutOfMemoryError(f"CUDA out of memory (simulated, batch {x.shape[0]} > {self.limit})")
        return self.inner(x)


class LimitedFactory:
    def __init__(self, base, limit):
        self.base, self.limit, self.built = base, limit, []
        self.__name__ = "limited"

    def __call__(self, num_classes, drop_rate=0.0):
        model = MemoryLimited(self.base(num_classes=num_classes, drop_rate=drop_rate), self.limit)
        self.built.append(model)
        return model


def test_oom_retries_with_half_micro_batch(tmp_path, tiny_dataset, tiny_model):
    factory = LimitedFactory(tiny_model, limit=4)
    trial = Trial(tmp_path, factory, {"batch_size": 8, "lr": 0.01}, tiny_dataset, **KW)
    records = trial.advance(2)
    assert [r.status for r in records] == ["ok", "ok"]
    assert trial.accumulation == 2
    assert max(factory.built[-1].batch_sizes) == 4  # micro-batches of 4 make up batches of 8
    # the accumulation factor is kept with the checkpoint: a fresh Trial does not OOM again
    again = Trial(tmp_path, LimitedFactory(tiny_model, limit=4), {"batch_size": 8, "lr": 0.01}, tiny_dataset, **KW)
    assert again.advance(1)[0].ok and again.accumulation == 2


def test_oom_twice_is_recorded(tmp_path, tiny_dataset, tiny_model):
    trial = Trial(tmp_path, LimitedFactory(tiny_model, limit=2), {"batch_size": 8}, tiny_dataset, **KW)
    (record,) = trial.advance(2)
    assert record.status == "oom" and "micro-batches of 4" in record.message
    assert trial.finished and trial.epochs_done == 0


class Exploding:
    __name__ = "exploding"

    def __init__(self, base):
        self.base = base

    def __call__(self, num_classes, drop_rate=0.0):
        model = self.base(num_classes=num_classes, drop_rate=drop_rate)

        def boom(module, args):
            raise ValueError("corrupt batch")

        model.get_classifier().register_forward_pre_hook(boom)
        return model


def test_other_exceptions_are_recorded_and_engine_stays_usable(tmp_path, tiny_dataset, tiny_model):
    (record,) = Trial(tmp_path / "bad", Exploding(tiny_model), {"batch_size": 8}, tiny_dataset, **KW).advance(1)
    assert record.status == "failed" and record.message == "ValueError: corrupt batch"
    (ok,) = Trial(tmp_path / "good", tiny_model, {"batch_size": 8}, tiny_dataset, **KW).advance(1)
    assert ok.status == "ok"


def test_mixed_precision_per_device():
    assert mixed_precision_for("cuda", bf16_supported=True) == "bf16"
    assert mixed_precision_for("cuda", bf16_supported=False) == "fp16"  # Accelerate adds its loss scaler
    assert mixed_precision_for("cpu", bf16_supported=False) == "no"


def test_out_of_memory_errors_are_recognised():
    assert is_oom(torch.OutOfMemoryError("CUDA out of memory (simulated)"))
    assert is_oom(MemoryError())
    assert is_oom(RuntimeError("[enforce fail at alloc_cpu.cpp:116] DefaultCPUAllocator: can't allocate memory"))
    assert not is_oom(RuntimeError("shape mismatch"))
    assert not is_oom(ValueError("out of memory"))


class Poisoned:
    """Builds ``base``'s models with a forward hook that makes the outputs NaN once ``poison`` is set."""

    __name__ = "poisoned"

    def __init__(self, base):
        self.base, self.poison = base, False

    def __call__(self, num_classes, drop_rate=0.0):
        model = self.base(num_classes=num_classes, drop_rate=drop_rate)
        model.get_classifier().register_forward_hook(
            lambda module, args, out: out * float("nan") if self.poison else out)
        return model


def test_a_trial_that_diverges_after_its_best_epoch_keeps_that_epochs_weights(tmp_path, tiny_dataset, tiny_model):
    """The run exports a failed trial's best epoch (run/finalize.pick_incumbent): the diverged epoch writes no
    checkpoint, so the best epoch's weights are there to load, as they were validated."""
    from hf_quicktune.train import best_epoch, checkpoint_info, load_model

    factory = Poisoned(tiny_model)
    trial = Trial(tmp_path, factory, {"batch_size": 8, "lr": 0.01}, tiny_dataset, **KW)
    good = trial.advance(2)
    factory.poison = True
    (bad,) = trial.advance(1)
    assert [r.status for r in good] == ["ok", "ok"] and bad.status == "diverged" and bad.epoch == 3
    best = max(good, key=lambda r: r.val_top1)  # ties: the earlier epoch
    assert best_epoch(tmp_path) == best.epoch
    assert checkpoint_info(tmp_path, best=True)["record"]["val_top1"] == best.val_top1
    model = load_model(tmp_path, tiny_model, best=True)
    assert all(torch.isfinite(p).all() for p in model.parameters())
