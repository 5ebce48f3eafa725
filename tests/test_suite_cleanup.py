"""The test suite leaves nothing behind in the temp folder: its runs once filled CI's disk.

A run of this suite writes a local Hub's storage, an HF cache, Ray's session files and the datasets and
checkpoints of its tests' ``tmp_path`` (a few hundred MB to a GB a run); tests/conftest.py removes its
session folder at the end and pyproject keeps only failed tests' ``tmp_path``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_a_run_of_the_suite_removes_its_session_folder_and_passing_tests_tmp_paths(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    for key in ("PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST"):
        env.pop(key, None)
    # a file whose tests start the local Hub, push to it and write into tmp_path
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_hub_io.py"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    left = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
    assert not list(tmp.glob("hfqt-tests-*")), f"the session folder was kept: {left[:20]}"
    assert not left, f"files left in the temp folder: {left[:20]}"
