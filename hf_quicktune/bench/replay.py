"""Replay one dataset of a meta-dataset as a tabular benchmark for one optimizer.

Each step: ``ask(max_cost=budget left)`` → look up the recorded accuracy and seconds of that (run, epoch) → ``tell``.
The simulated clock advances by the recorded epoch cost **plus the optimizer's own measured
overhead**: the seconds of that ``ask`` + ``tell``, by default as CPU time of this process
(``time.process_time``), which other processes on a shared machine do not inflate (run torch with
one thread so that CPU time equals the wall time it would take on an idle core); ``clock="wall"``
measures wall-clock instead. A run that ended in the meta-dataset
before the requested epoch is told ``status="failed"`` (no score, no cost).

``workers=N > 1`` simulates N asynchronous workers (:func:`replay_workers`): every free worker asks,
each epoch ends at its recorded cost on a simulated clock, and results are told in finish-time order.
"""

from __future__ import annotations

import heapq
import platform
import time
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np

from hf_quicktune.search.base import FAILED, Optimizer

EXHAUSTED = "optimizer exhausted"  # Trace.stop when ask() returned None before the budget was spent
#: Trace.stop when ask(max_cost=budget left) returned None while the pool still had steps: none was predicted
#: to fit in what was left of the budget (the run loop stops there too)
NOTHING_FITS = "nothing fits"


@dataclass
class Trace:
    """One (method, dataset, seed) replay: per step the clock, epochs spent and incumbent."""

    time: list[float] = field(default_factory=list)  # simulated seconds after the step (costs + overhead)
    epochs: list[int] = field(default_factory=list)  # epochs trained so far
    incumbent: list[float] = field(default_factory=list)  # best accuracy observed so far
    overhead: float = 0.0  # total optimizer seconds
    steps: int = 0
    trials: int = 0
    stop: str = ""
    visits: list[list[int]] = field(default_factory=list)  # [trial_id, epoch reached] per step (diagnostics)
    machine: dict[str, str] = field(default_factory=dict)  # where it was replayed (:func:`machine_info`)

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time, "epochs": self.epochs, "incumbent": self.incumbent,
            "overhead": self.overhead, "steps": self.steps, "trials": self.trials, "stop": self.stop,
            "visits": self.visits, "machine": self.machine,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trace:
        return cls(**d)


