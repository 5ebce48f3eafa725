"""Resume bookkeeping without training: curve epochs the optimizer/steps log missed (a kill between
writes) are told, not re-trained; nothing is told twice."""

from __future__ import annotations

import json

from hf_quicktune.run.budget import Clock
from hf_quicktune.run.state import RunState, read_jsonl
from hf_quicktune.run.trials import reconcile
from hf_quicktune.search.quicktune import QuickTuneOptimizer
from hf_quicktune.train.records import EpochRecord, append_records


def _rec(epoch, score, status="ok"):
    return EpochRecord(epoch=epoch, val_top1=score, val_top5=None, val_loss=None, train_loss=None,
                       train_seconds=1.0, eval_seconds=0.5, images_per_second=None, peak_memory_mb=None, lr=None,
                       status=status)


def test_reconcile_tells_missing_epochs_once(tmp_path):
    pool = [{"model": "a", "lr": 0.01}, {"model": "b", "lr": 0.001}, {"model": "a", "lr": 0.1}]
    state = RunState(tmp_path)
    opt = QuickTuneOptimizer(pool, max_epochs=5, seed=0)
    # trial 0: 2 epochs, both told and logged; trial 1: 3 epochs on disk, optimizer saw 1, log saw 2;
    # trial 2: diverged at epoch 2, nobody saw it
    for tid, recs in {0: [_rec(1, .2), _rec(2, .3)], 1: [_rec(1, .1), _rec(2, .4), _rec(3, .5)],
                      2: [_rec(1, .3), _rec(2, None, "diverged")]}.items():
        d = state.trial_dir(tid)
        d.mkdir(parents=True)
        append_records(d, recs)
    for tid, e, s in [(0, 1, .2), (0, 2, .3), (1, 1, .1)]:
        opt.tell(tid, e, s, 1.5)
    state.append_steps([{"step": i + 1, "trial_id": t, "epoch": e} for i, (t, e) in enumerate([(0, 1), (0, 2), (1, 1),
                                                                                               (1, 2)])])
    with state.steps_path.open("a") as fh:
        fh.write('{"step": 5, "trial_id": 1, "ep')  # torn last line of a killed process
    recovered = reconcile(opt, state, pool, Clock(10.0))
    assert [(s["trial_id"], s["epoch"], s["status"]) for s in recovered] == [(1, 3, "ok"), (2, 1, "ok"),
                                                                             (2, 2, "diverged")]
    assert opt.trials[1].scores == [.1, .4, .5] and opt.trials[2].status == "diverged"
    steps = read_jsonl(state.steps_path)
    assert [(s["trial_id"], s["epoch"]) for s in steps] == [(0, 1), (0, 2), (1, 1), (1, 2), (1, 3), (2, 1), (2, 2)]
    assert [s["step"] for s in steps] == list(range(1, 8))
    # a second reconcile (resume again) finds nothing to do
    assert reconcile(opt, state, pool, Clock(11.0)) == []
    assert len(read_jsonl(state.steps_path)) == 7
    assert json.loads(json.dumps(opt.state_dict()["trials"]))["2"]["status"] == "diverged"


class _RejectingTrial:
    """A trial engine that rejects its configuration (as the real one does for invalid hyperparameters)."""

    released = False

    def advance(self, epochs=1, callback=None, should_stop=None):
        from hf_quicktune.errors import TrainError

        raise TrainError("lr must be > 0, got -1")

    def release(self):
        self.released = True


def test_a_rejected_configuration_fails_its_trial_and_the_run_goes_on(tmp_path):
    from hf_quicktune.run.loop import tell_outcome
    from hf_quicktune.run.settings import RunSettings
    from hf_quicktune.run.trials import TrialRunner

    pool = [{"model": "a", "lr": -1.0}, {"model": "a", "lr": 0.01}]
    opt = QuickTuneOptimizer(pool, max_epochs=3, seed=0)
    state = RunState(tmp_path)
    engine = _RejectingTrial()
    runner = TrialRunner(RunSettings(dataset="d", budget="1m"), state, {}, None, factory=lambda tid, config: engine)
    outcome = runner.run(0, pool[0], 1, 0)
    assert engine.released and 0 not in runner.trials and not outcome.stopped
    new = tell_outcome(opt, state, pool, outcome, Clock(), 0)
    assert [(s["trial_id"], s["epoch"], s["status"]) for s in new] == [(0, 1, "failed")]
    assert "lr must be > 0" in new[0]["message"]
    assert opt.trials[0].status == "failed"
    assert read_jsonl(state.steps_path) == new
    assert [r["status"] for r in read_jsonl(state.trial_dir(0) / "curve.jsonl")] == ["failed"]  # trials are files
    assert opt.ask().trial_id == 1  # never suggested again
