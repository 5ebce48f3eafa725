"""The executor contract (submit / wait / busy / capacity / shutdown) on the in-process executor, and the
loop keeping every worker of an executor busy with trials in flight (no training: fake engines)."""

from __future__ import annotations

import io

import pytest

from hf_quicktune.run.budget import Budget, Clock
from hf_quicktune.run.executor import InProcessExecutor
from hf_quicktune.run.settings import RunSettings
from hf_quicktune.run.state import RunState, read_jsonl
from hf_quicktune.run.trials import Outcome, TrialRunner
from hf_quicktune.train.records import AdvanceResult, EpochRecord, append_records

from .fakes import Explorer as _Explorer
from .fakes import ParallelFake as _ParallelFake


class _Engine:
    """A train engine: epoch e of trial t scores (t + e) / 100; it polls should_stop before each epoch."""

    def __init__(self, state, tid):
        self.state, self.tid, self.epochs_done, self.released = state, tid, 0, 0

    def advance(self, epochs=1, callback=None, should_stop=None):
        out = AdvanceResult()
        for _ in range(epochs):
            if should_stop is not None and should_stop():
                out.stopped = True
                break
            self.epochs_done += 1
            rec = EpochRecord(epoch=self.epochs_done, val_top1=(self.tid + self.epochs_done) / 100, val_top5=None,
                              val_loss=None, train_loss=None, train_seconds=1.0, eval_seconds=0.5,
                              images_per_second=None, peak_memory_mb=None, lr=None)
            self.state.trial_dir(self.tid).mkdir(parents=True, exist_ok=True)
            append_records(self.state.trial_dir(self.tid), [rec])
            out.append(rec)
            if callback is not None:
                callback("epoch", {"record": rec})
        return out

    def release(self):
        self.released += 1


def _executor(tmp_path, events=None):
    state = RunState(tmp_path)
    engines = {}

    def factory(tid, config):
        return engines.setdefault(tid, _Engine(state, tid))

    runner = TrialRunner(RunSettings(dataset="d", budget="1m"), state, {}, None, factory=factory)
    progress = None if events is None else (lambda tid, config: lambda e, info: events.append((tid, e)))
    return InProcessExecutor(runner, progress=progress), engines


def test_reschedule_changes_a_kept_engine_in_memory_with_the_scaled_configuration(tmp_path):
    """A re-fitted schedule reaches the engine the runner keeps (no rebuild), its warm-up scaled to the new
    length as a fresh engine's would be; an engine not in memory is left to be built on the new schedule."""
    ex, engines = _executor(tmp_path)
    changes = []
    ex.submit(3, {"model": "a", "warmup_epochs": 10}, 1)
    ex.wait()
    engines[3].set_schedule = lambda n, config: changes.append((n, config["warmup_epochs"]))
    ex.reschedule(3, {"model": "a", "warmup_epochs": 10}, 20)  # 10 of the space's 50 epochs -> 4 of 20
    ex.reschedule(7, {"model": "a", "warmup_epochs": 10}, 20)  # never built: nothing to change
    assert changes == [(20, 4)] and engines[3].released == 0 and 7 not in engines
    ex.submit(3, {"model": "a"}, 2, from_epoch=1)
    assert [r["epoch"] for r in ex.wait().records] == [2] and engines[3].released == 0  # the same engine went on


class _Scheduled(_Engine):
    """An engine on a schedule of ``max_epochs`` that, like the real one, trains nothing past its end."""

    def __init__(self, state, tid, max_epochs):
        super().__init__(state, tid)
        self.max_epochs, self.epoch_fraction, self.changes = max_epochs, 1.0, []

    def advance(self, epochs=1, callback=None, should_stop=None):
        return super().advance(min(epochs, self.max_epochs - self.epochs_done), callback, should_stop)

    def set_schedule(self, n, config, epoch_fraction=None):
        self.max_epochs = n
        self.epoch_fraction = self.epoch_fraction if epoch_fraction is None else epoch_fraction
        self.changes.append((n, config.get("warmup_epochs")))


