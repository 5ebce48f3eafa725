"""The CLI must start fast: --help imports none of the heavy libraries (issue #2)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "timm", "transformers", "datasets", "gpytorch", "accelerate", "ray")


def _imported_modules(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
    )
    mods = set()
    for line in out.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            mods.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return mods


def test_cli_module_imports_no_heavy_library():
    mods = _imported_modules("import hf_quicktune.cli")
    assert not mods & set(HEAVY), mods & set(HEAVY)


@pytest.mark.parametrize("cmd", ["", "data", "zoo", "rank", "estimate", "finetune", "meta", "bench", "run", "demo",
                                 "cache"])
def test_help_of_every_command_imports_no_heavy_library(cmd):
    args = [a for a in (cmd, "--help") if a]
    code = f"import sys; from hf_quicktune.cli import main; sys.exit(main({args!r}))"
    mods = _imported_modules(code)
    assert not mods & set(HEAVY), f"`hf-quicktune {' '.join(args)}` imported {mods & set(HEAVY)}"


def test_main_returns_2_on_quicktune_error(capsys):
    from hf_quicktune.cli import cli, main
    from hf_quicktune.errors import DatasetError

    @cli.command("_boom")
    def _boom():
        raise DatasetError("no image column found in 'x'. Pass --image-column.")

    try:
        assert main(["_boom"]) == 2
    finally:
        cli.commands.pop("_boom")
    err = capsys.readouterr().err
    # exactly one paragraph: the message with its fix, no traceback, nothing else
    assert err.strip().splitlines() == ["Error: no image column found in 'x'. Pass --image-column."]
