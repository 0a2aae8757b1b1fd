"""The leaderboard report and the regression comparison, on hand-made result rows."""

from __future__ import annotations

import h5py
import numpy as np

from bench.report.leaderboard import build_report, latest_rows
from bench.report.plots import pareto_front
from bench.results import ResultsStore, write_json


def _fake_run(store: ResultsStore, run_id: str, method: str, family: str, voi: float,
              speed: float, created: str = "2026-01-01T00:00:00") -> None:
    row = {"run_id": run_id, "created": created, "method": method, "family": family,
           "dataset": "synthetic", "split": "test", "profile": "smoke", "postprocess": "waterz",
           "param_name": "threshold", "param_value": 0.5, "voi": voi, "voi_split": voi / 3,
           "voi_merge": 2 * voi / 3, "arand": voi / 10, "cremi_score": (voi * voi / 10) ** 0.5,
           "voi_ci_low": voi - 0.1, "voi_ci_high": voi + 0.1, "infer_voxels_per_s": speed,
           "voi_ci_method": "slab-bootstrap-normal",
           "n_parameters": 1000}
    curve = [{"value": t, "voi_split": 1 - t, "voi_merge": t, "voi": 1.0, "arand": 0.2}
             for t in (0.1, 0.5, 0.9)]
    details = {"waterz": {"validation_curve": curve,
                          "per_section": [{"voi": voi + 0.01 * z, "voi_split": 0, "voi_merge": 0,
                                           "arand": 0} for z in range(5)]}}
    write_json(store.run_dir(run_id) / "metrics.json", {"rows": [row], "details": details})
    rng = np.random.default_rng(0)
    with h5py.File(store.run_dir(run_id) / "segmentation.h5", "w") as f:
        f["panels/z"] = np.array([0, 2])
        f["panels/raw"] = rng.integers(0, 255, (2, 32, 32), dtype=np.uint8)
        f["panels/gt"] = rng.integers(0, 5, (2, 32, 32)).astype(np.uint64)
        f["waterz"] = rng.integers(0, 5, (3, 32, 32)).astype(np.uint64)
    store.add_rows([row])


def test_report_renders_tables_and_plots(tmp_path):
    store = ResultsStore(tmp_path)
    _fake_run(store, "r-cad", "cad", "distilled", 0.8, 2e6)
    _fake_run(store, "r-2d", "unet2d", "2d", 1.2, 2e6)
    _fake_run(store, "r-3d", "superhuman3d", "3d", 0.6, 1e5)
    index = build_report(store)
    page = index.read_text()
    assert "<table>" in page and page.count("data:image/png;base64,") == 4
    md = (index.parent / "leaderboard.md").read_text()
    # sorted by VOI: best first
    assert md.index("superhuman3d") < md.index("| cad") < md.index("unet2d")
    assert "[0.500, 0.700]" in md
    for name in ("pareto", "sweeps", "per_section", "panels"):
        assert (index.parent / f"synthetic_{name}.png").stat().st_size > 1000


def test_latest_row_wins():
    old = {"dataset": "d", "method": "m", "profile": "p", "postprocess": "w", "split": "test",
           "created": "2026-01-01", "voi": 2.0}
    new = {**old, "created": "2026-02-01", "voi": 1.0}
    assert latest_rows([old, new]) == [new]


def test_pareto_front_keeps_only_undominated_points():
    pts = [(1.0, 0.5), (10.0, 0.9), (5.0, 1.0), (0.5, 0.4)]
    assert pareto_front(pts) == [(0.5, 0.4), (1.0, 0.5), (10.0, 0.9)]


def test_report_of_a_study_shows_mean_std_and_pairwise_verdicts(tmp_path):
    from bench.pipeline import slab_scores, write_tables
    from bench.results import OVERLAP_TABLES

    store = ResultsStore(tmp_path)
    gt = (np.indices((8, 16, 16)).sum(axis=0) // 6 + 1).astype(np.uint64)
    for seed in range(3):
        for method, family, seg in (("good", "3d", gt), ("bad", "2d", (gt + 1) // 2)):
            run_id = f"{method}-s{seed}"
            _fake_run(store, run_id, method, family, 0.0, 1e5)
            slabs, entries = slab_scores(gt, seg, 4)
            write_tables(store.run_dir(run_id) / OVERLAP_TABLES, {"waterz": entries})
            row = {**store.rows(run_id=run_id)[0], "study": "study-t", "seed": seed,
                   "voi": float(stats_voi(entries)) + 0.01 * seed}
            store.add_rows([row])
    md = (build_report(store).parent / "leaderboard.md").read_text()
    assert "| 3 | 0.010 ± 0.010 |" in md  # good: seeds, mean ± std over the 3 seeds
    assert "bad vs good (waterz, smoke)" in md and "| significant |" in md
    assert "ΔVOI +" in md and "p = " in md


def stats_voi(entries) -> float:
    from bench import stats

    return float(stats.slab_tables(entries).voi())
