"""What the engine asks of Accelerate: each in-memory trial state trains with an Accelerator of its own,
so nothing of a released trial stays alive in the process (many trials in one run), and seeding goes
through Accelerate."""

from __future__ import annotations

import gc
import random
import weakref

import numpy as np
import torch

from hf_quicktune.train import Trial
from hf_quicktune.train.device import default_accelerator, seed_everything, trial_accelerator

KW = {"max_epochs": 3, "image_size": 32, "num_workers": 0}


def _alive(refs: list[weakref.ref]) -> int:
    gc.collect()  # a test may collect; the engine does not (see trial_accelerator)
    return sum(ref() is not None for ref in refs)


def test_trial_states_have_their_own_accelerator_and_nothing_of_a_released_trial_stays(tmp_path, tiny_dataset,
                                                                                         tiny_model):
    process_acc = default_accelerator()
    trials = [Trial(tmp_path / name, tiny_model, {"batch_size": 8, "clip_grad": 1.0}, tiny_dataset,
                    keep_in_memory=True, **KW) for name in "abcd"]
    refs: list[weakref.ref] = []
    for trial in (*trials, trials[0], trials[1]):  # interleaved, as the search switches trials
        assert trial.advance(1)[0].ok
        state = trial._state
        assert state is not None
        # the state's Accelerator prepared its model and optimizer, and is none of the others'
        assert state.accelerator is not process_acc
        assert process_acc.unwrap_model(state.model) is state.raw_model
        refs += [weakref.ref(state.raw_model), weakref.ref(state.optimizer), weakref.ref(state.accelerator)]
    del state  # this test's own reference
    accelerators = {id(t._state.accelerator) for t in trials if t._state is not None}
    assert len(accelerators) == len(trials)
    assert _alive(refs) == len(refs)  # kept in memory: every state alive while its trial holds it
    for trial in trials:
        trial.release()
    # neither the process-wide Accelerator nor anything else keeps a released trial's objects alive
    assert _alive(refs) == 0
    assert [r.epoch for r in trials[0].curve] == [1, 2] and [r.epoch for r in trials[2].curve] == [1]


def test_a_trial_not_kept_in_memory_leaves_nothing_alive_after_each_advance(tmp_path, tiny_dataset, tiny_model):
    trial = Trial(tmp_path / "t", tiny_model, {"batch_size": 8}, tiny_dataset, **KW)
    seen: list[weakref.ref] = []
    original = trial._build_state

    def build():  # the engine's own build, watched
        state = original()
        seen.extend([weakref.ref(state.raw_model), weakref.ref(state.accelerator)])
        return state

    trial._build_state = build  # type: ignore[method-assign]
    for epoch in (1, 2):
        assert trial.advance(1)[0].epoch == epoch
        assert trial._state is None and len(seen) == 2 * epoch
        assert _alive(seen) == 0


def test_trial_accelerator_shares_the_process_state_and_tracks_only_its_own():
    process_acc = default_accelerator()
    one, two = trial_accelerator(), trial_accelerator()
    assert one is not two and one is not process_acc
    assert one.device == process_acc.device and one.mixed_precision == process_acc.mixed_precision
    assert one.num_processes == process_acc.num_processes
    model = one.prepare_model(torch.nn.Linear(2, 2))
    ref = weakref.ref(model)
    del model, one
    assert _alive([ref]) == 0  # the Accelerator that prepared it was the last holder


def test_seed_everything_seeds_python_numpy_and_torch():
    seed_everything(7)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    seed_everything(7)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
    seed_everything(8)
    assert random.random() != first[0]
