"""The harness end to end on the synthetic smoke profile: run, resume, report, check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main
from bench.registry import METHODS
from bench.results import ResultsStore


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    code = main(["run", "--method", "cad", "--profile", "smoke", "--results", str(root),
                 "--device", "cpu"])
    assert code == 0
    return root


def test_run_writes_rows_run_directory_and_outputs(smoke_results):
    store = ResultsStore(smoke_results)
    rows = store.rows(method="cad")
    assert len(rows) == 1
    row = rows[0]
    assert row["dataset"] == "synthetic" and row["profile"] == "smoke"
    assert 0 <= row["arand"] <= 1 and row["voi"] >= 0
    assert np.isclose(row["voi"], row["voi_split"] + row["voi_merge"])
    assert row["n_parameters"] == 900_816
    run_dir = store.run_dir(row["run_id"])
    for name in ("config.yaml", "environment.json", "model.pt", "predictions.h5",
                 "segmentation.h5", "metrics.json", "run.log"):
        assert (run_dir / name).exists(), name
    details = json.loads((run_dir / "metrics.json").read_text())["details"]["waterz"]
    # the threshold was chosen on validation, from a sweep of several values
    assert len(details["validation_curve"]) > 3
    assert row["param_value"] in [c["value"] for c in details["validation_curve"]]


def test_resume_after_interruption_reuses_finished_stages(smoke_results, tmp_path):
    store = ResultsStore(smoke_results)
    run_id = store.rows(method="cad")[0]["run_id"]
    # simulate a run killed after prediction: copy it without its evaluation outputs
    copy = ResultsStore(tmp_path)
    shutil.copytree(store.run_dir(run_id), copy.run_dir(run_id))
    for name in ("segmentation.h5", "metrics.json"):
        (copy.run_dir(run_id) / name).unlink()
    mtime = (copy.run_dir(run_id) / "model.pt").stat().st_mtime
    assert main(["run", "--resume", run_id, "--results", str(tmp_path)]) == 0
    assert (copy.run_dir(run_id) / "model.pt").stat().st_mtime == mtime  # not retrained
    resumed = copy.rows()[0]
    original = store.rows(method="cad")[0]
    assert resumed["voi"] == pytest.approx(original["voi"])


def test_report_after_run(smoke_results):
    assert main(["report", "--results", str(smoke_results)]) == 0
    page = (smoke_results / "report" / "index.html").read_text()
    assert "cad" in page and "data:image/png" in page


def test_smoke_row_has_skeleton_scores_and_the_report_lists_worst_errors(smoke_results):
    store = ResultsStore(smoke_results)
    row = store.rows(method="cad")[0]
    assert 0 <= row["nerl"] <= 1 and row["erl_nm"] >= 0
    assert row["n_merges"] >= 0 and row["n_splits"] >= 0
    run_dir = store.run_dir(row["run_id"])
    neurons = json.loads((run_dir / "neuron_errors.json").read_text())["neurons"]["waterz"]
    # the per-neuron VOI terms add up to the row's VOI
    assert sum(n["voi_split"] + n["voi_merge"] for n in neurons) == pytest.approx(row["voi"])
    assert main(["report", "--results", str(smoke_results)]) == 0
    md = (smoke_results / "report" / "leaderboard.md").read_text()
    assert "NERL" in md and "worst errors" in md and "python -m bench view" in md
    assert (smoke_results / "report" / "synthetic_cad_waterz_err0.png").exists()


def test_unknown_method_lists_valid_names(capsys):
    assert main(["run", "--method", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown method 'nope'" in err and "cad" in err and "unet2d" in err


@pytest.mark.slow  # the e2e check twice (two smoke benchmarks)
def test_committed_baseline_passes_and_a_worsened_method_fails(capsys, monkeypatch):
    """What CI guards: the e2e layer against results/baseline.json, then the same check with
    unet2d broken (affinities without information). Small regressions are below this layer's
    resolution (it prints it); the golden layers catch those (tests/test_check_goldens.py)."""
    baseline = Path(__file__).resolve().parents[1] / "results" / "baseline.json"
    code = main(["check", "--layer", "e2e", "--baseline", str(baseline)])
    out = capsys.readouterr().out
    assert code == 0, out
    for method in ("unet2d", "rf"):  # the mean of seeds 0-2 of each
        statuses = [line.split()[-1] for line in out.splitlines()
                    if line.startswith(f"{method}/waterz ") and "mean of 3 (n=" in line]
        assert statuses and set(statuses) == {"ok"}, out
    assert "smallest VOI change detected" in out and "the mean of 3 seeds" in out

    entry = METHODS.get("unet2d")

    def worsened(**kw):
        method = entry.factory(**kw)
        predict = method.predict
        rng = np.random.default_rng(0)

        def uninformative(raw):
            affs = predict(raw)
            return rng.uniform(0, 1, affs.shape).astype(np.float32)

        method.predict = uninformative
        return method

    monkeypatch.setitem(METHODS._entries, "unet2d", entry.__class__(
        entry.name, worsened, entry.family, entry.description, entry.defaults))
    # one seed of the broken method is enough to fail (and keeps the test shorter)
    assert main(["check", "--layer", "e2e", "--baseline", str(baseline), "--methods", "unet2d",
                 "--seeds", "0"]) == 1
    assert "end-to-end layer FAILED: unet2d/waterz" in capsys.readouterr().out


def test_blockwise_run_matches_the_whole_volume_run(smoke_results, tmp_path):
    """Same seed, same model: the blockwise test affinities equal the in-memory ones."""
    import h5py
    import zarr

    assert main(["run", "--method", "cad", "--profile", "smoke", "--results", str(tmp_path),
                 "--device", "cpu", "--blockwise", "--block-shape", "4,96,96"]) == 0
    row = ResultsStore(tmp_path).rows()[0]
    whole = ResultsStore(smoke_results).rows(method="cad")[0]
    out = zarr.open_group(str(ResultsStore(tmp_path).run_dir(row["run_id"]) / "test.zarr"),
                          mode="r")
    with h5py.File(ResultsStore(smoke_results).run_dir(whole["run_id"]) / "predictions.h5") as f:
        np.testing.assert_allclose(out["affinities"][...], f["test/affs"][...], atol=1e-5)
    assert out["segmentation"].shape == out["affinities"].shape[1:]
    assert row["param_value"] == whole["param_value"]  # chosen on the same validation affinities


def test_data_root_without_files_says_which_and_creates_no_run(tmp_path, capsys):
    results = tmp_path / "results"
    code = main(["run", "--method", "cad", "--dataset", "wafer4", "--data-root",
                 str(tmp_path), "--results", str(results)])
    assert code == 2
    assert "wafer4/wafer4_inputs.h5" in capsys.readouterr().err
    assert not results.exists()
