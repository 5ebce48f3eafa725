"""The train package's light modules stay light: the lazy ``train/__init__`` lets the CLI read choice lists and
records without importing torch (its import cycles: tests/test_import_cycles.py)."""

from __future__ import annotations

import subprocess
import sys


def test_config_and_records_import_no_torch():
    code = ("import sys, hf_quicktune.train.config, hf_quicktune.train.records, hf_quicktune.train as t; "
            "t.DEFAULTS; t.EpochRecord; print(sorted(m for m in ('torch', 'timm', 'accelerate') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    code = "import hf_quicktune.train as t; t.Trial; import sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"  # the lazy names do load on use
