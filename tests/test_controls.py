"""The null controls (family ``control``) and the floor they give every leaderboard."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest

from baselines.controls import roll_affinities
from bench.method import CONTROL_FAMILY, raw_fingerprint
from bench.registry import METHODS, method_class
from bench.results import ResultsStore

RAW = np.array([[[0, 255, 51], [102, 204, 153]],
                [[255, 0, 51], [102, 102, 0]]], np.uint8)  # (2, 2, 3)


def _create(name, **kw):
    return METHODS.create(name, profile="smoke", device="cpu", seed=7, **kw)


def test_controls_are_registered_as_a_family_that_trains_nothing():
    controls = {e.name for e in METHODS.list() if e.family == CONTROL_FAMILY}
    assert controls == {"random", "intensity", "membrane", "rolled", "shuffled"}
    for name in controls:
        cls = method_class(name)
        assert cls.learned is False and cls.family == CONTROL_FAMILY
    assert {n for n in controls if method_class(n).needs_source_run} == {"rolled", "shuffled"}


def test_membrane_is_the_darker_of_the_two_voxels_hand_computed():
    affs = _create("membrane").predict(RAW)
    i = RAW.astype(np.float32) / 255
    assert affs.shape == (3, 2, 2, 3) and affs.dtype == np.float32
    # z channel at (1, 0, 1): voxel 0, partner (0, 0, 1) 255 -> 0
    assert affs[0, 1, 0, 1] == 0.0
    # y channel at (0, 1, 2): 153 and its partner (0, 0, 2) 51 -> 51/255
    assert affs[1, 0, 1, 2] == pytest.approx(51 / 255)
    # x channel at (1, 1, 1): 102 and (1, 1, 0) 102 -> 102/255
    assert affs[2, 1, 1, 1] == pytest.approx(102 / 255)
    # the partner-less first plane of each channel copies the next one (the border rule)
    np.testing.assert_array_equal(affs[0, 0], affs[0, 1])
    np.testing.assert_array_equal(affs[1, :, 0], affs[1, :, 1])
    np.testing.assert_array_equal(affs[2, :, :, 0], affs[2, :, :, 1])
    np.testing.assert_allclose(affs[2, :, :, 1:], np.minimum(i[:, :, 1:], i[:, :, :-1]))


def test_intensity_is_one_minus_the_grey_difference():
    affs = _create("intensity").predict(RAW)
    i = RAW.astype(np.float32) / 255
    np.testing.assert_allclose(affs[0, 1], 1 - np.abs(i[1] - i[0]), atol=1e-7)
    np.testing.assert_allclose(affs[1, :, 1], 1 - np.abs(i[:, 1] - i[:, 0]), atol=1e-7)
    assert affs[0, 1, 0, 0] == pytest.approx(0.0)  # 255 -> 0: the least similar pair


def test_random_has_a_fixed_seed_whatever_the_training_seed():
    a = METHODS.create("random", profile="smoke", seed=0).predict(RAW)
    b = METHODS.create("random", profile="quick", seed=5).predict(RAW)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and 0 <= a.min() and a.max() < 1
    c = METHODS.create("random", noise_seed=1).predict(RAW)
    assert not np.array_equal(a, c)


def test_controls_refuse_unknown_settings_and_checkpoints():
    with pytest.raises(KeyError, match="valid settings: noise_seed"):
        _create("random", iters=5)
    with pytest.raises(ValueError, match="no weights"):
        _create("membrane", checkpoint="x.pt")


def test_roll_translates_all_channels_by_one_vector_or_each_by_its_own():
    affs = np.random.default_rng(0).random((3, 4, 6, 8), dtype=np.float32)
    rolled = roll_affinities(affs, [[0.5, 0.5, 0.5]])
    for c in range(3):  # away from each channel's border plane, exactly np.roll
        np.testing.assert_array_equal(rolled[c, 1:, 1:, 1:],
                                      np.roll(affs[c], (2, 3, 4), axis=(0, 1, 2))[1:, 1:, 1:])
    shuffled = roll_affinities(affs, [[0.5, 0.5, 0.5], [0.25, 0.5, 0.25], [0.75, 0.0, 0.5]])
    np.testing.assert_array_equal(shuffled[0], rolled[0])
    np.testing.assert_array_equal(shuffled[1, 1:, 1:, 1:],
                                  np.roll(affs[1], (1, 3, 2), axis=(0, 1, 2))[1:, 1:, 1:])


def _source_run(path, val_raw, test_raw, fingerprints=True):
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    with h5py.File(path / "predictions.h5", "w") as f:
        for split, raw in (("val", val_raw), ("test", test_raw)):
            f[f"{split}/affs"] = rng.random((3, *raw.shape), dtype=np.float32)
            if fingerprints:
                f[f"{split}/affs"].attrs["raw_sha256"] = raw_fingerprint(raw)
    (path / "config.yaml").write_text("spec: {dataset: toy}\n")
    return path


def test_rolled_reads_the_split_whose_raw_it_is_given(tmp_path):
    val, test = RAW, RAW[::-1].copy()  # one shape: told apart by the recorded fingerprint
    src = _source_run(tmp_path / "run", val, test)
    method = _create("rolled", source_run=str(src))
    with h5py.File(src / "predictions.h5", "r") as f:
        want = {s: roll_affinities(f[f"{s}/affs"][...], [[0.5, 0.5, 0.5]]) for s in ("val", "test")}
    np.testing.assert_array_equal(method.predict(test), want["test"])
    np.testing.assert_array_equal(method.predict(val), want["val"])
    assert method.fit(None, None, run_dir=tmp_path)["source_dataset"] == "toy"
    other = np.zeros_like(RAW)
    with pytest.raises(ValueError, match="neither split that source run run predicted"):
        method.predict(other)
    method.save(tmp_path / "model.pt")
    again = _create("rolled", source_run=str(src)).load(tmp_path / "model.pt")
    np.testing.assert_array_equal(again.predict(val), want["val"])


def test_rolled_refuses_without_a_run_or_with_another_shape(tmp_path):
    with pytest.raises(ValueError, match="--source-run RUN_ID"):
        _create("rolled")
    with pytest.raises(FileNotFoundError, match="no predictions.h5"):
        _create("shuffled", source_run=str(tmp_path))
    src = _source_run(tmp_path / "old", RAW, RAW[:1].copy(), fingerprints=False)
    method = _create("shuffled", source_run=str(src))
    assert method.predict(RAW[:1].copy()).shape == (3, 1, 2, 3)  # by shape, for older runs
    with pytest.raises(ValueError, match="neither split"):
        method.predict(np.zeros((3, 2, 3), np.uint8))
    with pytest.raises(ValueError, match="must differ between channels"):
        _create("shuffled", source_run=str(src), shifts=[[0.5, 0.5, 0.5]] * 3)
    with pytest.raises(ValueError, match="whole extents"):
        _create("rolled", source_run=str(src), shift=[0, 1, 0])


def test_method_names_all_and_controls():
    from bench.commands.run import expand_methods

    assert not {"random", "membrane", "rolled"} & set(expand_methods(["all"]))
    assert expand_methods(["controls"]) == ["intensity", "membrane", "random"]
    assert expand_methods(["controls"], source_run=True) == [
        "intensity", "membrane", "random", "rolled", "shuffled"]
    assert expand_methods(["cad,controls,cad"])[0] == "cad"


def test_source_run_option_resolves_run_ids_and_refuses_unknown_ones(tmp_path):
    from bench.commands.run import resolve_source_run

    store = ResultsStore(tmp_path / "results")
    (store.run_dir("20260101-000000-cad-x")).mkdir(parents=True)
    assert resolve_source_run("20260101-000000-cad-x", store).endswith("20260101-000000-cad-x")
    assert resolve_source_run(str(tmp_path), store) == str(tmp_path.resolve())
    with pytest.raises(FileNotFoundError, match="no such run"):
        resolve_source_run("20260101-nothing", store)


# -- the floor in the report -------------------------------------------------------------------
def _result(store, run_id, method, family, seg, gt, seed=0, study=None, dataset="synthetic"):
    from bench.pipeline import slab_scores, write_tables
    from bench.results import OVERLAP_TABLES, write_json
    from bench.stats import slab_tables

    _, entries = slab_scores(gt, seg, 2)
    voi = float(slab_tables(entries).voi())
    row = {"run_id": run_id, "created": f"2026-01-01T00:00:0{seed}", "method": method,
           "family": family, "dataset": dataset, "split": "test", "profile": "quick",
           "postprocess": "waterz", "param_name": "threshold", "param_value": 0.5, "voi": voi,
           "voi_split": voi / 2, "voi_merge": voi / 2, "arand": 0.1, "cremi_score": 0.1,
           "infer_voxels_per_s": 1e5, "n_parameters": 0, "seed": seed, "study": study,
           "split_hash": "abc"}
    write_json(store.run_dir(run_id) / "metrics.json", {"rows": [row], "details": {}})
    write_tables(store.run_dir(run_id) / OVERLAP_TABLES, {"waterz": entries})
    store.add_rows([row])


def test_report_shows_the_best_control_as_the_floor_and_tests_every_method_against_it(
        tmp_path):
    from bench.report.exports import export_leaderboard, read_csv
    from bench.report.leaderboard import build_report
    from bench.results import load_leaderboard

    store = ResultsStore(tmp_path)
    gt = (np.indices((8, 16, 16)).sum(axis=0) // 5 + 1).astype(np.uint64)
    rng = np.random.default_rng(0)
    for seed in range(3):  # good: nearly the truth; flat: as bad as the floor
        noisy = np.where(rng.random(gt.shape) < 0.02, 99, gt).astype(np.uint64)
        _result(store, f"good-s{seed}", "good", "3d", noisy, gt, seed, "st")
        _result(store, f"flat-s{seed}", "flat", "2d", (gt + 1) // 4, gt, seed, "st")
    _result(store, "membrane-1", "membrane", "control", (gt + 1) // 4, gt)
    _result(store, "random-1", "random", "control", np.ones_like(gt), gt)
    index = build_report(store)
    md = (index.parent / "leaderboard.md").read_text()
    text = (index.parent / "leaderboard.txt").read_text()
    page = index.read_text()
    for doc in (md, text):
        assert "Floor (the best control, test VOI, per post-processor): waterz: membrane" in doc
        assert "Controls (the floor; not ranked)" in doc
    assert "Controls (the floor; not ranked)" in page and "beats floor" in page
    good = next(line for line in md.splitlines() if line.startswith("| 1 | good"))
    assert "| yes | membrane" in good
    flat = next(line for line in md.splitlines() if "| flat |" in line)
    assert "| no | membrane" in flat or "| worse | membrane" in flat
    # controls are not ranked, and not in the methods' pairwise comparisons
    assert any(line.startswith("| random | control |") for line in md.splitlines())
    assert "membrane vs" not in md and "vs membrane" not in md
    # the CSV export carries the floor verdict of every shown method row
    export_leaderboard(tmp_path, tmp_path / "out", ["csv"])
    frame = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    good_rows = frame[frame["method"] == "good"]
    assert set(good_rows["beats_floor"]) == {"yes"}
    assert set(good_rows["floor_method"]) == {"membrane"}
    assert frame[frame["family"] == "control"]["beats_floor"].isna().all()
    pd.testing.assert_frame_equal(read_csv(tmp_path / "out" / "leaderboard.csv"),
                                  load_leaderboard(tmp_path))


def test_report_without_controls_says_there_is_no_floor(tmp_path):
    from bench.report.leaderboard import build_report

    store = ResultsStore(tmp_path)
    gt = (np.indices((8, 16, 16)).sum(axis=0) // 5 + 1).astype(np.uint64)
    _result(store, "good-1", "good", "3d", gt, gt)
    md = (build_report(store).parent / "leaderboard.md").read_text()
    assert "Floor: no control was run on this dataset" in md
    assert "not tested" in md


@pytest.mark.slow
def test_controls_run_through_the_pipeline_and_rolled_rolls_a_run(tmp_path, capsys):
    from bench.cli import main

    results = tmp_path / "results"
    assert main(["run", "--method", "controls", "--profile", "smoke",
                 "--results", str(results)]) == 0
    store = ResultsStore(results)
    rows = {r["method"]: r for r in store.rows()}
    assert set(rows) == {"random", "intensity", "membrane"}
    assert {r["family"] for r in rows.values()} == {CONTROL_FAMILY}
    assert all(r["n_parameters"] == 0 for r in rows.values())
    source = rows["membrane"]["run_id"]
    assert main(["run", "--method", "rolled,shuffled", "--profile", "smoke", "--source-run",
                 source, "--results", str(results)]) == 0
    rows = {r["method"]: r for r in store.rows()}
    assert {"rolled", "shuffled"} <= set(rows)
    with h5py.File(store.run_dir(rows["rolled"]["run_id"]) / "predictions.h5", "r") as f, \
            h5py.File(store.run_dir(source) / "predictions.h5", "r") as g:
        assert f["test/affs"].shape == g["test/affs"].shape
        assert not np.array_equal(f["test/affs"][...], g["test/affs"][...])
        # the same values, elsewhere: the means agree up to the border planes
        assert abs(f["test/affs"][...].mean() - g["test/affs"][...].mean()) < 0.05
    capsys.readouterr()
    assert main(["run", "--method", "rolled", "--profile", "smoke", "--results",
                 str(results)]) != 0
    assert "--source-run RUN_ID" in capsys.readouterr().err


def test_csv_export_names_a_damaged_table_and_still_writes(tmp_path, capsys):
    from bench.cli import main
    from bench.results import OVERLAP_TABLES

    store = ResultsStore(tmp_path)
    gt = (np.indices((8, 16, 16)).sum(axis=0) // 5 + 1).astype(np.uint64)
    _result(store, "good-1", "good", "3d", gt, gt)
    _result(store, "membrane-1", "membrane", "control", (gt + 1) // 4, gt)
    (store.run_dir("good-1") / OVERLAP_TABLES).write_text("not an archive\n")
    assert main(["report", "--results", str(tmp_path), "--format", "csv"]) == 1
    assert f"skipped {store.run_dir('good-1') / OVERLAP_TABLES}" in capsys.readouterr().err
    frame = pd.read_csv(tmp_path / "report" / "leaderboard.csv")
    assert frame.loc[frame["method"] == "good", "floor_method"].tolist() == ["membrane"]
    assert frame.loc[frame["method"] == "good", "beats_floor"].isna().all()
