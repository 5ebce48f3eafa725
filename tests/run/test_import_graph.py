"""The run package's modules import each other without a cycle (top-level and lazy imports alike)."""

from __future__ import annotations

import ast
from pathlib import Path

import hf_quicktune.run as run_pkg

PREFIX = "hf_quicktune.run."


def _run_imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in Path(run_pkg.__file__).parent.glob("*.py"):
        mods: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith(PREFIX):
                    mods.add(node.module[len(PREFIX):].split(".")[0])
                elif node.module == "hf_quicktune.run":
                    mods |= {a.name for a in node.names}
            elif isinstance(node, ast.Import):
                mods |= {a.name[len(PREFIX):].split(".")[0] for a in node.names if a.name.startswith(PREFIX)}
        graph[path.stem] = mods - {path.stem}
    return graph


def test_run_modules_have_no_import_cycle():
    graph = _run_imports()
    assert "trials" in graph["finalize"] and "loop" not in graph["finalize"]  # the cycle this test guards against

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    cycles = sorted(m for m in graph if m in reach(m))
    assert not cycles, f"modules on an import cycle: {cycles}"
