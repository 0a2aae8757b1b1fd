"""Every file of a run is signed when written and verified before it is reused (issue 28, 2).

A study adopts, ``--resume`` reuses and ``report --rebuild-db`` inserts only what the harness
wrote itself (:mod:`bench.provenance`): a forged ``metrics.json`` makes a study rerun its run
and leaves the stored row as it was; planted predictions are predicted again under
``--resume``; a ``provenance.json`` that cannot be parsed is "unverifiable", never a crash.
"""

from __future__ import annotations

import json
import sqlite3

import h5py
import numpy as np
import pytest

from bench.cli import main
from bench.provenance import SIGNED_FILES, sign_run, verify_file, verify_run
from bench.results import ResultsStore
from tests.test_hostile import (  # noqa: F401  (the hstub fixture's method)
    LoopStub,
    _run,
    hstub,  # noqa: F401  (fixture)
)


def _voi(store: ResultsStore, run_id: str) -> float:
    (row,) = store.rows(run_id=run_id)
    return row["voi"]


def test_every_file_a_run_writes_is_signed(hstub, tmp_path):  # noqa: F811
    results = tmp_path / "results"
    assert _run(results) == 0
    store = ResultsStore(results)
    run_dir = store.run_dir(store.run_ids()[0])
    signed = json.loads((run_dir / "provenance.json").read_text())["files"]
    present = {n for n in SIGNED_FILES if (run_dir / n).is_file()}
    assert present == set(signed)
    assert {"metrics.json", "predictions.h5", "segmentation.h5", "overlap_tables.npz",
            "neuron_errors.json", "model.pt", "recipe.yaml", "config.yaml"} <= set(signed)
    assert verify_run(run_dir) is None


def test_a_study_reruns_a_run_with_a_forged_metrics_file_and_keeps_the_stored_row(
        hstub, tmp_path, caplog):  # noqa: F811
    results = tmp_path / "results"
    assert _run(results, "--seeds", "0") == 0
    store = ResultsStore(results)
    (own,) = store.run_ids()
    true_voi = _voi(store, own)
    metrics = store.run_dir(own) / "metrics.json"
    doc = json.loads(metrics.read_text())
    for row in doc["rows"]:
        row["voi"] = 0.001  # the forgery of the issue: VOI 4.28 became 0.001
    metrics.write_text(json.dumps(doc))
    assert _run(results, "--seeds", "0") == 0
    assert "metrics.json changed since the harness wrote it" in caplog.text
    assert _voi(store, own) == true_voi  # the stored row is unchanged
    rerun = [r for r in store.run_ids() if r != own]
    assert len(rerun) == 1 and _voi(store, rerun[0]) == true_voi  # the seed ran afresh
    assert 0.001 not in [r["voi"] for r in store.rows()]


def test_adopting_a_finished_run_never_replaces_a_stored_row_that_differs(
        hstub, tmp_path, caplog):  # noqa: F811
    results = tmp_path / "results"
    assert _run(results, "--seeds", "0") == 0
    store = ResultsStore(results)
    (own,) = store.run_ids()
    con = sqlite3.connect(store.db_path)
    con.execute("UPDATE results SET voi = 1.5 WHERE run_id = ?", (own,))
    con.commit()
    con.close()
    assert _run(results, "--seeds", "0") == 0  # the run verifies: adopted, not rerun
    assert store.run_ids() == [own]
    assert _voi(store, own) == 1.5
    assert "the stored row differs" in caplog.text and "voi: stored 1.5" in caplog.text
    store.db_path.unlink()  # a rebuilt or moved database gets the run's rows back
    assert _run(results, "--seeds", "0") == 0
    assert _voi(store, own) != 1.5
    caplog.clear()
    assert _run(results, "--seeds", "0") == 0  # the same rows again: nothing to report
    assert "the stored row differs" not in caplog.text and store.run_ids() == [own]


def test_resume_predicts_again_over_planted_predictions(hstub, tmp_path, caplog):  # noqa: F811
    results = tmp_path / "results"
    assert _run(results) == 0
    store = ResultsStore(results)
    (run_id,) = store.run_ids()
    true_voi = _voi(store, run_id)
    run_dir = store.run_dir(run_id)
    (run_dir / "metrics.json").unlink()  # interrupted after inference
    with h5py.File(run_dir / "predictions.h5", "r+") as f:  # planted: all boundaries
        for split in ("val", "test"):
            f[f"{split}/affs"][...] = np.zeros(f[f"{split}/affs"].shape, np.float32)
    assert "predictions.h5 changed" in verify_file(run_dir, "predictions.h5")
    assert main(["run", "--resume", run_id, "--results", str(results)]) == 0
    assert "not reusing" in caplog.text and "predicting again" in caplog.text
    assert _voi(store, run_id) == true_voi
    assert verify_run(run_dir) is None  # predicted again and signed


@pytest.mark.parametrize("record", [
    {"run_id": "r", "files": {}, "mac": "é" * 64},  # non-ASCII mac: compare_digest raised
    {"run_id": "r", "files": [], "mac": "0" * 64},
    {"run_id": "r", "files": {"config.yaml": 7}, "mac": "0" * 64},
    {"run_id": "r", "files": {}, "mac": 12},
    [1, 2],
])
def test_a_provenance_record_that_cannot_be_parsed_is_unverifiable(tmp_path, record):
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.yaml").write_text("spec: {}\n")
    sign_run(tmp_path)  # make sure this machine's key exists
    (run / "provenance.json").write_text(json.dumps(record, ensure_ascii=False))
    why = verify_run(run)
    assert why and ("malformed" in why or "unverifiable" in why)
    assert verify_file(run, "config.yaml")


def test_a_study_starts_afresh_beside_a_folder_with_a_non_ascii_mac(
        hstub, tmp_path, caplog, capsys):  # noqa: F811
    results = tmp_path / "results"
    assert _run(results, "--seeds", "0") == 0
    store = ResultsStore(results)
    (own,) = store.run_ids()
    prov = store.run_dir(own) / "provenance.json"
    doc = json.loads(prov.read_text())
    doc["mac"] = "\u00e9" * 64
    prov.write_text(json.dumps(doc, ensure_ascii=False))
    assert _run(results, "--seeds", "0") == 0
    assert "Traceback" not in capsys.readouterr().err
    assert "malformed" in caplog.text
    assert len(store.run_ids()) == 2


def test_rebuild_inserts_only_signed_folders(hstub, tmp_path, capsys):  # noqa: F811
    results = tmp_path / "results"
    assert _run(results) == 0
    assert _run(results, "--seed", "1") == 0
    store = ResultsStore(results)
    first, second = store.run_ids()
    (store.run_dir(second) / "provenance.json").unlink()  # e.g. a colleague's folder
    store.db_path.unlink()
    assert main(["report", "--rebuild-db", "--results", str(results)]) == 1
    err = capsys.readouterr().err
    assert f"skipped run {second}" in err and "unsigned" in err
    assert [r["run_id"] for r in store.rows()] == [first]
    assert main(["report", "--rebuild-db", "--include-unsigned", "--results",
                 str(results)]) == 0
    assert f"inserted unsigned run {second}" in capsys.readouterr().err
    assert sorted(r["run_id"] for r in store.rows()) == [first, second]
