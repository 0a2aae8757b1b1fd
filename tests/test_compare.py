"""``python -m bench compare``: paired verdicts between two results folders or two studies."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.cli import main
from bench.pipeline import slab_scores, write_tables
from bench.results import OVERLAP_TABLES, ResultsStore, write_json


def _gt() -> np.ndarray:
    return (np.indices((8, 16, 16)).sum(axis=0) // 6 + 1).astype(np.uint64)


def _run(store: ResultsStore, run_id: str, seed: int, seg: np.ndarray, study: str | None,
         method: str = "cad") -> None:
    """A finished run as `bench run` leaves it: a row, metrics.json and the overlap tables."""
    gt = _gt()
    _, entries = slab_scores(gt, seg, 2)
    from bench import stats

    voi = float(stats.slab_tables(entries).voi())
    row = {"run_id": run_id, "created": f"2026-01-01T00:00:0{seed}", "method": method,
           "family": "distilled", "dataset": "synthetic", "split": "test", "split_hash": "h1",
           "profile": "smoke", "postprocess": "waterz", "param_name": "threshold",
           "param_value": 0.5, "voi": voi, "voi_split": voi / 2, "voi_merge": voi / 2,
           "arand": 0.1, "cremi_score": 0.1, "seed": seed, "study": study}
    write_json(store.run_dir(run_id) / "metrics.json", {"rows": [row], "details": {}})
    write_tables(store.run_dir(run_id) / OVERLAP_TABLES, {"waterz": entries})
    store.add_rows([row])


def _noisy(gt: np.ndarray, seed: int, merge: bool) -> np.ndarray:
    """A segmentation close to ``gt`` (a few flipped voxels per seed), or one merging pairs
    of neurons when ``merge``."""
    seg = (gt + 1) // 2 if merge else gt.copy()
    rng = np.random.default_rng(seed)
    flip = rng.random(seg.shape) < 0.02
    seg[flip] = seg[flip] + 100
    return seg


@pytest.fixture()
def good_and_bad(tmp_path):
    """Folder ``good`` (close to the truth) and ``bad`` (merges), three seeds each."""
    good, bad = ResultsStore(tmp_path / "good"), ResultsStore(tmp_path / "bad")
    for seed in range(3):
        _run(good, f"g-s{seed}", seed, _noisy(_gt(), seed, merge=False), "study-good")
        _run(bad, f"b-s{seed}", seed, _noisy(_gt(), seed, merge=True), "study-bad")
    return good.root, bad.root


def test_fail_if_worse_exits_1_only_when_b_is_significantly_worse(good_and_bad, capsys):
    good, bad = good_and_bad
    assert main(["compare", str(good), str(bad), "--fail-if-worse"]) == 1
    out = capsys.readouterr()
    assert "| synthetic | smoke | cad | waterz |" in out.out and "| B worse |" in out.out
    assert "significantly worse" in out.err
    # the other way round B is better: exit 0 with the flag
    assert main(["compare", str(bad), str(good), "--fail-if-worse"]) == 0
    assert "| B better |" in capsys.readouterr().out
    # without the flag a worse B is reported, not failed
    assert main(["compare", str(good), str(bad)]) == 0


def test_identical_sides_are_no_significant_difference(good_and_bad, capsys):
    good, _ = good_and_bad
    assert main(["compare", str(good), str(good), "--fail-if-worse", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (r,) = doc["results"]
    assert r["delta"] == 0.0 and r["verdict"] == "no significant difference"
    assert r["n_seeds"] == 3 and doc["b_worse"] is False


def test_two_studies_of_one_folder_and_json_out(good_and_bad, tmp_path, capsys):
    good, bad = good_and_bad
    both = ResultsStore(tmp_path / "both")
    for seed in range(3):  # the two studies side by side in one folder
        _run(both, f"g-s{seed}", seed, _noisy(_gt(), seed, merge=False), "study-good")
        _run(both, f"b-s{seed}", seed, _noisy(_gt(), seed, merge=True), "study-bad")
    out = tmp_path / "v.json"
    assert main(["compare", str(both.root), str(both.root), "--study-a", "study-good",
                 "--study-b", "study-bad", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    (r,) = doc["results"]
    assert r["verdict"] == "B worse" and r["delta"] < 0 and r["ci_high"] < 0
    assert r["voi_a"] < r["voi_b"]
    assert "| B worse |" in capsys.readouterr().out  # Markdown on stdout, JSON in the file
    # the same numbers as comparing the two folders
    assert main(["compare", str(good), str(bad), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["delta"] == pytest.approx(r["delta"])


def test_bad_input_fails_with_one_line_before_any_work(good_and_bad, tmp_path, capsys):
    good, _ = good_and_bad
    assert main(["compare", str(good), str(tmp_path / "nowhere")]) == 2
    assert "not a results folder" in capsys.readouterr().err
    assert not (tmp_path / "nowhere").exists()  # nothing created on the way
    assert main(["compare", str(good), str(good), "--study-b", "study-x"]) == 2
    assert "no results of study 'study-x'" in capsys.readouterr().err
    assert main(["compare", str(good), str(good), "--out", str(tmp_path / "v.txt")]) == 2
    assert "expected a .json or .md" in capsys.readouterr().err


def test_results_on_one_side_or_other_splits_are_not_compared(good_and_bad, tmp_path, capsys):
    good, _ = good_and_bad
    other = ResultsStore(tmp_path / "other")
    for seed in range(2):
        _run(other, f"u-s{seed}", seed, _gt(), None, method="unet2d")
    _run(other, "c-s5", 5, _gt(), None)  # cad, but no seed in common with `good`
    assert main(["compare", str(good), str(other.root), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (r,) = doc["results"]
    assert r["method"] == "cad" and r["verdict"] == "" and r["note"] == "no common seed"
    assert doc["only_in"]["b"] == ["synthetic/smoke/unet2d/waterz"]


# -- --fail-if-worse fails closed (issue 28, item 4) --------------------------------------------
def test_fail_if_worse_exit_codes_worse_better_empty_no_common_result_other_split(
        good_and_bad, tmp_path, capsys):
    good, bad = good_and_bad
    assert main(["compare", str(good), str(bad), "--fail-if-worse"]) == 1  # B worse
    assert main(["compare", str(bad), str(good), "--fail-if-worse"]) == 0  # B better
    capsys.readouterr()
    empty = ResultsStore(tmp_path / "empty")
    empty._connect().close()  # the schema, no rows: e.g. the branch's benchmark crashed
    assert main(["compare", str(good), str(empty.root), "--fail-if-worse"]) == 3
    err = capsys.readouterr().err
    assert "has no rows" in err and "incomplete" in err
    other = ResultsStore(tmp_path / "other")  # no result in common: another method
    for seed in range(3):
        _run(other, f"u-s{seed}", seed, _gt(), None, method="unet2d")
    assert main(["compare", str(good), str(other.root), "--fail-if-worse"]) == 3
    assert "missing from B: synthetic/smoke/cad/waterz" in capsys.readouterr().err
    split = ResultsStore(tmp_path / "split")  # the same result on another test split
    for seed in range(3):
        _run(split, f"x-s{seed}", seed, _noisy(_gt(), seed, merge=False), None)
    import sqlite3

    con = sqlite3.connect(split.db_path)
    con.execute("UPDATE results SET split_hash = 'h2'")
    con.commit()
    con.close()
    assert main(["compare", str(good), str(split.root), "--fail-if-worse"]) == 3
    assert "not compared: synthetic/smoke/cad/waterz: different test splits" in (
        capsys.readouterr().err)
    # without the flag an incomplete comparison is reported, not failed
    assert main(["compare", str(good), str(split.root)]) == 0


def test_database_voi_disagreeing_with_the_tables_is_flagged_and_inf_is_null(
        good_and_bad, tmp_path, capsys):
    good, _ = good_and_bad
    import shutil
    import sqlite3

    forged = tmp_path / "forged"
    shutil.copytree(good, forged)
    con = sqlite3.connect(forged / "leaderboard.sqlite")
    con.execute("UPDATE results SET voi = 9e999 WHERE run_id = 'g-s1'")  # +inf in SQLite
    con.commit()
    con.close()
    assert main(["compare", str(good), str(forged), "--json", "--fail-if-worse"]) == 3
    out = capsys.readouterr()
    doc = json.loads(out.out)  # valid JSON: no Infinity
    assert "Infinity" not in out.out
    (r,) = doc["results"]
    assert r["verdict"] == "" and "differs from its overlap tables" in r["note"]
    assert r["voi_b"] is None  # the mean over seeds is inf: null, never a number
    assert "not compared" in out.err
    assert main(["compare", str(good), str(forged)]) == 0
    md = capsys.readouterr().out
    assert "| inf |" in md and "+0.000" not in md
    # a compared result shows the tables' VOI, the source its ΔVOI comes from
    assert main(["compare", str(good), str(good), "--json"]) == 0
    (r,) = json.loads(capsys.readouterr().out)["results"]
    assert r["voi_a"] == r["voi_b"] and r["delta"] == 0.0