def test_an_engine_kept_in_memory_takes_the_schedule_a_refit_changed_before_its_next_job(tmp_path):
    """With several workers a re-fit reaches only the re-fitted trial's engine; the runner's settings change on
    every worker (RayExecutor.reschedule). An engine another trial left in memory was built on the old schedule: its
    next job now continues on the new one, as an engine built from its checkpoint would (its warm-up scaled); one at
    the end of the old schedule returned no epoch for a job past it, and the trial was recorded as failed."""
    state = RunState(tmp_path)
    settings = RunSettings(dataset="d", budget="1m", max_epochs=2)
    engines = {}
    runner = TrialRunner(settings, state, {}, None,
                         factory=lambda tid, config: engines.setdefault(tid, _Scheduled(state, tid, settings.max_epochs)))
    config = {"model": "a", "warmup_epochs": 10}
    runner.run(3, config, 2)
    runner.run(4, config, 1)
    settings.max_epochs = 5  # the re-fit of another trial, on this worker's settings
    out = runner.run(4, config, 2, from_epoch=1)
    assert [r["epoch"] for r in out.records] == [2] and engines[4].changes == [(5, 1)]  # 10 of 50 -> 1 of 5
    out = runner.run(3, config, 3, from_epoch=2)
    assert [(r["epoch"], r.get("status", "ok")) for r in out.records] == [(3, "ok")]
    assert engines[3].max_epochs == 5 and engines[3].released == 0  # the same engine, kept in memory


class _OnSharedDisk:
    """A train engine whose epochs done are those on the shared disk (the trial's curve, as the real engine reads its
    checkpoints): two workers' engines of one trial see each other's epochs."""

    def __init__(self, state, tid, max_epochs):
        self.state, self.tid, self.max_epochs, self.epoch_fraction = state, tid, max_epochs, 1.0
        self.changes, self.released = [], 0

    @property
    def epochs_done(self):
        from hf_quicktune.run.trials import trial_curve

        return len(trial_curve(self.state, self.tid))

    def advance(self, epochs=1, callback=None, should_stop=None):
        out = AdvanceResult()
        for _ in range(min(epochs, self.max_epochs - self.epochs_done)):
            rec = EpochRecord(epoch=self.epochs_done + 1, val_top1=0.5, val_top5=None, val_loss=None, train_loss=None,
                              train_seconds=1.0, eval_seconds=0.5, images_per_second=None, peak_memory_mb=None, lr=None)
            self.state.trial_dir(self.tid).mkdir(parents=True, exist_ok=True)
            append_records(self.state.trial_dir(self.tid), [rec])
            out.append(rec)
        return out

    def set_schedule(self, n, config, epoch_fraction=None):
        self.max_epochs = n
        self.changes.append(n)

    def release(self):
        self.released += 1


def test_a_refit_changes_only_the_engine_that_trained_the_trial_last(tmp_path):
    """Two workers kept an engine of trial 3 in memory; worker B trained it after worker A. A re-fit's reschedule
    reaches both (RayExecutor.reschedule): B's engine changes its schedule in place; A's copy, behind the disk, is
    dropped (its next job would rebuild it from the checkpoint) rather than changed too: both rewrote trial.json at
    once, and a run stopped on a half-written one."""
    state = RunState(tmp_path)
    settings = RunSettings(dataset="d", budget="1m", max_epochs=4)
    engines = {"a": [], "b": []}

    def worker(name):
        return TrialRunner(settings, state, {}, None, factory=lambda tid, config: engines[name].append(
            _OnSharedDisk(state, tid, settings.max_epochs)) or engines[name][-1])

    a, b = worker("a"), worker("b")
    a.run(3, {"model": "m"}, 1)
    b.run(3, {"model": "m"}, 2, from_epoch=1)
    for runner in (a, b):
        runner.reschedule(3, {"model": "m"}, 6)
    assert engines["b"][0].changes == [6] and engines["b"][0].released == 0
    assert engines["a"][0].changes == [] and engines["a"][0].released == 1 and 3 not in a.trials
    settings.max_epochs = 6
    a.run(3, {"model": "m"}, 3, from_epoch=2)  # worker A's next job on it: a fresh engine, on the new schedule
    assert len(engines["a"]) == 2 and engines["a"][1].epochs_done == 3 and engines["a"][1].max_epochs == 6


