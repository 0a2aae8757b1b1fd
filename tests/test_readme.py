"""The README stays a front page: short, with the two commands, and links that resolve."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_the_readme_is_short_and_gives_the_two_commands():
    assert len(README.splitlines()) <= 200
    assert 'pip install -e ".[dev]" && python -m bench run --method cad' in README
    assert "python -m pytest -q" in README


def test_every_relative_link_of_the_readme_resolves():
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README)
    local = [link for link in links if "://" not in link]
    assert local, "the README links into the docs"
    assert [link for link in local if not (ROOT / link).exists()] == []


def test_every_docs_page_is_in_a_toctree_or_included():
    """A page nobody can reach from the site's navigation is a page that rots."""
    docs = ROOT / "docs"
    listed: set[str] = set()
    for index in [*docs.rglob("index.md"), *docs.rglob("index.rst")]:
        text = index.read_text()
        base = index.parent.relative_to(docs)
        for block in re.findall(r"```\{toctree\}(.*?)```|\.\. toctree::(.*?)(?:\n\S|\Z)",
                                text, flags=re.S):
            for line in "".join(block).splitlines():
                name = line.strip()
                if name and not name.startswith(":"):
                    listed.add(str(base / name) if str(base) != "." else name)
    pages = {str(p.relative_to(docs).with_suffix("")) for p in docs.rglob("*.md")
             if "_build" not in p.parts and p.name != "index.md"}
    assert pages - listed == set()
