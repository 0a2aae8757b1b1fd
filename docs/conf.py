"""Sphinx configuration of the emseg-bench documentation (``docs/``).

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (``.ci/run`` does, with
warnings as errors). Pages are Markdown (MyST); the API reference is generated from the
docstrings (autodoc + numpydoc), importing the packages from the repository root.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

project = "emseg-bench"
author = "emseg-bench contributors"
copyright = "emseg-bench contributors"  # noqa: A001 - Sphinx's name

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "numpydoc",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "results", "img/README*"]

# Markdown: ``$...$`` stays text; heading anchors so pages can link to a section (page.md#name)
myst_enable_extensions = ["deflist"]
myst_heading_anchors = 3

# API reference: members in source order, no private names; numpydoc renders the sections
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set[str] = set()

html_theme = "pydata_sphinx_theme"
html_title = "emseg-bench"
html_theme_options = {
    "navigation_depth": 2,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path: list[str] = []
