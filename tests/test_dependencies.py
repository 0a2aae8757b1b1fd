"""pyproject.toml declares what the code imports, and the test extra what only tests import."""

from __future__ import annotations

import ast
import functools
import importlib.metadata as md
import re
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]
OWN = {"bench", "baselines", "cad", "metrics", "emseg_registry", "tests", "benchmarks"}
#: the packages the distribution ships
PACKAGES = ["bench", "baselines", "cad", "metrics", "emseg_registry"]
#: imports that only an extra provides: import name -> extra
IN_EXTRAS = {"neuroglancer": "view", "gdown": "gdrive"}


def _imports(folders: list[str]) -> dict[str, str]:
    """Top-level third-party import name -> one file importing it."""
    found: dict[str, str] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in OWN and top not in sys.stdlib_module_names \
                            and top != "__future__":
                        found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def _names(requirements: list[str]) -> set[str]:
    """Normalised distribution names of requirement strings (self-references left out)."""
    out = set()
    for req in requirements:
        name = re.split(r"[\s<>=!~;\[]", req.strip(), maxsplit=1)[0]
        out.add(re.sub(r"[-_.]+", "-", name).lower())
    return out - {"emseg-bench"}


@functools.cache
def _installed() -> dict[str, list[str]]:
    return md.packages_distributions()  # slow: walks every installed distribution's files


def _distribution(import_name: str) -> str:
    dists = _installed().get(import_name)
    if not dists:
        pytest.fail(f"import {import_name!r} comes from no installed distribution")
    return re.sub(r"[-_.]+", "-", dists[0]).lower()


@pytest.fixture(scope="module")
def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_every_import_of_the_package_is_a_declared_dependency(project):
    core = _names(project["dependencies"])
    for name, where in _imports(PACKAGES).items():
        if name in IN_EXTRAS:
            # an optional extra need not be installed here: its import name is its distribution
            dist = _distribution(name) if name in _installed() else name
            extra = _names(project["optional-dependencies"][IN_EXTRAS[name]])
            assert dist in extra, f"{where} imports {name}: declare {dist} in its extra"
        else:
            dist = _distribution(name)
            assert dist in core, f"{where} imports {name}: declare {dist} in dependencies"


def test_every_dependency_is_imported_and_test_only_ones_are_in_the_test_extra(project):
    core = _names(project["dependencies"])
    package = {_distribution(n) for n in _imports(PACKAGES)
               if n not in IN_EXTRAS}
    assert core - package == set(), "core dependencies nothing imports (move or drop them)"
    test_extra = _names(project["optional-dependencies"]["test"])
    for name, where in _imports(["tests", "benchmarks"]).items():
        dist = _distribution(name)
        assert dist in core | test_extra, f"{where} imports {name}: declare {dist} in test"


def test_the_readme_install_pins_torch_directly(project):
    """The extra the README installs pins torch itself (see pyproject.toml's comment)."""
    readme = (ROOT / "README.md").read_text()
    extra = re.search(r'pip install -e "\.\[(\w+)\]"', readme).group(1)
    pins = [r for r in project["optional-dependencies"][extra] if r.startswith("torch")]
    assert pins == project["optional-dependencies"]["cpu"] == ["torch==2.13.0"]
