"""Stop rules of the search loop and the progress display (no training needed)."""

from __future__ import annotations

import io

import pytest

from hf_quicktune.run.budget import Budget, Clock
from hf_quicktune.run.loop import snapshot
from hf_quicktune.run.progress import PlainReporter, RichReporter
from hf_quicktune.run.settings import RunSettings
from hf_quicktune.search.base import Suggestion, TrialState


class _Told:
    """What the loop reads of an optimizer: its trials and best observation (a told history)."""

    def __init__(self, trials):
        self.trials = trials

    def best(self):
        obs = [(t, e + 1, s) for t, st in self.trials.items() for e, s in enumerate(st.scores)]
        return max(obs, key=lambda o: o[2]) if obs else None


def _settings(**kw):
    return RunSettings(dataset="builtin:digits", **kw)


def _steps(n, wall=2.0, tid=0, model="a"):
    return [{"trial_id": tid, "model": model, "status": "ok", "wall_s": wall, "eval_s": 0.5} for _ in range(n)]


def test_max_epochs_total_and_max_trials():
    opt = _Told({0: TrialState([0.1, 0.2]), 1: TrialState([0.3])})
    lim = Budget.from_settings(_settings(max_epochs_total=3))
    assert lim.stop_reason(opt, _steps(2), Clock()) is None
    assert "max-epochs-total 3" in lim.stop_reason(opt, _steps(3), Clock())
    lim = Budget.from_settings(_settings(max_trials=2))
    assert lim.stop_reason(opt, _steps(3), Clock(), Suggestion(0, {"model": "a"}, 3)) is None  # continue a trial
    assert "max-trials 2" in lim.stop_reason(opt, _steps(3), Clock(), Suggestion(2, {"model": "a"}, 1))


def test_budget_stops_before_a_step_that_would_not_fit():
    opt = _Told({0: TrialState([0.1], [2.0])})
    lim = Budget.from_settings(_settings(budget="60s"))
    steps = _steps(3, wall=10.0)
    reserve = lim.reserve(steps)  # END_SECONDS + 2 x a typical evaluation
    assert reserve == Budget.END_SECONDS + 1.0
    # 35 s used: one more 10 s epoch + reserve fits in 60 s, three more epochs (30 s) do not
    assert lim.stop_reason(opt, steps, Clock(35.0), Suggestion(0, {"model": "a"}, 2)) is None
    assert lim.stop_reason(opt, steps, Clock(35.0), Suggestion(0, {"model": "a"}, 4)) == "budget used"
    assert lim.stop_reason(opt, steps, Clock(55.0)) == "budget used"


def test_the_end_reserve_prices_a_typical_evaluation_of_the_test_split_the_run_has():
    """The end evaluates the incumbent on the test split: a run without one keeps only END_SECONDS, and a
    trial's first evaluation (one-time costs) does not price it."""
    evals = [2.4, 0.4, 0.5, 0.35, 0.45]
    steps = [{"trial_id": 0, "model": "a", "status": "ok", "wall_s": 5.0, "eval_s": e} for e in evals]
    assert Budget(seconds=90.0).reserve(steps[:1]) == Budget.END_SECONDS + 2 * 2.4  # all there is
    assert Budget(seconds=90.0).reserve(steps) == pytest.approx(Budget.END_SECONDS + 2 * 0.45)  # median of 3
    assert Budget(seconds=90.0, test_share=0.0).reserve(steps) == Budget.END_SECONDS
    failed = [{"trial_id": 1, "model": "b", "status": "failed", "wall_s": 0.1, "eval_s": 0.0}] * 2
    assert Budget(seconds=90.0).reserve(steps + failed) == Budget(seconds=90.0).reserve(steps)  # failures priced nothing
    assert Budget(seconds=90.0, test_share=2.0).reserve(steps) == pytest.approx(Budget.END_SECONDS + 4 * 0.45)
    assert Budget(seconds=90.0, test_share=0.0).deadline(steps) == 90.0 - Budget.END_SECONDS
    assert Budget.reserve_for(1.0, 0.5) == Budget.END_SECONDS + 1.0
    # two passes: the first (6.9 s of one-time costs) no longer doubles the price of the second (0.9 s)
    two = [{**steps[0], "eval_s": 6.9}, {**steps[1], "eval_s": 0.9}]
    assert Budget(seconds=60.0).reserve(two) == pytest.approx(Budget.END_SECONDS + 2 * 0.9)
    # every trial's first pass is left out while later passes exist; first passes alone price it
    firsts = [{**steps[0], "trial_id": t, "eval_s": e} for t, e in enumerate([3.0, 1.0, 2.0])]
    assert Budget(seconds=60.0).reserve(firsts) == pytest.approx(Budget.END_SECONDS + 2 * 2.0)
    assert Budget(seconds=60.0).reserve(firsts + [{**steps[0], "trial_id": 1, "eval_s": 0.5}]) == pytest.approx(
        Budget.END_SECONDS + 2 * 0.5)


