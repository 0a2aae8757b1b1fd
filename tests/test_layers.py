"""The house's import structure: every module sits in a layer of the import-linter ``layers``
contract (``pyproject.toml``), and no two modules import each other, directly or through others.

``lint-imports`` checks that the layers are kept; it cannot tell that a new module was left out
of every layer (such a module is unconstrained) nor that two modules of one layer form a cycle.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

grimp = pytest.importorskip("grimp")  # installed with import-linter (the test extra)

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bench", "baselines", "cad", "metrics", "emseg_registry")


def _layer_modules() -> list[str]:
    """The module names in the ``layers`` contract, read from pyproject.toml."""
    text = (ROOT / "pyproject.toml").read_text()
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: read the one list we need
        block = re.search(r'id = "layers".*?layers = \[(.*?)\n\]', text, re.S)
        assert block, "pyproject.toml has no contract with id = 'layers'"
        entries = re.findall(r'^\s*"([^"]+)"', block.group(1), re.M)
    else:
        contracts = tomllib.loads(text)["tool"]["importlinter"]["contracts"]
        (layers,) = [c for c in contracts if c.get("id") == "layers"]
        assert layers["type"] == "layers"
        entries = layers["layers"]
    return [m.strip() for entry in entries for m in re.split(r"[|:]", entry)]


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph(*PACKAGES)


def test_every_module_is_in_a_layer(graph):
    layers = _layer_modules()
    assert len(layers) == len(set(layers)), "a module is named in two layers"

    def covered(module: str) -> bool:
        return any(module == m or module.startswith(m + ".") for m in layers)

    # the root packages' own __init__ modules hold every layer; they are not layered themselves
    outside = sorted(m for m in graph.modules if m not in PACKAGES and not covered(m))
    assert not outside, f"modules in no layer of pyproject.toml's layers contract: {outside}"


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []

    def imported(module: str):
        return iter(sorted(graph.find_modules_directly_imported_by(module)))

    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, imported(start))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, imported(child)))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        m = stack.pop()
                        on_stack.discard(m)
                        group.append(m)
                        if m == node:
                            break
                    if len(group) > 1:
                        found.append(sorted(group))
    return found


def test_no_import_cycles(graph):
    # imports inside functions count too (grimp sees them): a lazy import still ties two modules
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_planted_cycle(tmp_path, monkeypatch):
    pkg = tmp_path / "cyclepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from cyclepkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from cyclepkg import c\n")
    (pkg / "c.py").write_text("import cyclepkg.a\n")
    (pkg / "d.py").write_text("import cyclepkg.a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    planted = grimp.build_graph("cyclepkg", cache_dir=None)
    assert _cycles(planted) == [["cyclepkg.a", "cyclepkg.b", "cyclepkg.c"]]
