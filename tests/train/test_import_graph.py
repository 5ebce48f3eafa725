"""The train package: no import cycle between its modules, and its light modules stay light (the lazy
``train/__init__`` lets the CLI read choice lists and records without importing torch)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import hf_quicktune.train as train_pkg

PREFIX = "hf_quicktune.train."


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in Path(train_pkg.__file__).parent.glob("*.py"):
        mods: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith(PREFIX):
                    mods.add(node.module[len(PREFIX):].split(".")[0])
                elif node.module == "hf_quicktune.train":
                    mods |= {a.name for a in node.names}
        graph[path.stem] = mods - {path.stem}
    return graph


def test_train_modules_have_no_import_cycle():
    graph = _graph()
    assert {"state", "step", "device"} <= graph["trial"]  # the facade uses the split modules

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    assert not sorted(m for m in graph if m in reach(m))


def test_config_and_records_import_no_torch():
    code = ("import sys, hf_quicktune.train.config, hf_quicktune.train.records, hf_quicktune.train as t; "
            "t.DEFAULTS; t.EpochRecord; print(sorted(m for m in ('torch', 'timm', 'accelerate') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    code = "import hf_quicktune.train as t; t.Trial; import sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"  # the lazy names do load on use
