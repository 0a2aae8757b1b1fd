"""The results store: atomic, concurrent-safe, recoverable."""

from __future__ import annotations

import json
import multiprocessing as mp
import sqlite3

import pytest

from bench.results import CorruptDatabaseError, ResultsStore, write_json


def _row(run_id: str, method: str = "cad", voi: float = 1.0, pp: str = "waterz") -> dict:
    return {"run_id": run_id, "created": "2026-01-01T00:00:00", "method": method,
            "family": "distilled", "dataset": "synthetic", "split": "test", "profile": "smoke",
            "postprocess": pp, "voi": voi, "voi_split": voi / 2, "voi_merge": voi / 2,
            "arand": 0.1, "infer_voxels_per_s": 1e5}


def _writer(root: str, worker: int, n: int) -> None:
    store = ResultsStore(root)
    for i in range(n):
        store.add_rows([_row(f"w{worker}-{i}", voi=i), _row(f"w{worker}-{i}", pp="lmc")])


def test_rows_round_trip(tmp_path):
    store = ResultsStore(tmp_path)
    assert store.rows() == []
    store.add_rows([_row("a"), _row("a", pp="lmc")])
    rows = store.rows(method="cad")
    assert {r["postprocess"] for r in rows} == {"waterz", "lmc"}
    assert rows[0]["voi"] == 1.0 and rows[0]["cremi_score"] is None


def test_two_processes_writing_at_once_both_land(tmp_path):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, 20)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    rows = ResultsStore(tmp_path).rows()
    assert len(rows) == 2 * 20 * 2


def test_failed_transaction_leaves_no_rows(tmp_path):
    store = ResultsStore(tmp_path)
    bad = _row("b")
    bad["method"] = None  # violates NOT NULL after the first row was inserted
    with pytest.raises(sqlite3.IntegrityError):
        store.add_rows([_row("a"), bad])
    assert store.rows() == []


def test_corrupt_database_is_refused_and_left_untouched(tmp_path):
    store = ResultsStore(tmp_path)
    store.db_path.parent.mkdir(parents=True, exist_ok=True)
    store.db_path.write_bytes(b"this is not a sqlite database" * 100)
    before = store.db_path.read_bytes()
    with pytest.raises(CorruptDatabaseError, match="rebuild-db"):
        store.add_rows([_row("a")])
    assert store.db_path.read_bytes() == before


def test_rebuild_from_run_directories(tmp_path):
    store = ResultsStore(tmp_path)
    for run_id in ("r1", "r2"):
        write_json(store.run_dir(run_id) / "metrics.json", {"rows": [_row(run_id)]})
    (store.run_dir("r3")).mkdir()  # an interrupted run: no metrics.json, no rows
    skipped = store.rebuild()[1]  # hand-written folders are not signed: named, not inserted
    assert sorted(skipped) == ["r1", "r2"] and "unsigned" in skipped["r1"]
    unsigned: dict = {}
    assert store.rebuild(include_unsigned=True, unsigned=unsigned) == (2, {})
    assert sorted(unsigned) == ["r1", "r2"]
    assert sorted(r["run_id"] for r in store.rows()) == ["r1", "r2"]


def test_write_json_is_atomic_and_leaves_no_temp_files(tmp_path):
    write_json(tmp_path / "x.json", {"a": 1})
    write_json(tmp_path / "x.json", {"a": 2})
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