def test_in_process_executor_contract(tmp_path):
    events = []
    ex, engines = _executor(tmp_path, events)
    assert ex.capacity == 1 and ex.busy == 0
    with pytest.raises(RuntimeError):
        ex.wait()
    job = ex.submit(3, {"model": "a"}, 2)
    assert job.trial_id == 3 and ex.busy == 1
    out = ex.wait()
    assert isinstance(out, Outcome) and ex.busy == 0
    assert out.trial_id == 3 and not out.stopped and out.lost is None
    assert [(r["epoch"], r["val_top1"]) for r in out.records] == [(1, 0.04), (2, 0.05)]
    assert events == [(3, "epoch"), (3, "epoch")]  # the progress hook reached the engine
    assert ex.worker_seconds >= out.wall_s >= 0.0
    # from_epoch: only epochs the optimizer has not been told come back; a spent deadline stops the job
    ex.submit(3, {"model": "a"}, 4, from_epoch=2, deadline_s=0.0)
    out = ex.wait()
    assert out.stopped and out.records == [] and engines[3].epochs_done == 2
    ex.submit(3, {"model": "a"}, 3, from_epoch=2)
    assert [r["epoch"] for r in ex.wait().records] == [3]
    ex.submit(5, {"model": "a"}, 1)
    ex.shutdown()
    assert ex.busy == 0 and engines[3].released


class _EndsEarly(_Engine):
    """Records, at each job, whether it was given an ``end_early`` and what it answered."""

    seen: list = []

    def advance(self, epochs=1, callback=None, should_stop=None, end_early=None):
        self.seen.append(None if end_early is None else end_early())
        return super().advance(epochs, callback, should_stop)


def test_a_wrap_up_time_reaches_the_engine_as_its_end_early(tmp_path):
    state, engines = RunState(tmp_path), {}
    runner = TrialRunner(RunSettings(dataset="d", budget="1m"), state, {}, None,
                         factory=lambda tid, config: engines.setdefault(tid, _EndsEarly(state, tid)))
    ex = InProcessExecutor(runner)
    _EndsEarly.seen = []
    for to_epoch, wrap_up_s in ((1, None), (2, 100.0), (3, 0.0)):
        ex.submit(3, {"model": "a"}, to_epoch, from_epoch=to_epoch - 1, deadline_s=200.0, wrap_up_s=wrap_up_s)
        ex.wait()
    assert _EndsEarly.seen == [None, False, True]