def test_the_end_share_is_the_test_split_per_validation_image_under_eval_limit():
    from types import SimpleNamespace

    from hf_quicktune.run.stages import end_eval_share

    def data(n_val, n_test):
        return SimpleNamespace(splits={"validation": [0] * n_val}, test=None if n_test is None else [0] * n_test)

    assert end_eval_share(_settings(), data(120, None)) == 0.0
    assert end_eval_share(_settings(), data(100, 300)) == 3.0
    assert end_eval_share(_settings(eval_limit=100), data(500, 300)) == 1.0


def test_before_any_evaluation_the_wrap_up_and_reserve_price_the_one_the_schedule_predicted():
    """The only epoch of a 2-minute run at native resolution was ended early at the deadline with no time kept
    for its evaluation (none recorded yet: 0 s), whose 10 s then ran past the deadline: the epoch was discarded
    and the run had no model. The schedule's predicted evaluation (schedule.json eval_s) prices it now."""
    from hf_quicktune.run.schedule import fit_max_epochs

    budget = Budget(seconds=120.0, eval_seconds=8.0, test_share=0.0)
    assert budget.wrap_up([]) == pytest.approx(Budget.WRAP_UP_SECONDS + 1.25 * 8.0)
    assert budget.deadline([]) == pytest.approx(120.0 - Budget.END_SECONDS)  # no test split: nothing more kept
    assert Budget(seconds=120.0, eval_seconds=8.0).reserve([]) == pytest.approx(Budget.END_SECONDS + 2 * 8.0)
    steps = [{"trial_id": 0, "status": "ok", "eval_s": 2.0}]
    assert budget.wrap_up(steps) == pytest.approx(Budget.WRAP_UP_SECONDS + 1.25 * 2.0)  # recorded ones win

    class _Cand:
        name = "m"

    fitted = fit_max_epochs(100.0, _Cand(), 10, 320, 96, 32, measured={"step_s": 0.3, "checkpoint_s": 0.0})
    assert fitted["eval_s"] == pytest.approx(3 * 0.3 / 3)  # 3 evaluation batches at a third of a step


def test_the_ranking_gets_a_share_of_the_budget_and_the_run_says_when_it_scored_fewer_images(tmp_path, monkeypatch):
    """Six candidates at native resolution scored 256 digits images in 50 s of a 2-minute budget; the run passes
    RANK_SHARE of --budget to rank(), which reduces its sample past it (tests/rank: the reduction itself)."""
    from types import SimpleNamespace

    import hf_quicktune.rank as rank_module
    from hf_quicktune.run import stages
    from hf_quicktune.run.state import RunState

    calls = []

    def fake_rank(dataset, candidates, **kw):
        calls.append(kw["seconds"])
        reduced = {"sample_reduced_from": 256, "unscored": {"b": 9.0}} if kw["seconds"] is not None else {}
        return SimpleNamespace(n=40 if reduced else 256, info=reduced,
                               to_dict=lambda: {"order": ["a", "b"], "table": {"a": {}, "b": {}}, "scores": []})

    monkeypatch.setattr(rank_module, "rank", fake_rank)
    said = []
    reporter = SimpleNamespace(message=said.append)
    cands = [SimpleNamespace(name="a"), SimpleNamespace(name="b")]
    stages.rank_candidates(_settings(budget="2m"), RunState(tmp_path / "r1"), None, cands, reporter)
    assert calls == [pytest.approx(stages.RANK_SHARE * 120)]
    assert said[-2] == ("ranked on 40 of 256 images: the forward passes of all of them would take more than 15 % "
                        "of the --budget")
    assert said[-1].startswith("not scored: b: their forward passes, even on two images per class, would overrun")
    stages.rank_candidates(_settings(), RunState(tmp_path / "r2"), None, cands, reporter)  # no budget: no limit
    assert calls[-1] is None and not said[-1].startswith(("ranked on", "not scored"))


def test_the_no_search_fine_tune_is_priced_by_its_timed_epoch_not_by_the_cost_model():
    """builtin:mnist5k with 60 s: the schedule's fit timed a 26 s epoch (1 fits), but the prior's cost model
    priced it past the budget, so the run stopped before training and exported nothing."""

    class _Priced(_Told):
        def predict(self, ids, noise=False):
            return None, None, [100.0 for _ in ids]

    opt, first = _Priced({}), Suggestion(0, {"model": "a"}, 1)
    assert Budget(seconds=60.0).stop_reason(opt, [], Clock(10.0), first) == "budget used"
    timed = Budget(seconds=60.0, measured={0: 26.0})
    assert timed.stop_reason(opt, [], Clock(10.0), first) is None
    assert timed.stop_reason(opt, [], Clock(10.0), Suggestion(0, {"model": "a"}, 2)) == "budget used"  # 2 x 26 s
    assert timed.stop_reason(opt, [], Clock(10.0), Suggestion(1, {"model": "a"}, 1)) == "budget used"  # not timed


