"""Epoch records: typed status (files keep plain strings), score and cost in one place."""

from __future__ import annotations

import json

from hf_quicktune.train.records import (
    AdvanceResult,
    EpochRecord,
    TrialStatus,
    append_records,
    cost_of,
    load_curve,
    score_of,
)


def _record(epoch: int = 1, status: str = "ok", top1: float | None = 0.75) -> EpochRecord:
    return EpochRecord(epoch=epoch, val_top1=top1, val_top5=None, val_loss=0.5, train_loss=0.6, train_seconds=2.5,
                       eval_seconds=0.25, images_per_second=10.0, peak_memory_mb=None, lr=1e-3, status=status)


def test_score_and_cost_of_records_and_their_dicts():
    ok, failed = _record(), _record(2, "oom", top1=None)
    assert ok.score == 0.75 and ok.cost == 2.75
    assert failed.score is None and failed.cost == 2.75 and not failed.ok
    assert _record(3, "diverged", top1=0.5).score is None  # a failed epoch's number is not a score
    for rec in (ok, failed):
        assert score_of(rec.to_dict()) == rec.score and cost_of(rec.to_dict()) == rec.cost
    assert cost_of({"epoch": 1, "train_seconds": 1.5}) == 1.5  # a record without eval time


def test_status_is_an_enum_and_files_keep_plain_strings(tmp_path):
    rec = _record(2, status="oom")
    assert rec.status is TrialStatus.OOM and rec.status == "oom"
    assert rec.to_dict()["status"] == "oom" and type(rec.to_dict()["status"]) is str
    append_records(tmp_path, [_record(), rec])
    lines = [json.loads(line) for line in (tmp_path / "curve.jsonl").read_text().splitlines()]
    assert [line["status"] for line in lines] == ["ok", "oom"]
    assert [r.status for r in load_curve(tmp_path)] == [TrialStatus.OK, TrialStatus.OOM]


def test_advance_result_is_a_list_with_how_the_call_ended():
    assert AdvanceResult().status is TrialStatus.OK and AdvanceResult() == []
    assert AdvanceResult([_record(), _record(2, "failed")]).status is TrialStatus.FAILED
    stopped = AdvanceResult([_record()], stopped=True, discarded_seconds=1.0)
    assert stopped.status is TrialStatus.STOPPED and stopped.status == "stopped" and len(stopped) == 1
