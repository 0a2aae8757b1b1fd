"""The results store: one SQLite database of leaderboard rows plus one directory per run.

Every row is one (method, dataset, split, post-processor, chosen parameter) result. A run's rows
are written in one transaction, so an interrupted run leaves either all of its rows or none.
Each run directory also keeps its rows in ``metrics.json``; the database can always be rebuilt
from the run directories (``python -m bench report --rebuild-db``), which is how a corrupt
database is recovered.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path
from typing import Any

from bench.atomic import write_atomic, write_json  # noqa: F401  (re-exported for callers)

# column name -> SQL type; the order is the table's column order
COLUMNS: dict[str, str] = {
    "run_id": "TEXT NOT NULL",
    "created": "TEXT NOT NULL",
    "method": "TEXT NOT NULL",
    "family": "TEXT",
    "dataset": "TEXT NOT NULL",
    "split": "TEXT NOT NULL",
    "split_hash": "TEXT",
    "profile": "TEXT",
    "postprocess": "TEXT NOT NULL",
    "param_name": "TEXT",
    "param_value": "REAL",
    "voi_split": "REAL",
    "voi_merge": "REAL",
    "voi": "REAL",
    "arand": "REAL",
    "cremi_score": "REAL",
    # skeleton scores (metrics.skeleton): expected run length and split/merge counts
    "erl_nm": "REAL",
    "nerl": "REAL",
    "n_merges": "INTEGER",
    "n_splits": "INTEGER",
    "voi_ci_low": "REAL",
    "voi_ci_high": "REAL",
    "n_parameters": "INTEGER",
    "train_seconds": "REAL",
    "infer_voxels_per_s": "REAL",
    "postprocess_voxels_per_s": "REAL",
    "end_to_end_seconds": "REAL",
    "peak_rss_mb": "REAL",
    "device": "TEXT",
    "seed": "INTEGER",
    "config_hash": "TEXT",
    "git_commit": "TEXT",
}

_SCHEMA = "CREATE TABLE IF NOT EXISTS results ({}, PRIMARY KEY (run_id, postprocess, split))"
_SCHEMA = _SCHEMA.format(", ".join(f"{name} {kind}" for name, kind in COLUMNS.items()))


class CorruptDatabaseError(RuntimeError):
    pass


def _add_missing_columns(con: sqlite3.Connection) -> None:
    """Migrate a database written by an older version: add the columns it lacks (NULL in its
    old rows), so existing leaderboards keep opening as columns are added."""
    have = {row[1] for row in con.execute("PRAGMA table_info(results)")}
    for name, kind in COLUMNS.items():
        if name not in have:
            # NOT NULL columns cannot be added to filled tables; every new column is nullable
            try:
                con.execute(
                    f"ALTER TABLE results ADD COLUMN {name} {kind.replace(' NOT NULL', '')}")
            except sqlite3.OperationalError as exc:  # another process added it just now
                if "duplicate column" not in str(exc):
                    raise


class ResultsStore:
    """``results/leaderboard.sqlite`` plus ``results/runs/<run-id>/``."""

    def __init__(self, root: str | Path = "results"):
        self.root = Path(root)
        self.db_path = self.root / "leaderboard.sqlite"
        self.runs_dir = self.root / "runs"

    # -- database -----------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        self.root.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.db_path, timeout=60.0, isolation_level=None)
        try:
            con.execute("PRAGMA busy_timeout = 60000")
            con.execute(_SCHEMA)
            ok = con.execute("PRAGMA quick_check").fetchone()[0]
            if ok == "ok":
                _add_missing_columns(con)
        except sqlite3.OperationalError:  # locked, disk full, ...: not corruption
            con.close()
            raise
        except sqlite3.DatabaseError as exc:
            con.close()
            raise CorruptDatabaseError(self._recovery_hint(exc)) from exc
        if ok != "ok":
            con.close()
            raise CorruptDatabaseError(self._recovery_hint(ok))
        return con

    def _recovery_hint(self, why: object) -> str:
        return (
            f"results database {self.db_path} is corrupt ({why}); it was left untouched. "
            f"Move it aside and rebuild it from the run directories under {self.runs_dir}: "
            f"`mv {self.db_path} {self.db_path}.bad && python -m bench report --rebuild-db "
            f"--results {self.root}`"
        )

    def add_rows(self, rows: Iterable[dict[str, Any]]) -> int:
        """Insert (or replace) rows in one transaction: all land or none."""
        rows = [{k: row.get(k) for k in COLUMNS} for row in rows]
        if not rows:
            return 0
        names = list(COLUMNS)
        sql = "INSERT OR REPLACE INTO results ({}) VALUES ({})".format(
            ", ".join(names), ", ".join("?" for _ in names)
        )
        with closing(self._connect()) as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                con.executemany(sql, [tuple(r[n] for n in names) for r in rows])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return len(rows)

    def rows(self, **where: Any) -> list[dict[str, Any]]:
        if not self.db_path.exists():
            return []
        clause = " AND ".join(f"{k} = ?" for k in where)
        sql = "SELECT * FROM results" + (f" WHERE {clause}" if clause else "")
        sql += " ORDER BY dataset, created"
        with closing(self._connect()) as con:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute(sql, tuple(where.values()))]

    def rebuild(self) -> int:
        """Re-insert the rows of every finished run directory (``metrics.json``)."""
        n = 0
        for metrics_file in sorted(self.runs_dir.glob("*/metrics.json")):
            n += self.add_rows(json.loads(metrics_file.read_text())["rows"])
        return n

    # -- run directories ----------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def run_ids(self) -> list[str]:
        return sorted(p.name for p in self.runs_dir.glob("*") if p.is_dir())
