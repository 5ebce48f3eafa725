"""Type checking is part of the test command: mypy (configured in pyproject.toml) on the packages whose
seams are typed (issue 18.1). Add a package here once it checks clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["hf_quicktune/search", "hf_quicktune/train", "hf_quicktune/data", "hf_quicktune/report",
            "hf_quicktune/hub.py", "hf_quicktune/errors.py", "hf_quicktune/faults.py", "hf_quicktune/constants.py"]


def test_mypy_is_clean_on_the_typed_packages(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(ROOT / ".mypy_cache"), *PACKAGES],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    # mypy comes with the dev extra (make setup); a missing one fails here too
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert "Success: no issues found" in proc.stdout
