"""Names that become file names stay apart and readable (issue 29, item 19)."""

from __future__ import annotations

import h5py
import numpy as np

from bench.names import file_stem
from bench.report.leaderboard import build_report
from bench.results import ResultsStore, write_json


def test_names_that_sanitise_alike_get_different_stems():
    assert file_stem("net v1") != file_stem("net+v1")
    assert file_stem("net v1").startswith("net_v1-") and file_stem("net+v1").startswith("net_v1-")
    assert file_stem("cremiA", "net v1", "waterz") != file_stem("cremiA", "net+v1", "waterz")
    # a safe name is left exactly as it is (existing report and cache files keep their names)
    assert file_stem("cremiA", "unet2d", "waterz") == "cremiA_unet2d_waterz"
    assert file_stem("..") != file_stem("...")


def test_unicode_names_stay_readable_and_fit_a_file_name():
    assert file_stem("δεδομένα") == "δεδομένα"
    assert file_stem("データ") != file_stem("データ2") != "file"
    long = file_stem("データ" * 200)
    assert len(long.encode()) <= 150 and long.startswith("データ")


def _run(store: ResultsStore, run_id: str, dataset: str) -> None:
    row = {"run_id": run_id, "created": "2026-01-01T00:00:00", "method": "cad",
           "family": "distilled", "dataset": dataset, "split": "test", "profile": "smoke",
           "postprocess": "waterz", "param_name": "threshold", "param_value": 0.5, "voi": 0.8,
           "voi_split": 0.3, "voi_merge": 0.5, "arand": 0.1, "cremi_score": 0.2,
           "infer_voxels_per_s": 1e6, "n_parameters": 1000}
    write_json(store.run_dir(run_id) / "metrics.json", {"rows": [row], "details": {}})
    rng = np.random.default_rng(0)
    with h5py.File(store.run_dir(run_id) / "segmentation.h5", "w") as f:
        f["panels/z"] = np.array([0, 2])
        f["panels/raw"] = rng.integers(0, 255, (2, 32, 32), dtype=np.uint8)
        f["panels/gt"] = rng.integers(0, 5, (2, 32, 32)).astype(np.uint64)
        f["waterz"] = rng.integers(0, 5, (3, 32, 32)).astype(np.uint64)
    store.add_rows([row])


def test_report_plots_of_two_unicode_datasets_do_not_overwrite_each_other(tmp_path):
    store = ResultsStore(tmp_path / "results")
    _run(store, "r-1", "вода")
    _run(store, "r-2", "δεδομένα")
    _run(store, "r-3", "net v1")
    _run(store, "r-4", "net+v1")
    out = build_report(store).parent
    pareto = sorted(p.name for p in out.glob("*_pareto.png"))
    assert len(pareto) == 4, pareto
    assert "вода_pareto.png" in pareto and "δεδομένα_pareto.png" in pareto