def test_the_loop_asks_a_no_search_fine_tune_to_end_its_epoch_early_before_the_deadline(tmp_path):
    """An epoch the deadline would cut is lost; the one fine-tune of a budget too small to search ends its
    epoch early instead, leaving its validation pass and checkpoint time before the deadline (Budget.wrap_up).
    A search does not, but for the incumbent it finishes when the budget ends: its epochs stay comparable
    along its learning curves."""
    from hf_quicktune.run.progress import PlainReporter
    from hf_quicktune.run.search_loop import Search

    class Capturing(_ParallelFake):
        def submit(self, trial_id, config, to_epoch, *, from_epoch=0, deadline_s=None, wrap_up_s=None):
            self.asked.append((deadline_s, wrap_up_s, self.search.budget.wrap_up(self.search.steps)))
            super().submit(trial_id, config, to_epoch, from_epoch=from_epoch, deadline_s=deadline_s)

    pool = [{"model": "a", "lr": 10.0 ** -i} for i in range(4)]
    for searching in (False, True):
        opt = _Explorer(pool, max_epochs=3)
        opt.initial_design = [0]
        state = RunState(tmp_path / str(searching))
        ex = Capturing(1, state)
        ex.asked = []
        budget = Budget(seconds=1000.0, max_epochs_total=3)
        search = Search(opt, state, pool, ex, budget, Clock(), [], {}, PlainReporter(io.StringIO()), max_epochs=3)
        search.searching = searching
        ex.search = search
        search.run(type("NoInterrupt", (), {"check": lambda self: None})())
        assert len(ex.asked) >= 2
        for deadline_s, wrap_up_s, wrap_up in ex.asked:
            assert deadline_s is not None
            if searching:
                assert wrap_up_s is None
            else:  # 1 s before the deadline, then 1 s + 1.25 x the fake's 0.5 s evaluations once measured
                assert wrap_up_s == pytest.approx(deadline_s - wrap_up, abs=0.01)
        if not searching:
            assert [w for _, _, w in ex.asked] == [1.0] + [1.625] * (len(ex.asked) - 1)
    assert Budget().wrap_up([]) == Budget.WRAP_UP_SECONDS
    assert Budget().wrap_up([{"status": "ok", "eval_s": e} for e in (9.0, 2.0, 4.0, 6.0)]) == 1.0 + 1.25 * 4.0
    # a search's end: the incumbent it trains to the end of its schedule may end its last epoch early too
    # (no trial is compared with it after); the other trials' epochs stay whole
    opt = _Explorer(pool, max_epochs=3)
    state = RunState(tmp_path / "finishing")
    ex = Capturing(2, state)
    ex.asked = []
    search = Search(opt, state, pool, ex, Budget(seconds=1000.0), Clock(), [], {}, PlainReporter(io.StringIO()),
                     max_epochs=3)
    ex.search = search
    search.finish_trial = 2
    search.submit(1, 1)
    search.submit(2, 1)
    (deadline_1, wrap_1, _), (deadline_2, wrap_2, wrap_up) = ex.asked
    assert wrap_1 is None and deadline_1 is not None
    assert wrap_2 == pytest.approx(deadline_2 - wrap_up, abs=0.01)


def test_in_process_executor_names_the_device_it_trains_on(tmp_path, monkeypatch):
    """The summary's gpu_seconds follow ``executor.device``: a one-worker run on a GPU had none before."""
    import types

    from hf_quicktune.train import device

    ex, _ = _executor(tmp_path, [])
    assert ex.device == "cpu"  # this machine
    cuda = types.SimpleNamespace(device=types.SimpleNamespace(type="cuda"))
    monkeypatch.setattr(device, "default_accelerator", lambda: cuda)
    assert ex.device == "gpu"


def test_the_loop_keeps_every_worker_busy_and_tells_out_of_order(tmp_path):
    from hf_quicktune.run.progress import PlainReporter
    from hf_quicktune.run.search_loop import Search
    from hf_quicktune.search.baselines import RandomSearch

    pool = [{"model": "a", "lr": 10.0 ** -i} for i in range(6)]
    opt = RandomSearch(pool, max_epochs=3, seed=0)
    state = RunState(tmp_path)
    ex = _ParallelFake(3, state)
    search = Search(opt, state, pool, ex, Budget(max_epochs_total=9), Clock(), [], {}, PlainReporter(io.StringIO()),
                     max_epochs=3)
    stop = search.run(type("NoInterrupt", (), {"check": lambda self: None})())
    assert ex.max_busy == 3  # three trials in flight at once
    assert "max-epochs-total 9" in stop
    steps = read_jsonl(state.steps_path)
    assert steps == search.steps and 9 <= len(steps) == ex.epochs_submitted  # every submitted epoch told
    told = {(s["trial_id"], s["epoch"]) for s in steps}
    assert len(told) == len(steps)  # no epoch told twice
    assert sum(st.epochs for st in opt.trials.values()) == len(steps)
    assert not opt.in_flight  # every job was told or released
    assert search.worker_seconds == ex.worker_seconds


