"""The README's and the docs' result tables are generated from committed records and cannot
drift from them: a number edited by hand, or records changed without regenerating, fail here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.cli import main
from bench.report import doc_tables
from bench.report.doc_tables import ROOT, TABLES, render, stale_tables, update_tables


def test_every_generated_table_agrees_with_its_records():
    assert stale_tables() == [], "regenerate with: python -m bench docs tables --write"
    assert doc_tables.unused_tables() == []


def test_the_command_agrees_and_exits_0(capsys):
    assert main(["docs", "tables"]) == 0
    assert "every generated table agrees" in capsys.readouterr().out


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """A copy of the README, the docs pages and every record file."""
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    for page in (ROOT / "docs").rglob("*.md"):
        if "_build" not in page.parts:
            dest = tmp_path / page.relative_to(ROOT)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(page, dest)
    for spec in TABLES.values():
        dest = tmp_path / spec.source
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / spec.source, dest)
    return tmp_path


def test_a_number_typed_by_hand_is_caught_and_rewritten(tree):
    readme = tree / "README.md"
    text = readme.read_text()
    assert "| 0.595 ± 0.024 |" in text
    readme.write_text(text.replace("| 0.595 ± 0.024 |", "| 0.495 ± 0.024 |", 1))
    assert stale_tables(tree) == ["README.md: synthetic-quick-readme"]
    assert update_tables(tree) == ["README.md: synthetic-quick-readme"]
    assert readme.read_text() == text and stale_tables(tree) == []


def test_records_changed_without_regenerating_are_caught(tree):
    source = tree / TABLES["synthetic-quick-readme"].source
    doc = json.loads(source.read_text())
    doc["rows"][0]["voi_mean"] = 0.5
    source.write_text(json.dumps(doc))
    stale = stale_tables(tree)
    assert "README.md: synthetic-quick-readme" in stale
    assert any(s.endswith(": synthetic-quick-3seeds") for s in stale)


def test_the_floor_is_the_best_control_of_the_same_post_processor(tree):
    source = tree / TABLES["synthetic-quick-readme"].source
    doc = json.loads(source.read_text())
    doc["rows"] = [r for r in doc["rows"] if r.get("family") != "control"]  # the committed ones
    control = {**doc["rows"][0], "method": "random", "family": "control", "rank": 9,
               "measured": "2026-12-08", "code_commit": "abc1234"}
    doc["rows"] += [{**control, "voi_mean": 4.1}, {**control, "method": "rolled",
                                                   "voi_mean": 2.5}]
    source.write_text(json.dumps(doc))
    short, full = render("synthetic-quick-readme", tree), render("synthetic-quick-3seeds", tree)
    waterz = [ln for ln in short.splitlines() if "| waterz |" in ln]
    assert waterz and all(ln.endswith("| 2.500 (rolled) |") for ln in waterz)
    lmc = [ln for ln in short.splitlines() if "| lmc |" in ln]
    assert all(ln.endswith(f"| {doc_tables.NO_FLOOR} |") for ln in lmc)
    assert "| random |" not in short and "| random |" in full  # the README hides controls
    assert "Floor: controls measured 2026-12-08 at commit abc1234." in short


def test_broken_markers_and_unknown_names_say_what_is_wrong(tree):
    page = tree / "docs" / "broken.md"
    page.write_text("<!-- generated: synthetic-quick-readme -->\nno end marker\n")
    with pytest.raises(ValueError, match="broken.md.*has no '<!-- end generated -->'"):
        stale_tables(tree)
    page.write_text("<!-- generated: nosuchtable -->\n<!-- end generated -->\n")
    with pytest.raises(KeyError, match="unknown generated table 'nosuchtable'"):
        stale_tables(tree)
