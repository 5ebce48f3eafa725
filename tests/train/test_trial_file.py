"""trial.json: what a trial directory holds, and the refusal to continue its checkpoints with other settings
(train/checkpoint.py write_trial_file; no training needed)."""

from __future__ import annotations

import json

import pytest

from hf_quicktune.errors import TrainError
from hf_quicktune.train.checkpoint import INFO_FILE, TRIAL_FILE, write_trial_file

INFO = {"candidate": "m", "config": {"lr": 0.1}, "max_epochs": 5, "image_size": 32, "train_limit": None, "seed": 0,
        "dataset_fingerprint": "f", "num_classes": 3}


def _checkpoint(directory, epoch=1):
    ckpt = directory / f"checkpoint-{epoch:04d}"
    ckpt.mkdir(parents=True)
    (ckpt / INFO_FILE).write_text("{}")


def test_trial_file_is_written_only_where_asked(tmp_path):
    write_trial_file(tmp_path / "t", INFO, write=False)
    assert (tmp_path / "t").is_dir() and not (tmp_path / "t" / TRIAL_FILE).exists()
    write_trial_file(tmp_path / "t", INFO)
    assert json.loads((tmp_path / "t" / TRIAL_FILE).read_text()) == INFO


def test_checkpoints_of_other_settings_are_refused_naming_what_differs(tmp_path):
    d = tmp_path / "t"
    write_trial_file(d, INFO)
    changed = {**INFO, "config": {"lr": 0.2}, "seed": 1}
    write_trial_file(d, changed)  # no checkpoint yet: the directory is simply reused
    assert json.loads((d / TRIAL_FILE).read_text())["seed"] == 1
    _checkpoint(d)
    write_trial_file(d, {**changed, "num_classes": 4})  # a key that does not define the trial
    with pytest.raises(TrainError, match=r"different config, seed; use a new directory") as err:
        write_trial_file(d, INFO)
    assert str(d) in str(err.value)
    assert json.loads((d / TRIAL_FILE).read_text())["seed"] == 1  # the refused settings were not written


def test_two_workers_rewriting_the_trial_file_at_once_never_read_it_half_written(tmp_path):
    """A re-fitted schedule reached two Ray workers that both held the trial's engine, and both rewrote trial.json
    at once: one read the other's file between its truncation and its text (JSONDecodeError, a run stopped on
    "an unexpected error"). The file is replaced whole now; writers in two threads (as two actors on a shared disk
    would) and the reads they make find it whole every time."""
    import threading

    d = tmp_path / "t"
    _checkpoint(d)
    write_trial_file(d, INFO, horizon_may_change=True)
    errors = []

    def rewrite(k):
        for i in range(300):
            try:
                write_trial_file(d, {**INFO, "max_epochs": 5 + (i + k) % 7, "padding": "x" * 20_000},
                                 horizon_may_change=True)
            except Exception as err:  # noqa: BLE001 - what the test counts
                errors.append(repr(err))

    threads = [threading.Thread(target=rewrite, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert json.loads((d / TRIAL_FILE).read_text())["candidate"] == "m"
    assert [p.name for p in d.iterdir() if p.name.startswith(".")] == []  # no temporary file left behind


def test_a_trial_file_write_that_fails_leaves_no_temporary_file_and_says_where(tmp_path, monkeypatch):
    """A full disk between the temporary file's text and its replacing trial.json: the temporary file is removed, the
    old trial.json stays, and the error is the storage error the checkpoint writes raise, naming the file."""
    from hf_quicktune import faults
    from hf_quicktune.errors import StorageError

    d = tmp_path / "t"
    write_trial_file(d, INFO)
    monkeypatch.setattr(faults, "_SPEC", "trial_file.write:1:ENOSPC")
    monkeypatch.setattr(faults, "_counts", {})
    with pytest.raises(StorageError, match="trial.json"):
        write_trial_file(d, {**INFO, "seed": 3})
    assert json.loads((d / TRIAL_FILE).read_text())["seed"] == 0
    assert sorted(p.name for p in d.iterdir()) == [TRIAL_FILE]


def test_a_temporary_trial_file_a_killed_writer_left_is_removed_by_the_next_write(tmp_path):
    """A worker killed between writing the temporary file and replacing trial.json leaves it behind; the next write
    of the trial removes one older than STALE_TEMPORARY_S and keeps a younger one (another worker's, about to
    replace the file)."""
    import os
    import time

    from hf_quicktune.train.checkpoint import STALE_TEMPORARY_S

    d = tmp_path / "t"
    write_trial_file(d, INFO)
    stale, fresh = d / f".{TRIAL_FILE}.dead.tmp", d / f".{TRIAL_FILE}.live.tmp"
    for p in (stale, fresh):
        p.write_text("{")
    old = time.time() - STALE_TEMPORARY_S - 5
    os.utime(stale, (old, old))
    write_trial_file(d, INFO)
    assert not stale.exists() and fresh.exists()


def test_temporary_trial_files_are_aged_by_the_file_servers_clock(tmp_path, monkeypatch):
    """On a shared folder the files' times are the server's: a node whose clock runs an hour ahead keeps another
    worker's temporary file written a second ago, and one whose clock runs behind still removes a dead one (both
    aged against the trial file the write just replaced)."""
    import os
    import time

    from hf_quicktune.train.checkpoint import STALE_TEMPORARY_S

    d = tmp_path / "t"
    write_trial_file(d, INFO)
    live = d / f".{TRIAL_FILE}.live.tmp"
    live.write_text("{")
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3600)  # this node's clock, an hour ahead of the server's
    write_trial_file(d, INFO)
    assert live.exists()
    dead = d / f".{TRIAL_FILE}.dead.tmp"
    dead.write_text("{")
    old = real() - STALE_TEMPORARY_S - 5
    os.utime(dead, (old, old))
    monkeypatch.setattr(time, "time", lambda: real() - 3600)  # an hour behind
    write_trial_file(d, INFO)
    assert not dead.exists() and live.exists()
