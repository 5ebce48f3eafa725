"""The ask/tell contract every optimizer must satisfy (DEVELOPING.md, search/base.py).

Subclass :class:`OptimizerContract` in a ``test_*.py`` module and implement ``make_optimizer``::

    from .contract import OptimizerContract

    class TestRandomSearchContract(OptimizerContract):
        def make_optimizer(self, pool, max_epochs, seed):
            return RandomSearch(pool, max_epochs=max_epochs, seed=seed)

Every test drives the optimizer on :class:`~.simulator.CurveSimulator` (a few dozen steps). The
parallel part (trials in flight, search/base.py) asks ``n_workers`` times before telling, tells out of
order, releases, resumes with trials in flight and simulates asynchronous workers to the end.
"""

from __future__ import annotations

import heapq
import json
import math
from typing import Any

import pytest

from hf_quicktune.search.base import Optimizer, Suggestion
from hf_quicktune.search.serialization import load_state, save_state

from .simulator import CurveSimulator


class OptimizerContract:
    """Base class (not collected itself: no ``Test`` prefix)."""

    n_pool = 12
    max_epochs = 4
    steps = 16  # ask/tell rounds in the longer tests
    covers_pool = True  # set False for methods that stop trials for good (successive halving, Hyperband)
    resumable = True  # False: load_state_dict must raise NotImplementedError (benchmark-only peers)
    n_workers = 4

    def make_optimizer(self, pool: list[dict[str, Any]], max_epochs: int, seed: int) -> Optimizer:
        raise NotImplementedError

    # helpers ----------------------------------------------------------------------------
    def sim(self, n: int | None = None, max_epochs: int | None = None, fail: tuple[int, ...] = ()) -> CurveSimulator:
        return CurveSimulator(n=n or self.n_pool, max_epochs=max_epochs or self.max_epochs, seed=3, fail=fail)

    def opt_for(self, sim: CurveSimulator, seed: int = 0) -> Optimizer:
        return self.make_optimizer(sim.pool, sim.max_epochs, seed)

    # tests ------------------------------------------------------------------------------
    def test_first_suggestion_is_a_pool_member_at_epoch_1(self):
        sim = self.sim()
        s = self.opt_for(sim).ask()
        assert isinstance(s, Suggestion)
        assert 0 <= s.trial_id < len(sim.pool)
        assert s.config == sim.pool[s.trial_id]
        assert s.epoch == 1

    def test_suggestions_continue_each_trial_one_epoch_at_a_time(self):
        sim = self.sim()
        opt = self.opt_for(sim)
        epochs: dict[int, int] = {}
        for _ in range(self.steps):
            s = opt.ask()
            assert s is not None
            assert s.epoch == epochs.get(s.trial_id, 0) + 1, "epoch must be the trial's last epoch + 1"
            assert 1 <= s.epoch <= sim.max_epochs
            score, cost, status = sim.observe(s.trial_id, s.epoch)
            opt.tell(s.trial_id, s.epoch, score, cost, status)
            epochs[s.trial_id] = s.epoch

    def test_exhausts_a_small_pool_then_returns_none(self):
        sim = self.sim(n=3, max_epochs=2)
        opt = self.opt_for(sim)
        seen = sim.run(opt, 3 * 2 + 1)
        assert len(seen) == len(set(seen)), "a (trial, epoch) was suggested twice"
        assert opt.ask() is None
        if self.covers_pool:
            assert sorted(seen) == [(t, e) for t in range(3) for e in (1, 2)]

    def test_failed_and_diverged_trials_are_never_suggested_again(self):
        sim = self.sim()
        opt = self.opt_for(sim)
        dead: set[int] = set()
        statuses = ["failed", "diverged", "oom"]
        for step in range(self.steps):
            s = opt.ask()
            if s is None:
                break
            assert s.trial_id not in dead
            if step in (0, 3, 6):  # kill the trial suggested at these steps
                opt.tell(s.trial_id, s.epoch, None, 1.0, statuses[step // 3])
                dead.add(s.trial_id)
            else:
                opt.tell(s.trial_id, s.epoch, *sim.observe(s.trial_id, s.epoch))
        assert len(dead) == 3
        assert all(opt.trials[t].status != "ok" for t in dead)

    def test_best_is_the_best_observation(self):
        sim = self.sim()
        opt = self.opt_for(sim)
        seen = sim.run(opt, self.steps)
        top = max(seen, key=lambda te: sim.curves[te[0], te[1] - 1])
        tid, epoch, score = opt.best()
        assert score == pytest.approx(sim.curves[top[0], top[1] - 1])
        assert sim.curves[tid, epoch - 1] == pytest.approx(score)

    def test_same_seed_same_suggestions(self):
        sim = self.sim()
        a = sim.run(self.opt_for(sim, seed=5), self.steps // 2)
        b = sim.run(self.opt_for(sim, seed=5), self.steps // 2)
        assert a == b

    def test_rejects_an_out_of_order_epoch(self):
        sim = self.sim()
        opt = self.opt_for(sim)
        s = opt.ask()
        with pytest.raises(ValueError):
            opt.tell(s.trial_id, s.epoch + 1, 0.5, 1.0)

    def resume(self, opt: Optimizer, sim: CurveSimulator, tmp_path) -> Optimizer | None:
        """A new optimizer restored from ``opt``'s saved state (None for a peer that cannot resume)."""
        state = opt.state_dict()
        body = {k: v for k, v in state.items() if k != "tensors"}
        json.dumps(body)  # the non-tensor part must be plain JSON
        save_state(state, tmp_path / "state")
        resumed = self.opt_for(sim, seed=1)
        if not self.resumable:
            with pytest.raises(NotImplementedError):
                resumed.load_state_dict(load_state(tmp_path / "state"))
            return None
        resumed.load_state_dict(load_state(tmp_path / "state"))
        return resumed

    def test_state_is_json_and_resume_gives_identical_suggestions(self, tmp_path):
        sim = self.sim()
        opt = self.opt_for(sim, seed=1)
        sim.run(opt, self.steps // 2)
        resumed = self.resume(opt, sim, tmp_path)
        if resumed is None:
            return
        assert resumed.best() == opt.best()
        assert sim.run(resumed, 4) == sim.run(opt, 4)

    def test_makes_progress_beyond_the_first_epoch(self):
        sim = self.sim()
        opt = self.opt_for(sim)
        sim.run(opt, self.steps)
        assert any(st.epochs >= 2 for st in opt.trials.values())
        assert math.isfinite(opt.best()[2])

    # -- trials in flight (several workers) ------------------------------------------------
    def ask_batch(self, opt: Optimizer, n: int) -> list[Suggestion]:
        batch = []
        for _ in range(n):
            s = opt.ask()
            if s is None:
                break
            batch.append(s)
        return batch

    def test_concurrent_asks_never_suggest_a_trial_in_flight(self):
        sim = self.sim()
        opt = self.opt_for(sim)
        sim.run(opt, 3)
        batch = self.ask_batch(opt, self.n_workers)
        assert len(batch) == self.n_workers, "a pool of 12 has work for every worker"
        ids = [s.trial_id for s in batch]
        assert len(set(ids)) == len(ids), f"a trial in flight was suggested again: {ids}"
        assert opt.in_flight == {s.trial_id: s.epoch for s in batch}
        for s in batch:
            assert s.config == sim.pool[s.trial_id]
            st = opt.trials.get(s.trial_id)
            assert s.epoch > (st.epochs if st else 0)

    def test_tells_in_any_order_end_the_trials_in_flight(self):
        sim = self.sim()
        opt = self.opt_for(sim)
        sim.run(opt, 2)
        batch = self.ask_batch(opt, 3)
        for s in reversed(batch):  # the last asked finishes first
            st = opt.trials.get(s.trial_id)
            for e in range((st.epochs if st else 0) + 1, s.epoch + 1):
                assert s.trial_id in opt.in_flight
                opt.tell(s.trial_id, e, *sim.observe(s.trial_id, e))
            assert s.trial_id not in opt.in_flight
            assert opt.trials[s.trial_id].epochs == s.epoch
        assert opt.in_flight == {}
        assert opt.ask() is not None

    def test_release_cancels_a_trial_in_flight(self):
        sim = self.sim()
        opt = self.opt_for(sim)
        sim.run(opt, 3)
        s = opt.ask()
        assert opt.release(s.trial_id) is True
        assert opt.in_flight == {} and opt.release(s.trial_id) is False
        assert opt.ask() == s, "a released suggestion (lost worker) is suggested again"
        opt.tell(s.trial_id, s.epoch, None, 0.0, "failed")  # a failure ends it in flight too
        assert opt.in_flight == {}

    def test_resume_with_trials_in_flight_is_exact(self, tmp_path):
        sim = self.sim()
        opt = self.opt_for(sim, seed=1)
        sim.run(opt, 4)
        batch = self.ask_batch(opt, 3)
        done = batch[1]
        for e in range((opt.trials[done.trial_id].epochs if done.trial_id in opt.trials else 0) + 1, done.epoch + 1):
            opt.tell(done.trial_id, e, *sim.observe(done.trial_id, e))
        assert opt.state_dict()["in_flight"] == {str(s.trial_id): s.epoch for s in (batch[0], batch[2])}
        resumed = self.resume(opt, sim, tmp_path)
        if resumed is None:
            return
        assert resumed.in_flight == opt.in_flight
        for o in (opt, resumed):  # a worker is free: both suggest the same, then the running trials report
            assert o.ask() is not None
        assert resumed.in_flight == opt.in_flight
        for o in (opt, resumed):
            for tid, epoch in sorted(o.in_flight.items()):
                st = o.trials.get(tid)
                for e in range((st.epochs if st else 0) + 1, epoch + 1):
                    o.tell(tid, e, *sim.observe(tid, e))
        assert sim.run(resumed, 4) == sim.run(opt, 4)

    def test_asynchronous_workers_run_the_search_to_its_end(self):
        """``n_workers`` workers on the simulator's clock: each free worker asks, results arrive by finish
        time (out of ask order); the search ends when ask() has nothing and nothing is in flight."""
        sim = self.sim(n=5, max_epochs=2)
        opt = self.opt_for(sim)
        clock, events, told = 0.0, [], []
        free = self.n_workers
        for _ in range(200):
            while free:
                s = opt.ask()
                if s is None:
                    break
                assert s.trial_id not in [ev[2] for ev in events], "suggested a trial that is running"
                heapq.heappush(events, (clock + float(sim.costs[s.trial_id, s.epoch - 1]), len(told) + len(events),
                                        s.trial_id, s.epoch))
                free -= 1
            if not events:
                break
            clock, _, tid, epoch = heapq.heappop(events)
            free += 1
            st = opt.trials.get(tid)
            for e in range((st.epochs if st else 0) + 1, epoch + 1):
                score, cost, status = sim.observe(tid, e)
                opt.tell(tid, e, score, cost, status)
                told.append((tid, e))
                if status != "ok":
                    break
        assert not events and opt.in_flight == {} and opt.ask() is None
        assert len(told) == len(set(told)), "an epoch was trained twice"
        if self.covers_pool:
            assert sorted(told) == [(t, e) for t in range(5) for e in (1, 2)]