def test_snapshot_counts_and_reporters_render():
    pool = [{"model": "a", "lr": 0.01, "opt": "sgd"}, {"model": "b", "lr": 0.1}, {"model": "a", "lr": 1.0}]
    opt = _Told({0: TrialState([0.2, 0.5], [1, 1]), 1: TrialState([0.6] * 3, [1] * 3), 2: TrialState([], [], "diverged")})
    steps = [{"step": i + 1, "trial_id": 0, "model": "a", "epoch": i + 1, "score": 0.2, "cost": 1.0, "status": "ok"}
             for i in range(6)]
    snap = snapshot(opt, pool, steps, Clock(30.0), 120.0, max_epochs=3)
    assert snap["counts"] == {"started": 3, "paused": 1, "finished": 1, "failed": 1}
    assert snap["incumbent"]["trial_id"] == 1 and snap["incumbent"]["model"] == "b"
    assert len(snap["last_steps"]) == 5
    buf = io.StringIO()
    plain = PlainReporter(buf)
    plain.step(snap)
    plain.leaderboard([{"rank": 1, "trial_id": 1, "model": "b", "status": "ok", "epochs": 3, "last_val_top1": 0.6,
                        "best_val_top1": 0.6, "config": pool[1]}])
    text = buf.getvalue()
    assert "step 6: trial 0 (a) epoch 6" in text and "left of" in text and "incumbent: trial 1 b val 60.00%" in text
    assert "60.00" in text.splitlines()[-1]
    buf = io.StringIO()  # an outcome of several epochs: a line for each; one of none (a lost epoch): no line
    PlainReporter(buf).step({**snap, "new_steps": steps[3:6]})
    PlainReporter(buf).step({**snap, "new_steps": []})
    lines = buf.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == ["[hf-quicktune] step 4", "[hf-quicktune] step 5",
                                                      "[hf-quicktune] step 6"]
    # the snapshot's incumbent and budget are those after the job: only the job's last line shows them
    assert ["incumbent" in line for line in lines] == [False, False, True]
    from rich.console import Console

    out = io.StringIO()
    rich = RichReporter(Console(file=out, force_terminal=True, width=160))
    rich.message("ranking 4 candidates")
    rich.step(snap)
    rich.close()
    rendered = out.getvalue()
    assert "1 paused, 1 finished, 1 failed" in rendered and "incumbent: trial 1 b" in rendered


def test_card_base_model_from_candidate():
    from hf_quicktune.run.finalize import _base_model
    from hf_quicktune.zoo.candidate import Candidate

    assert _base_model(Candidate("r", "resnet18", source="timm", pretrained_tag="a1_in1k")) == "timm/resnet18.a1_in1k"
    assert _base_model(Candidate("v", "vit", source="hf-hub", hub_id="hf-hub:org/vit")) == "org/vit"
    assert _base_model(Candidate("s", "resnet18", source="scratch", pretrained_tag="a1_in1k")) is None


class _StepEngine:
    """A train engine whose epochs are 4 steps; it polls ``should_stop`` after each step like the real one
    (Trial.advance) and appends finished epochs to its curve."""

    def __init__(self, state, tid):
        self.state, self.tid, self.epochs_done, self.released = state, tid, 0, False

    def advance(self, epochs=1, callback=None, should_stop=None):
        from hf_quicktune.train.records import AdvanceResult, EpochRecord, append_records

        out = AdvanceResult()
        for _ in range(epochs):
            for _step in range(4):
                if should_stop is not None and should_stop():
                    out.stopped = True
                    return out
            self.epochs_done += 1
            rec = EpochRecord(epoch=self.epochs_done, val_top1=0.5, val_top5=None, val_loss=None, train_loss=None,
                              train_seconds=1.0, eval_seconds=0.5, images_per_second=None, peak_memory_mb=None,
                              lr=None)
            self.state.trial_dir(self.tid).mkdir(parents=True, exist_ok=True)
            append_records(self.state.trial_dir(self.tid), [rec])
            out.append(rec)
        return out

    def release(self):
        self.released = True


