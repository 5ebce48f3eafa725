"""What the engine asks of Accelerate: the Accelerator tracks only the trial that trains (models of
released or other trials are not kept alive by it), and seeding goes through Accelerate."""

from __future__ import annotations

import random

import numpy as np
import torch

from hf_quicktune.train import Trial
from hf_quicktune.train.device import default_accelerator, seed_everything

KW = {"max_epochs": 3, "image_size": 32, "num_workers": 0}


def _tracked(acc) -> tuple[list, list]:
    # Accelerate keeps what it prepared in these lists (used by save_state and gradient unscaling)
    return list(acc._models), list(acc._optimizers)


def test_only_the_training_trial_is_tracked_and_release_drops_it(tmp_path, tiny_dataset, tiny_model):
    acc = default_accelerator()
    a = Trial(tmp_path / "a", tiny_model, {"batch_size": 8}, tiny_dataset, keep_in_memory=True, **KW)
    b = Trial(tmp_path / "b", tiny_model, {"batch_size": 8}, tiny_dataset, keep_in_memory=True, **KW)
    for trial in (a, b, a):
        assert trial.advance(1)[0].ok
        models, optimizers = _tracked(acc)
        assert len(models) == 1 and models[0] is trial._state.model
        assert len(optimizers) == 1 and optimizers[0] is trial._state.optimizer
    a.release()
    b.release()
    assert _tracked(acc) == ([], [])
    assert [r.epoch for r in a.curve] == [1, 2] and [r.epoch for r in b.curve] == [1]


def test_seed_everything_seeds_python_numpy_and_torch():
    seed_everything(7)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    seed_everything(7)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
    seed_everything(8)
    assert random.random() != first[0]
