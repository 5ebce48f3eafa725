"""``Trial.advance(should_stop=...)``: a budget stops training between steps, the unfinished epoch is
discarded and the trial continues from its newest checkpoint as if it had never been stopped."""

from __future__ import annotations

import pytest
import torch

from hf_quicktune.train import Trial
from hf_quicktune.train.records import AdvanceResult

CONFIG = {"lr": 0.02, "batch_size": 8, "opt": "momentum", "sched": "cosine", "mixup": 0.4, "drop": 0.2}
KW = {"max_epochs": 4, "image_size": 32, "num_workers": 0}
STEPS_PER_EPOCH = 3  # 24 training images, batches of 8


class StopAfter:
    """``should_stop`` that returns True from its ``n``-th poll on (counts the polls)."""

    def __init__(self, n: int):
        self.n, self.polls = n, 0

    def __call__(self) -> bool:
        self.polls += 1
        return self.polls >= self.n


class CountingFactory:
    def __init__(self, base):
        self.base, self.built = base, 0
        self.__name__ = "counting"

    def __call__(self, num_classes, drop_rate=0.0):
        self.built += 1
        return self.base(num_classes=num_classes, drop_rate=drop_rate)


@pytest.mark.parametrize("keep_in_memory", [False, True])
def test_stop_mid_epoch_discards_it_and_continues_exactly(tmp_path, tiny_dataset, tiny_model, keep_in_memory):
    torch.use_deterministic_algorithms(True)
    try:
        whole = Trial(tmp_path / "whole", tiny_model, CONFIG, tiny_dataset, **KW).advance(3)
        trial = Trial(tmp_path / "stopped", tiny_model, CONFIG, tiny_dataset, keep_in_memory=keep_in_memory, **KW)
        # polls: 1 before epoch 1, 3 after its steps, 1 before epoch 2, then 2 steps into epoch 2
        stop = StopAfter(1 + STEPS_PER_EPOCH + 1 + 2)
        steps: list[int] = []
        result = trial.advance(3, callback=lambda e, info: steps.append(info.get("step", 0)),
                               should_stop=stop)
        assert isinstance(result, AdvanceResult)
        assert result.stopped and result.status == "stopped" and result.discarded_seconds > 0
        assert [r.epoch for r in result] == [1] and result[0].ok
        assert steps == [1, 2, 3, 0, 1, 2]  # epoch 1's steps, its "epoch" event, 2 steps of epoch 2
        assert trial.epochs_done == 1 and [r.epoch for r in trial.curve] == [1]
        assert trial.status == "ok" and not trial.finished
        if keep_in_memory:
            assert trial._state is None  # mid-epoch weights released, reloaded from the checkpoint
        rest = trial.advance(2)
        assert not rest.stopped and rest.status == "ok"
    finally:
        torch.use_deterministic_algorithms(False)
    got = [v for r in list(result) + list(rest) for v in (r.epoch, r.val_top1, r.val_loss, r.train_loss, r.lr)]
    want = [v for r in whole for v in (r.epoch, r.val_top1, r.val_loss, r.train_loss, r.lr)]
    assert got == pytest.approx(want, rel=1e-5)


def test_stop_before_an_epoch_builds_nothing(tmp_path, tiny_dataset, tiny_model):
    factory = CountingFactory(tiny_model)
    trial = Trial(tmp_path, factory, CONFIG, tiny_dataset, **KW)
    result = trial.advance(2, should_stop=lambda: True)
    assert result == [] and result.stopped and result.discarded_seconds == 0.0
    assert factory.built == 0 and trial.epochs_done == 0 and not (tmp_path / "curve.jsonl").exists()


def test_without_should_stop_the_result_is_not_stopped(tmp_path, tiny_dataset, tiny_model):
    result = Trial(tmp_path, tiny_model, CONFIG, tiny_dataset, **KW).advance(1, should_stop=lambda: False)
    assert [r.epoch for r in result] == [1] and not result.stopped and result.status == "ok"
