"""A file system that refuses a write (a full disk, a quota, a file-size limit) stops the work with one paragraph
that names the path and the free space, and is not a failure of the configuration being trained: the trial is not
marked failed (the optimizer would learn that a good configuration fails), and a resume continues it."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import textwrap

import pytest

from hf_quicktune.errors import StorageError

#: a child process under a 1 MB file-size limit (RLIMIT_FSIZE; Python ignores SIGXFSZ, so a write past it fails
#: with EFBIG) writes a checkpoint whose weights or training state is larger than that
CHILD = textwrap.dedent("""
    import json, os, resource, sys
    import torch
    from hf_quicktune.errors import StorageError
    from hf_quicktune.train.checkpoint import save_checkpoint

    out, big = sys.argv[1], sys.argv[2]
    resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))
    weights = {"w": torch.zeros(400_000 if big == "weights" else 1_000)}
    state = {"m": torch.zeros(400_000 if big == "state" else 1_000)}
    try:
        save_checkpoint(out, 3, weights, state, {"epoch": 3})
        print(json.dumps({"raised": None}))
    except StorageError as err:
        print(json.dumps({"raised": "StorageError", "message": str(err), "code": err.code,
                          "left": sorted(os.listdir(out))}))
""")


@pytest.mark.parametrize("big", ["weights", "state"])  # safetensors' writer, then torch.save's
def test_a_real_file_size_limit_is_a_storage_error_and_leaves_no_partial_checkpoint(tmp_path, big):
    out = tmp_path / "trial"
    out.mkdir()
    (out / "curve.jsonl").write_text("")
    done = subprocess.run([sys.executable, "-c", CHILD, str(out), big], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["raised"] == "StorageError", result
    assert f"could not write {out / 'checkpoint-0003'} (" in result["message"]
    assert "GiB free on that disk" in result["message"] and "--resume" in result["message"]
    assert result["left"] == ["curve.jsonl"]  # the partial checkpoint's folder is gone (its space back)


def test_an_error_that_is_not_the_file_systems_stays_what_it_is(tmp_path, monkeypatch):
    import torch

    from hf_quicktune.train import checkpoint

    def broken(*args, **kwargs):
        raise RuntimeError("cannot pickle 'generator' object")

    monkeypatch.setattr(checkpoint.torch, "save", broken)
    with pytest.raises(RuntimeError, match="cannot pickle"):
        checkpoint.save_checkpoint(tmp_path, 1, {"w": torch.zeros(3)}, {"m": 1}, {})


def test_storage_error_names_the_errno():
    err = StorageError.writing("/nonexistent/dir/file", OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert err.code == "quota_exceeded" and "could not write /nonexistent/dir/file (Disk quota exceeded; " in str(err)
