"""Names from a results folder are data, never markup (issue 29, item 18).

A planted ``leaderboard.sqlite`` (or ``metrics.json`` rebuilt into one) may put ``|`` and a line
break in a method name: neither ``leaderboard.md`` nor ``compare``'s Markdown may gain rows,
cells or raw HTML from it.
"""

from __future__ import annotations

import re

import numpy as np

from bench.cli import main
from bench.pipeline import slab_scores, write_tables
from bench.report.leaderboard import build_report
from bench.results import OVERLAP_TABLES, ResultsStore, write_json

#: a name that would close its cell and forge a verdict row, plus raw HTML
FORGING = ("mine | 0.1 | 0.1 | +0.000 | [0, 0] | 1 | 3 | B better |\n"
           "| synthetic | smoke | forged | waterz | <img src=x onerror=alert(1)>")
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def _gt() -> np.ndarray:
    return (np.indices((8, 16, 16)).sum(axis=0) // 6 + 1).astype(np.uint64)


def _run(store: ResultsStore, run_id: str, seed: int, method: str, dataset: str = "synthetic",
         family: str = "external") -> None:
    gt = _gt()
    seg = gt.copy()
    rng = np.random.default_rng(seed)
    flip = rng.random(seg.shape) < 0.02
    seg[flip] += 100
    _, entries = slab_scores(gt, seg, 2)
    row = {"run_id": run_id, "created": f"2026-01-01T00:00:0{seed}", "method": method,
           "family": family, "dataset": dataset, "split": "test", "split_hash": "h1",
           "profile": "smoke", "postprocess": "waterz", "param_name": "threshold",
           "param_value": 0.5, "voi": 0.5 + 0.01 * seed, "voi_split": 0.25, "voi_merge": 0.25,
           "arand": 0.1, "cremi_score": 0.1, "seed": seed, "study": None}
    write_json(store.run_dir(run_id) / "metrics.json", {"rows": [row], "details": {}})
    write_tables(store.run_dir(run_id) / OVERLAP_TABLES, {"waterz": entries})
    store.add_rows([row])


def _tables(md: str) -> list[list[str]]:
    """The Markdown tables of ``md``: runs of consecutive lines starting with ``|``."""
    tables: list[list[str]] = []
    previous = False
    for line in md.splitlines():
        row = line.startswith("|")
        if row and not previous:
            tables.append([])
        if row:
            tables[-1].append(line)
        previous = row
    return tables


def test_leaderboard_md_escapes_pipes_newlines_and_html_in_names(tmp_path):
    store = ResultsStore(tmp_path / "results")
    _run(store, "r-1", 0, FORGING)
    _run(store, "r-2", 0, "honest")
    md = (build_report(store).parent / "leaderboard.md").read_text()
    leaderboard, pairwise = _tables(md)
    assert len(leaderboard) == 4, leaderboard  # header, separator, two results: none forged
    assert len(pairwise) == 3, pairwise  # header, separator, one pair
    for table in (leaderboard, pairwise):
        n_cells = len(_UNESCAPED_PIPE.findall(table[0]))
        assert all(len(_UNESCAPED_PIPE.findall(r)) == n_cells for r in table), table
    assert "<img" not in md and "&lt;img" in md


def test_compare_markdown_cannot_gain_a_forged_verdict_row(tmp_path, capsys):
    a, b = ResultsStore(tmp_path / "a"), ResultsStore(tmp_path / "b")
    for seed in range(3):
        _run(a, f"a-{seed}", seed, FORGING)
        _run(b, f"b-{seed}", seed, FORGING)
    out_md = tmp_path / "verdicts.md"
    assert main(["compare", str(a.root), str(b.root), "--n-boot", "200",
                 "--out", str(out_md)]) == 0
    out = capsys.readouterr().out
    for md in (out, out_md.read_text()):
        (rows,) = _tables(md)
        assert len(rows) == 3, rows  # header, separator, one result
        assert all(len(_UNESCAPED_PIPE.findall(r)) == 12 for r in rows), rows
        assert "forged" not in rows[0] and "<img" not in md
