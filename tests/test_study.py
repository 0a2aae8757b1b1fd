"""Multi-seed studies: seeds parsed, every (method, seed) run once, reruns skip, same seed same
numbers; older results databases gain the new columns."""

from __future__ import annotations

import sqlite3

import h5py
import numpy as np
import pytest

from bench.cli import main
from bench.results import COLUMNS, ResultsStore, load_curves, load_leaderboard
from bench.study import parse_seeds

# a few iterations keep this cheap; the point is the bookkeeping and determinism, not accuracy
FAST = ["--method", "unet2d", "--profile", "smoke", "--device", "cpu", "--set", "iters=3"]


@pytest.fixture(scope="module")
def study_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    assert main(["run", *FAST, "--seeds", "0-1", "--results", str(root)]) == 0
    return root


def test_parse_seeds():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("0,3,7") == [0, 3, 7]
    assert parse_seeds("0-2,9,1") == [0, 1, 2, 9]
    for bad in ("", "a", "3-1", "-1"):
        with pytest.raises(ValueError, match="--seeds"):
            parse_seeds(bad)


def test_study_rows_carry_study_and_seed(study_results):
    board = load_leaderboard(study_results)
    assert len(board) == 2 and sorted(board["seed"]) == [0, 1]
    assert board["study"].nunique() == 1 and board["study"].iloc[0].startswith("study-")
    # every seed is tested on the same split
    assert board["split_hash"].nunique() == 1
    assert str(board["voi"].dtype) == "float64" and str(board["seed"].dtype) == "Int64"
    slabs = load_curves(study_results, "slabs", leaderboard=board)
    assert set(slabs["seed"]) == {0, 1} and {"z0", "voi"} <= set(slabs.columns)


def test_rerunning_a_study_skips_finished_runs(study_results):
    store = ResultsStore(study_results)
    before = store.run_ids()
    assert main(["run", *FAST, "--seeds", "0-1", "--results", str(study_results)]) == 0
    assert store.run_ids() == before and len(store.rows()) == 2


def test_same_seed_twice_gives_identical_numbers(study_results, tmp_path):
    # a plain run with seed 0, in another results folder, repeats the study's seed-0 run
    assert main(["run", *FAST, "--seed", "0", "--results", str(tmp_path)]) == 0
    again = ResultsStore(tmp_path).rows()[0]
    first = next(r for r in ResultsStore(study_results).rows() if r["seed"] == 0)
    for key in ("voi", "voi_split", "voi_merge", "arand", "param_value", "voi_ci_low"):
        assert again[key] == first[key], key
    # and the predictions themselves, bit for bit (the scores alone could agree by chance)
    runs = [ResultsStore(tmp_path).run_dir(again["run_id"]),
            ResultsStore(study_results).run_dir(first["run_id"])]
    affs = []
    for run_dir in runs:
        with h5py.File(run_dir / "predictions.h5", "r") as f:
            affs.append(f["test/affs"][...])
    np.testing.assert_array_equal(affs[0], affs[1])


def test_an_older_database_gains_the_new_columns(tmp_path):
    old_columns = {k: v for k, v in COLUMNS.items() if k not in ("study", "voi_ci_method")}
    con = sqlite3.connect(tmp_path / "leaderboard.sqlite")
    con.execute("CREATE TABLE results ({}, PRIMARY KEY (run_id, postprocess, split))".format(
        ", ".join(f"{k} {v}" for k, v in old_columns.items())))
    con.execute("INSERT INTO results (run_id, created, method, dataset, split, postprocess, voi)"
                " VALUES ('old', '2026-01-01T00:00:00', 'cad', 'synthetic', 'test', 'waterz', 1)")
    con.commit()
    con.close()
    store = ResultsStore(tmp_path)
    assert store.rows()[0]["study"] is None
    store.add_rows([{**store.rows()[0], "run_id": "new", "study": "study-x"}])
    board = load_leaderboard(tmp_path)
    assert board.set_index("run_id")["study"].fillna("-").to_dict() == {"old": "-",
                                                                       "new": "study-x"}