#: the packages whose arithmetic a gray-box replay's decisions depend on
MACHINE_PACKAGES = ("torch", "numpy", "scipy", "scikit-learn", "gpytorch", "linear_operator")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, str]:
    """Where a replay ran: the CPU model, its architecture and the versions of :data:`MACHINE_PACKAGES`. A gray-box
    replay's decisions follow the surrogate's floating-point fits, which can differ in the last digits between CPUs
    and library builds, and one such difference can send a search down another path: a replay is reproducible
    on one machine, not across machines (benchmarks/README, parallel row, session 34)."""
    info = {"cpu": cpu_model(), "arch": platform.machine()}
    for name in MACHINE_PACKAGES:
        try:
            info[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return info


def _why_none(optimizer: Optimizer) -> str:
    """Why ``ask(max_cost=...)`` returned None: :data:`NOTHING_FITS` when an ask without the cap still has a
    suggestion (released again), else :data:`EXHAUSTED`."""
    probe = optimizer.ask()
    if probe is None:
        return EXHAUSTED
    optimizer.release(probe.trial_id)
    return NOTHING_FITS


def replay(
    optimizer: Optimizer,
    curves: np.ndarray,
    costs: np.ndarray,
    time_budget: float,
    max_steps: int | None = None,
    count_overhead: bool = True,
    max_wall: float | None = None,
    clock: str = "cpu",
    workers: int = 1,
) -> Trace:
    """Drive ``optimizer`` on recorded ``curves``/``costs`` (rows = its pool) until ``time_budget``.

    ``max_wall`` (real seconds) truncates an expensive replay: the trace then ends with
    ``stop="wall cap"`` and regret past its last step is unknown (NaN), never extrapolated.
    ``workers > 1``: :func:`replay_workers`.
    """
    if workers > 1:
        return replay_workers(optimizer, curves, costs, time_budget, workers, max_steps=max_steps,
                              count_overhead=count_overhead, max_wall=max_wall, clock=clock)
    if curves.shape[0] != len(optimizer.pool):
        raise ValueError(f"{curves.shape[0]} recorded runs for a pool of {len(optimizer.pool)}")
    trace = Trace()
    sim_time, epochs, best = 0.0, 0, float("-inf")
    seen: set[int] = set()
    max_steps = max_steps if max_steps is not None else 10 * curves.size
    if clock not in ("cpu", "wall"):
        raise ValueError("clock must be 'cpu' or 'wall'")
    timer = time.process_time if clock == "cpu" else time.perf_counter
    wall_start = time.perf_counter()
    while sim_time < time_budget and trace.steps < max_steps:
        if max_wall is not None and time.perf_counter() - wall_start > max_wall:
            trace.stop = "wall cap"
            break
        t0 = timer()
        sug = optimizer.ask(max_cost=time_budget - sim_time)  # as the run loop passes the time left
        overhead = timer() - t0
        if sug is None:
            trace.stop = _why_none(optimizer)
            break
        tid = sug.trial_id
        st = optimizer.trials.get(tid)
        start = (st.epochs if st else 0) + 1
        step_cost = 0.0
        for e in range(start, sug.epoch + 1):  # a suggestion may ask for several epochs at once
            score = curves[tid, e - 1] if e <= curves.shape[1] else np.nan
            t0 = timer()
            if not np.isfinite(score):
                optimizer.tell(tid, e, None, 0.0, status=FAILED)
                overhead += timer() - t0
                break
            cost = float(costs[tid, e - 1])
            optimizer.tell(tid, e, float(score), cost)
            overhead += timer() - t0
            step_cost += cost
            epochs += 1
            best = max(best, float(score))
        seen.add(tid)
        trace.overhead += overhead
        sim_time += step_cost + (overhead if count_overhead else 0.0)
        trace.steps += 1
        trace.time.append(sim_time)
        trace.epochs.append(epochs)
        trace.incumbent.append(best)
        st = optimizer.trials.get(tid)
        trace.visits.append([int(tid), int(st.epochs if st else 0)])
    else:
        trace.stop = "budget" if sim_time >= time_budget else "max steps"
    trace.trials = len(seen)
    return trace


def replay_workers(
    optimizer: Optimizer,
    curves: np.ndarray,
    costs: np.ndarray,
    time_budget: float,
    workers: int,
    max_steps: int | None = None,
    count_overhead: bool = True,
    max_wall: float | None = None,
    clock: str = "cpu",
) -> Trace:
    """``workers`` asynchronous workers on a simulated clock (what ``run --workers N`` does on real time).

    Every free worker asks the optimizer for a job (never a trial in flight: ``Optimizer.ask``); the job
    trains its epochs one after the other on that worker, each ending ``costs[trial, epoch]`` seconds after
    the previous one. Events are processed in finish-time order: the optimizer is told each epoch as it
    ends (so results arrive out of ask order across workers) and the trace gains a point (clock, epochs,
    incumbent) per told epoch. The optimizer runs on one driver: its measured ask/tell seconds advance the
    clock at which the next jobs start (serially, as one driver process would). The replay ends at the
    first event past ``time_budget`` (epochs still running then are lost), or when ``ask`` has nothing to
    suggest and nothing is running (``stop=EXHAUSTED``, or ``NOTHING_FITS`` when steps were left that
    the optimizer predicted to end past the budget). With ``workers=1`` this is :func:`replay` told
    epoch by epoch.
    """
    if workers < 1:
        raise ValueError("workers must be >= 1")
    if curves.shape[0] != len(optimizer.pool):
        raise ValueError(f"{curves.shape[0]} recorded runs for a pool of {len(optimizer.pool)}")
    if clock not in ("cpu", "wall"):
        raise ValueError("clock must be 'cpu' or 'wall'")
    timer = time.process_time if clock == "cpu" else time.perf_counter
    max_steps = max_steps if max_steps is not None else 10 * curves.size
    trace = Trace()
    now, epochs, best, free = 0.0, 0, float("-inf"), int(workers)
    events: list[tuple[float, int, int, int, int]] = []  # (finish time, order, trial, epoch, job's last epoch)
    seen: set[int] = set()
    order = 0
    wall_start = time.perf_counter()

    def epoch_cost(tid: int, e: int) -> float:
        ok = e <= curves.shape[1] and np.isfinite(curves[tid, e - 1])
        return float(costs[tid, e - 1]) if ok else 0.0  # a run that ended: failed at once

    exhausted = False
    while True:
        while free and now < time_budget and trace.steps < max_steps:
            if max_wall is not None and time.perf_counter() - wall_start > max_wall:
                trace.stop = "wall cap"
                break
            t0 = timer()
            sug = optimizer.ask(max_cost=time_budget - now)
            overhead = timer() - t0
            trace.overhead += overhead
            now += overhead if count_overhead else 0.0
            if sug is None:
                exhausted = not events
                break
            exhausted = False
            st = optimizer.trials.get(sug.trial_id)
            first = (st.epochs if st else 0) + 1
            heapq.heappush(events, (now + epoch_cost(sug.trial_id, first), order, sug.trial_id, first, sug.epoch))
            order += 1
            free -= 1
            trace.steps += 1
            seen.add(sug.trial_id)
        if trace.stop == "wall cap":
            break
        if not events:
            trace.stop = _why_none(optimizer) if exhausted else ("budget" if now >= time_budget else "max steps")
            break
        finish, _, tid, e, last = heapq.heappop(events)
        if finish > time_budget:
            trace.stop = "budget"
            break
        now = max(now, finish)
        score = curves[tid, e - 1] if e <= curves.shape[1] else np.nan
        t0 = timer()
        if np.isfinite(score):
            optimizer.tell(tid, e, float(score), float(costs[tid, e - 1]))
            epochs += 1
            best = max(best, float(score))
        else:
            optimizer.tell(tid, e, None, 0.0, status=FAILED)
        overhead = timer() - t0
        trace.overhead += overhead
        now += overhead if count_overhead else 0.0
        trace.time.append(now)
        trace.epochs.append(epochs)
        trace.incumbent.append(best)
        trace.visits.append([int(tid), int(e)])
        if np.isfinite(score) and e < last:  # the worker goes on with the job's next epoch
            heapq.heappush(events, (finish + epoch_cost(tid, e + 1), order, tid, e + 1, last))
            order += 1
        else:
            free += 1
    trace.trials = len(seen)
    return trace