class _DiskEngine:
    """A train engine whose weights are the epoch it has in memory (loaded from the newest checkpoint = the
    curve on disk when built); epoch e+1 scores (weights + 1) / 100, so stale weights show in the score."""

    def __init__(self, state, tid):
        self.state, self.tid = state, tid
        self.weights = self.epochs_done

    @property
    def epochs_done(self):
        d = self.state.trial_dir(self.tid)
        return len(read_jsonl(d / "curve.jsonl")) if d.exists() else 0

    def advance(self, epochs=1, callback=None, should_stop=None):
        out = AdvanceResult()
        for _ in range(epochs):
            self.weights += 1
            rec = EpochRecord(epoch=self.epochs_done + 1, val_top1=self.weights / 100, val_top5=None, val_loss=None,
                              train_loss=None, train_seconds=1.0, eval_seconds=0.5, images_per_second=None,
                              peak_memory_mb=None, lr=None)
            self.state.trial_dir(self.tid).mkdir(parents=True, exist_ok=True)
            append_records(self.state.trial_dir(self.tid), [rec])
            out.append(rec)
        return out

    def release(self):
        pass


def test_a_worker_never_continues_a_trial_from_weights_another_worker_has_moved_past(tmp_path):
    """Two workers (runners) share the run directory; a trial paused on A, continued on B, then back on A
    must be rebuilt from B's checkpoint, not continued from A's cached weights."""
    state = RunState(tmp_path)
    built = {"a": 0, "b": 0}

    def factory(name):
        def make(tid, config):
            built[name] += 1
            return _DiskEngine(state, tid)
        return make

    settings = RunSettings(dataset="d", budget="1m")
    a = TrialRunner(settings, state, {}, None, factory=factory("a"))
    b = TrialRunner(settings, state, {}, None, factory=factory("b"))
    assert [r["val_top1"] for r in a.run(0, {}, 1, 0).records] == [0.01]
    assert [r["val_top1"] for r in b.run(0, {}, 2, 1).records] == [0.02]
    assert [r["val_top1"] for r in a.run(0, {}, 3, 2).records] == [0.03]  # not 0.02: A reloaded epoch 2
    assert built == {"a": 2, "b": 1}
    assert [r["val_top1"] for r in a.run(0, {}, 4, 3).records] == [0.04] and built["a"] == 2  # cache kept


def test_ray_workers_split_the_devices_without_oversubscribing():
    from hf_quicktune.run.ray_executor import plan_workers  # no Ray needed to plan

    assert plan_workers(2, 2, 0) == (2, {"num_cpus": 1}, 1)  # this machine: one core, one thread each
    assert plan_workers(4, 16, 0) == (4, {"num_cpus": 4}, 4)
    assert plan_workers(3, 16, 0) == (3, {"num_cpus": 5}, 5)  # 3 x 5 threads <= 16 cores
    workers, resources, threads = plan_workers(4, 2, 0)  # more workers than cores: Ray must still place them all
    assert (workers, threads) == (4, 1) and resources["num_cpus"] * workers <= 2
    assert plan_workers(4, 32, 4) == (4, {"num_gpus": 1, "num_cpus": 8}, 8)  # one worker per GPU
    # more workers than GPUs share them: k workers per GPU with 1/k each, so Ray can place every actor
    assert plan_workers(8, 32, 4) == (8, {"num_gpus": 0.5, "num_cpus": 4}, 4)
    assert plan_workers(3, 16, 2) == (3, {"num_gpus": 0.5, "num_cpus": 5}, 5)
    workers, resources, threads = plan_workers(3, 16, 1)
    assert workers == 3 and resources["num_gpus"] * 3 <= 1 and resources["num_gpus"] > 0.333
    assert plan_workers(2, 32, 4) == (2, {"num_gpus": 1, "num_cpus": 16}, 16)
    assert plan_workers(8, 4, 8) == (8, {"num_gpus": 1, "num_cpus": 0.5}, 1)  # fewer cores than GPUs


