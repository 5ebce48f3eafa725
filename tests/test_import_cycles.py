"""No import cycle between the modules of any hf_quicktune package (module-level and lazy imports alike).

``OMP_NUM_THREADS=1 .venv/bin/pytest -q tests/test_import_cycles.py`` is the command that shows it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hf_quicktune

ROOT = Path(hf_quicktune.__file__).parent
PACKAGES = sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file())


def module_graph(package: str) -> dict[str, set[str]]:
    """{module: modules of the same package it imports} for ``hf_quicktune.<package>``."""
    prefix = f"hf_quicktune.{package}."
    graph: dict[str, set[str]] = {}
    for path in (ROOT / package).glob("*.py"):
        mods: set[str] = set()
        tree = ast.parse(path.read_text())
        typing_only = {id(n) for guard in ast.walk(tree) if isinstance(guard, ast.If) and _is_type_checking(guard.test)
                       for stmt in guard.body for n in ast.walk(stmt)}  # `if TYPE_CHECKING:` imports never run
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith(prefix):
                    mods.add(node.module[len(prefix):].split(".")[0])
                elif node.module == prefix[:-1]:
                    mods |= {a.name for a in node.names}
            elif isinstance(node, ast.Import):
                mods |= {a.name[len(prefix):].split(".")[0] for a in node.names if a.name.startswith(prefix)}
        graph[path.stem] = mods - {path.stem}
    return graph


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def on_a_cycle(graph: dict[str, set[str]]) -> list[str]:
    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    return sorted(m for m in graph if m in reach(m))


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle(package):
    assert not on_a_cycle(module_graph(package)), f"hf_quicktune.{package}: modules on an import cycle"


def test_the_cycles_this_guards_against_are_gone():
    run, train, bench = module_graph("run"), module_graph("train"), module_graph("bench")
    assert "trials" in run["finalize"] and "loop" not in run["finalize"]
    assert {"state", "step", "device"} <= train["trial"]  # the train facade uses the split modules
    assert "task" in bench["gray_box"] and "methods" not in bench["gray_box"]
    assert on_a_cycle({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == ["a", "b"]  # the detector detects
