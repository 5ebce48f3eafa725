"""The per-replay diagnostics of benchmarks/parallel_regret.py (where a parallel replay's time to the target went)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from hf_quicktune.bench.replay import Trace

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "parallel_regret.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("parallel_regret", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_winner_timing_splits_the_time_to_the_target_into_start_own_epochs_and_pauses(script):
    costs = np.array([[2.0, 2.0, 2.0], [1.0, 3.0, 5.0]])
    # two workers: trial 0 epochs end at 2, 4 then it pauses 3 s (4 -> 9 with its 2 s epoch); trial 1 starts at 0
    tr = Trace(time=[1.0, 2.0, 4.0, 4.0, 9.0], incumbent=[0.2, 0.3, 0.5, 0.6, 0.9],
               visits=[[1, 1], [0, 1], [0, 2], [1, 2], [0, 3]])
    winner, start, own, pause = script.winner_timing(tr, target=0.0, best=0.9, worst=0.0, budget=20.0, costs=costs)
    assert (winner, start, own, pause) == (0, 0.0, 6.0, 3.0)
    assert start + own + pause == tr.time[4]  # the time the target was first reached
    # a trace point may tell several epochs (the sequential replay tells a job's epochs at once)
    seq = Trace(time=[4.0, 9.0], incumbent=[0.5, 0.9], visits=[[1, 2], [0, 2]])
    assert script.winner_timing(seq, 0.0, 0.9, 0.0, 20.0, costs) == (0, 5.0, 4.0, 0.0)
    missed = script.winner_timing(seq, 0.0, 1.0, 0.0, 20.0, costs)  # regret 0 is never reached
    assert missed[0] == -1 and all(math.isnan(v) for v in missed[1:])


def test_the_summary_says_which_machines_the_traces_were_replayed_on(script):
    here = {"cpu": "CPU A", "torch": "2.13.0"}
    traces = [Trace(machine=here), Trace(machine=dict(here)), Trace(machine={"cpu": "CPU B", "torch": "2.13.0"}),
              Trace()]  # a trace saved before the record existed
    text = script.machines_text(traces)
    assert text.startswith("replayed on: cpu CPU A, torch 2.13.0: 2 replays; ")
    assert "cpu CPU B, torch 2.13.0: 1 replays" in text and "no record: 1 replays" in text