def test_workers_without_ray_installed_fail_at_start_up(tmp_path, monkeypatch, capsys):
    import builtins
    import importlib.util

    from hf_quicktune.cli import main

    real_find, real_import = importlib.util.find_spec, builtins.__import__
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real_find(name, *a))
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (_ for _ in ()).throw(ImportError(name))
                        if name == "ray" else real_import(name, *a, **k))
    out = tmp_path / "out"
    assert main(["run", "--dataset", "builtin:digits", "--budget", "1m", "--workers", "2", "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert "hf-quicktune[ray]" in err and "Traceback" not in err
    assert not out.exists()  # refused before any work


def test_a_resumed_search_resubmits_the_trials_in_flight_and_releases_what_does_not_fit(tmp_path):
    from hf_quicktune.run.progress import PlainReporter
    from hf_quicktune.run.search_loop import Search
    from hf_quicktune.search.baselines import RandomSearch

    pool = [{"model": "a", "lr": 10.0 ** -i} for i in range(6)]
    before = RandomSearch(pool, max_epochs=3, seed=0)
    asked = [before.ask() for _ in range(3)]  # three jobs in flight when the driver was killed
    opt = RandomSearch(pool, max_epochs=3, seed=0)
    opt.load_state_dict(before.state_dict())
    assert opt.in_flight == {s.trial_id: s.epoch for s in asked}
    ex = _ParallelFake(2, RunState(tmp_path))
    search = Search(opt, RunState(tmp_path), pool, ex, Budget(max_epochs_total=20), Clock(), [], {},
                     PlainReporter(io.StringIO()), max_epochs=3)
    search.resubmit()
    first_two = sorted(asked, key=lambda s: s.trial_id)[:2]
    assert [(j[0], j[1], j[2]) for j in ex.jobs] == [(s.trial_id, s.epoch, 0) for s in first_two]
    assert set(opt.in_flight) == {s.trial_id for s in first_two}  # the third was released, not lost
    assert search.in_flight == {s.trial_id: s.epoch for s in first_two}


def test_a_resumed_trial_in_flight_trains_only_what_max_epochs_total_leaves_room_for(tmp_path):
    """A run stopped by --max-epochs-total 1 inside a first job of 3 epochs (the prior's initial epochs) and
    resumed with --max-epochs-total 2 trained epochs 2 and 3: resubmitted to the optimizer's in-flight epoch,
    past the limit an asked trial is held to (``Budget.epochs_allowed``)."""
    from hf_quicktune.run.progress import PlainReporter
    from hf_quicktune.run.search_loop import Search
    from hf_quicktune.search.baselines import RandomSearch

    pool = [{"model": "a", "lr": 10.0 ** -i} for i in range(4)]
    opt = RandomSearch(pool, max_epochs=5, seed=0)
    tid = opt.ask().trial_id
    opt.tell(tid, 1, 0.5, 1.0)  # the first epoch of its job was told before the stop
    opt.in_flight[tid] = 3
    steps = [{"trial_id": tid, "status": "ok", "epoch": 1}]
    ex = _ParallelFake(1, RunState(tmp_path))
    search = Search(opt, RunState(tmp_path), pool, ex, Budget(max_epochs_total=2), Clock(), steps, {},
                     PlainReporter(io.StringIO()), max_epochs=5)
    search.resubmit()
    assert [(j[0], j[1], j[2]) for j in ex.jobs] == [(tid, 2, 1)]  # from epoch 1 to 2, not 3
    assert search.in_flight == {tid: 2}