def test_budget_stops_an_epoch_in_flight_without_an_exception_and_estimates_ignore_failures(tmp_path):
    from hf_quicktune.run.state import RunState
    from hf_quicktune.run.trials import TrialRunner

    lim = Budget.from_settings(_settings(budget="60s"))
    assert lim.seconds == 60.0
    steps = _steps(2, wall=10.0) + [{"trial_id": 1, "model": "a", "status": "failed", "wall_s": 0.5, "eval_s": 0.0}]
    assert lim.epoch_seconds(steps, 2, "b") == 10.0  # a quick failure does not make epochs look cheap
    assert lim.deadline(steps) == 60.0 - (Budget.END_SECONDS + 2 * 0.5)
    assert lim.should_stop(steps, Clock(54.0))() is False
    assert lim.should_stop(steps, Clock(56.0))() is True
    assert Budget.from_settings(_settings(max_trials=3)).should_stop(steps, Clock()) is None

    state = RunState(tmp_path)
    engine = _StepEngine(state, 0)
    runner = TrialRunner(_settings(budget="60s"), state, {}, None, factory=lambda tid, config: engine)
    polls = []

    def should_stop():  # turns true in the middle of the second epoch
        polls.append(1)
        return len(polls) > 6

    outcome = runner.run(0, {"model": "a"}, 3, 0, should_stop=should_stop)
    assert outcome.stopped and [r["epoch"] for r in outcome.records] == [1]  # the finished epoch is kept
    assert engine.released and 0 not in runner.trials  # mid-epoch weights are dropped, the checkpoint stays
    outcome = runner.run(0, {"model": "a"}, 1, 0)  # a retried job finds its epoch on the curve: nothing retrained
    assert not outcome.stopped and [r["epoch"] for r in outcome.records] == [1] and len(polls) == 7


def test_max_epochs_total_truncates_a_first_suggestion_that_spans_several_epochs():
    from types import SimpleNamespace

    from hf_quicktune.search.base import Suggestion

    opt = SimpleNamespace(trials={0: SimpleNamespace(epochs=2)})
    first = Suggestion(3, {}, 2)  # a new trial asked to its initial_epochs = 2
    assert Budget(max_epochs_total=1).epochs_allowed(opt, [], first) == 1
    assert Budget(max_epochs_total=5).epochs_allowed(opt, [], first) == 2
    assert Budget().epochs_allowed(opt, [], first) == 2
    steps = [{"status": "ok"}] * 2
    # 2 epochs told + trial 0 in flight to epoch 4 (2 pending): one epoch of room left
    assert Budget(max_epochs_total=5).epochs_allowed(opt, steps, first, in_flight={0: 4}) == 1
    assert Budget(max_epochs_total=5).epochs_allowed(opt, steps, Suggestion(0, {}, 3), in_flight={}) == 3


def test_an_epoch_ended_early_at_the_deadline_starts_when_half_of_it_fits():
    """A re-fit plans the fine-tune's last epoch to end with the budget; priced whole, the fraction of a second
    the loop takes between the plan and the start refused it (a 2-minute digits run stopped at epoch 5 of 6
    with 14 s unused). An epoch the deadline ends early (and keeps) starts when its wrap-up and half of it fit."""
    opt = _Told({0: TrialState([0.1], [2.0])})
    budget = Budget(seconds=60.0, planned={0: 10.0})
    steps = _steps(3, wall=10.0)  # reserve END_SECONDS + 2 x 0.5
    reserve = budget.reserve(steps)
    one, two = Suggestion(0, {"model": "a"}, 2), Suggestion(0, {"model": "a"}, 3)
    just_short = 60.0 - reserve - 10.0 + 0.3  # the whole epoch misses the budget by 0.3 s
    assert budget.stop_reason(opt, steps, Clock(just_short), one) == "budget used"
    assert budget.stop_reason(opt, steps, Clock(just_short), one, ends_early=True) is None
    half = 60.0 - reserve - budget.wrap_up(steps) - Budget.ENDS_EARLY_SHARE * 10.0
    assert budget.stop_reason(opt, steps, Clock(half - 0.1), one, ends_early=True) is None
    assert budget.stop_reason(opt, steps, Clock(half + 0.1), one, ends_early=True) == "budget used"
    # only the job's last epoch may be cut: the epochs before it are priced whole
    assert budget.stop_reason(opt, steps, Clock(just_short - 10.0), two, ends_early=True) is None
    assert budget.stop_reason(opt, steps, Clock(half - 9.9), two, ends_early=True) == "budget used"
    # a short epoch is priced whole (its wrap-up and half of it would be more than all of it)
    tiny = Budget(seconds=60.0, planned={0: 1.0})
    assert tiny.stop_reason(opt, steps, Clock(60.0 - reserve - 1.0 + 0.1), one, ends_early=True) == "budget used"
