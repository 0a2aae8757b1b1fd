"""The metric specification (metrics.spec): a score registered in one place reaches the
database, the rows of a run, the tables, the report, the export and the check."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from bench.results import COLUMNS, ResultsStore
from bench.text_tables import format_rows, leaderboard_columns
from metrics.spec import METRICS, Metric, register_metric, unregister_metric

#: the results table's columns as of b8f1abb (before the specification): the derived schema
#: must stay this, so existing databases open unchanged
COLUMNS_B8F1ABB = (
    "run_id created method family dataset split split_hash profile postprocess param_name "
    "param_value voi_split voi_merge voi arand cremi_score erl_nm nerl n_merges n_splits "
    "voi_ci_low voi_ci_high n_parameters train_seconds infer_voxels_per_s "
    "postprocess_voxels_per_s end_to_end_seconds peak_rss_mb device seed config_hash "
    "git_commit study voi_ci_method phantom_seed"
).split()


def _seg_per_gt(table) -> float:
    """The toy score: segments per ground-truth object (1 for a perfect segmentation)."""
    return len(table.seg_ids) / max(len(table.gt_ids), 1)


@pytest.fixture
def toy_metric():
    """``toy_segs``, registered for one test only (the one place a new metric is written)."""
    metric = register_metric(Metric(
        key="toy_segs", label="segs/gt", description="segments per ground-truth object",
        compute=_seg_per_gt, fmt="{:.2f}", per_slab=True, checked=True,
    ))
    try:
        yield metric
    finally:
        unregister_metric(metric.key)
    assert "toy_segs" not in METRICS and "toy_segs" not in COLUMNS


def test_builtin_schema_is_that_of_b8f1abb():
    assert list(COLUMNS) == COLUMNS_B8F1ABB
    headers = [h for _, h, _ in leaderboard_columns()]
    assert headers[4:12] == ["VOI", "split", "merge", "ARAND", "CREMI", "NERL", "#splits",
                             "#merges"]


def test_register_refuses_bad_and_duplicate_metrics():
    with pytest.raises(ValueError, match="registered already"):
        register_metric(Metric("voi", "VOI", "again", compute=_seg_per_gt))
    with pytest.raises(ValueError, match="compute"):
        register_metric(Metric("toy_nocompute", "x", "no way to compute it"))
    with pytest.raises(ValueError, match="better="):
        Metric("toy_dir", "x", "bad direction", better="up", compute=_seg_per_gt)
    with pytest.raises(ValueError, match="built in"):
        unregister_metric("voi")


def test_a_new_metric_joins_an_existing_database(tmp_path, toy_metric):
    db = tmp_path / "leaderboard.sqlite"
    old = ", ".join(COLUMNS_B8F1ABB)
    with sqlite3.connect(db) as con:  # a database written before the metric existed
        con.execute(f"CREATE TABLE results ({old}, PRIMARY KEY (run_id, postprocess, split))")
        con.execute("INSERT INTO results (run_id, created, method, dataset, split, postprocess,"
                    " voi) VALUES ('old', '2026', 'm', 'd', 'test', 'waterz', 1.5)")
    store = ResultsStore(tmp_path)
    store.add_rows([{"run_id": "new", "created": "2027", "method": "m", "dataset": "d",
                     "split": "test", "postprocess": "waterz", "voi": 1.0, "toy_segs": 2.5}])
    with sqlite3.connect(db) as con:
        got = dict(con.execute("SELECT run_id, toy_segs FROM results").fetchall())
    assert got == {"old": None, "new": 2.5}


def test_a_new_metric_reaches_rows_report_and_export(tmp_path, toy_metric):
    from bench.pipeline import RunSpec, run
    from bench.report import build_report, export_leaderboard

    store = ResultsStore(tmp_path / "r")
    rows = run(RunSpec(method="rf", profile="smoke", seed=0), store).rows
    assert len(rows) == 1 and rows[0]["toy_segs"] >= 0.0
    assert "segs/gt" in format_rows(rows).splitlines()[0]
    board = store.rows()
    assert board[0]["toy_segs"] == pytest.approx(rows[0]["toy_segs"])
    build_report(store, tmp_path / "report")
    md = (tmp_path / "report" / "leaderboard.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| rank"))
    cells = header.split(" | ")
    assert cells.index("segs/gt") == cells.index("#merges") + 1
    assert "segs/gt: segments per ground-truth object; lower is better." in md
    csv = export_leaderboard(store.root, tmp_path / "export", ["csv"])[0]
    # the last of the leaderboard's columns; the report's floor columns follow it
    from bench.report.floor import FLOOR_COLUMNS

    header = csv.read_text().splitlines()[0].split(",")
    assert header[-1 - len(FLOOR_COLUMNS)] == "toy_segs"


def test_a_new_checked_metric_is_compared_by_the_check(toy_metric):
    from bench import check

    assert check.checked_scores() == ("voi", "arand", "toy_segs")
    ceilings = check.score_ceilings()
    # the all-merged segmentation is no worst case of this score: its ceiling is its range's end
    assert ceilings == {"voi": pytest.approx(ceilings["voi"]), "arand": ceilings["arand"],
                        "toy_segs": float("inf")}
    entry = {"n_seeds": 5, "voi": 1.0, "voi_std": 0.1, "arand": 0.3, "arand_std": 0.02,
             "toy_segs": 1.0, "toy_segs_std": 0.05}
    baseline = {"results": {"rf/waterz": entry}}
    with pytest.raises(ValueError, match="lacks toy_segs_std"):
        check.validate_baseline({"results": {"rf/waterz": {
            k: v for k, v in entry.items() if k != "toy_segs_std"}}}, "baseline.json")
    rows = check.compare({"rf/waterz": {"voi": 1.0, "arand": 0.3, "toy_segs": 3.0}}, baseline,
                         abs_tol=0.05)
    toy = next(c for c in rows if c.score == "toy_segs")
    assert toy.regressed and not next(c for c in rows if c.score == "voi").regressed


def test_a_higher_is_better_checked_metric_regresses_downwards():
    from bench import check

    register_metric(Metric("toy_up", "up", "a score where higher is better", better="higher",
                           compute=_seg_per_gt, checked=True, bounds=(0.0, 1.0)))
    try:
        base = {"results": {"m/waterz": {"n_seeds": 5, "voi": 1.0, "voi_std": 0.1,
                                         "arand": 0.3, "arand_std": 0.02, "toy_up": 0.8,
                                         "toy_up_std": 0.01}}}
        rows = check.compare({"m/waterz": {"voi": 1.0, "arand": 0.3, "toy_up": 0.5}}, base,
                             abs_tol=0.05)
        toy = next(c for c in rows if c.score == "toy_up")
        assert toy.regressed and not toy.improved
        rows = check.compare({"m/waterz": {"voi": 1.0, "arand": 0.3, "toy_up": 0.99}}, base,
                             abs_tol=0.05)
        toy = next(c for c in rows if c.score == "toy_up")
        assert toy.improved and not toy.regressed
    finally:
        unregister_metric("toy_up")


def test_score_segmentation_builds_every_table_from_the_sections():
    """Whole volume, slabs and sections from one pass equal their direct tables."""
    import metrics
    from bench.pipeline import score_segmentation, slab_bounds
    from metrics.table import overlap_table

    rng = np.random.default_rng(0)
    gt = rng.integers(0, 6, size=(9, 12, 12)).astype(np.uint64)
    seg = (gt * 2 + (rng.random(gt.shape) < 0.2)).astype(np.uint64)
    gt[3] = 0  # a section without a labelled voxel
    scored = score_segmentation(seg, gt, slab_sections=4, seed=0)
    direct = metrics.evaluate(gt, seg)
    assert scored.scores == {k: direct[k] for k in scored.scores}
    table = overlap_table(gt, seg)
    for name in ("gt_ids", "seg_ids", "rows", "cols", "counts"):
        assert np.array_equal(getattr(scored.table, name), getattr(table, name))
    assert scored.table.n_total == table.n_total
    assert len(scored.per_section) == 8
    assert [(s["z0"], s["z1"]) for s in scored.slabs] == slab_bounds(9, 4)
    for s in scored.slabs:
        assert s["voi"] == metrics.evaluate(gt[s["z0"]:s["z1"]], seg[s["z0"]:s["z1"]])["voi"]
