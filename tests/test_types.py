"""Type checking is part of the test command: mypy (configured in pyproject.toml) on the whole package
(issue 18.1): every module of hf_quicktune checks clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["hf_quicktune"]


def test_mypy_is_clean_on_the_package(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(ROOT / ".mypy_cache"), *PACKAGES],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    # mypy comes with the dev extra (make setup); a missing one fails here too
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert "Success: no issues found" in proc.stdout
