"""The results store: one SQLite database of leaderboard rows plus one directory per run.

Every row is one (method, dataset, split, post-processor, chosen parameter) result. A run's rows
are written in one transaction, so an interrupted run leaves either all of its rows or none.
Each run directory also keeps its rows in ``metrics.json``; the database can always be rebuilt
from the run directories (``python -m bench report --rebuild-db``), which is how a corrupt
database is recovered.
"""

from __future__ import annotations

import json
import re
import sqlite3
import zipfile
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.atomic import write_atomic, write_json  # noqa: F401  (re-exported for callers)
from bench.columns import COLUMNS, schema
from bench.exceptions import BenchError

if TYPE_CHECKING:
    import pandas as pd

class CorruptDatabaseError(BenchError, RuntimeError):
    """The leaderboard database is damaged (the message says how to rebuild it)."""


#: a run id is one path component: letters, digits, ``.``, ``_``, ``-``; no leading dot
_RUN_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


def validate_run_id(run_id: str) -> str:
    """``run_id`` if it names a directory directly under ``runs/`` (no ``/``, ``..``, ...)."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id) or len(run_id) > 200:
        raise ValueError(
            f"run id {run_id!r} is not a single path component (letters, digits, '.', '_', "
            "'-'; as printed by `bench run` and listed under RESULTS/runs/)"
        )
    return run_id


#: errors that mean "this file is damaged or not what it should be" when reading one back
CORRUPT_FILE_ERRORS = (OSError, ValueError, KeyError, TypeError, IndexError, EOFError,
                       zipfile.BadZipFile)
_REQUIRED = ("run_id", "method", "dataset", "split", "postprocess", "created")
_PY_TYPES = {"TEXT": (str,), "REAL": (int, float), "INTEGER": (int,)}


def read_metrics_rows(path: Path) -> list[dict[str, Any]]:
    """The leaderboard rows of a run's ``metrics.json``, checked before any reaches the database.

    Each row must be an object with the identifying keys, belong to the run directory it is
    in (so a copied or edited file cannot replace another run's rows), and hold values of its
    columns' types. ``ValueError`` naming the file and the fault otherwise.
    """
    path = Path(path)
    try:
        found = json.loads(path.read_text())["rows"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: {type(exc).__name__}: {exc}") from None
    if not isinstance(found, list) or not all(isinstance(r, dict) for r in found):
        raise ValueError(f"{path}: 'rows' is not a list of objects")
    missing = sorted({k for r in found for k in _REQUIRED if k not in r})
    if missing:
        raise ValueError(f"{path}: KeyError: rows lack {missing}")
    run_id = path.parent.name
    columns = dict(COLUMNS.items())
    for r in found:
        if r["run_id"] != run_id:
            raise ValueError(f"{path}: a row names run {r['run_id']!r}, not the folder it is in "
                             f"({run_id!r})")
        for k, v in r.items():
            kind = columns.get(k, "").split(" ")[0]
            if v is None or kind not in _PY_TYPES:
                continue
            if isinstance(v, bool) or not isinstance(v, _PY_TYPES[kind]):
                raise ValueError(f"{path}: column {k!r} holds {v!r}, expected "
                                 f"{'text' if kind == 'TEXT' else 'a number'}")
    return found


def _migrate(con: sqlite3.Connection) -> None:
    """Add the columns of :data:`COLUMNS` that an older database lacks (NULL in its old rows),
    so existing leaderboards keep opening as columns are added."""
    have = {r[1] for r in con.execute("PRAGMA table_info(results)")}
    for name, kind in COLUMNS.items():
        if name not in have:
            # NOT NULL columns cannot be added to filled tables; every new column is nullable
            try:
                con.execute(
                    f"ALTER TABLE results ADD COLUMN {name} {kind.replace(' NOT NULL', '')}")
            except sqlite3.OperationalError as exc:  # another process added it meanwhile
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
            con.execute(schema())
            _migrate(con)
            ok = con.execute("PRAGMA quick_check").fetchone()[0]
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
        names = list(COLUMNS)
        rows = [{k: row.get(k) for k in names} for row in rows]
        if not rows:
            return 0
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

    def adopt_rows(self, rows: Iterable[dict[str, Any]]) -> list[str]:
        """Insert the rows of a finished run that the database lacks, in one transaction; a
        row already stored (same run, post-processor and split) is never replaced. Returns one
        line per stored row that differs from the run's, naming the columns and both values
        (the caller reports them; the stored row stays as it is)."""
        names = list(COLUMNS)
        rows = [{k: row.get(k) for k in names} for row in rows]
        if not rows:
            return []
        mismatches: list[str] = []
        sql = "INSERT INTO results ({}) VALUES ({})".format(
            ", ".join(names), ", ".join("?" for _ in names))
        with closing(self._connect()) as con:
            con.row_factory = sqlite3.Row
            con.execute("BEGIN IMMEDIATE")
            try:
                for r in rows:
                    stored = con.execute(
                        "SELECT * FROM results WHERE run_id = ? AND postprocess = ? AND split = ?",
                        (r["run_id"], r["postprocess"], r["split"])).fetchone()
                    if stored is None:
                        con.execute(sql, tuple(r[n] for n in names))
                        continue
                    differ = [f"{k}: stored {stored[k]!r}, run's {r[k]!r}" for k in names
                              if not _same_value(stored[k], r[k])]
                    if differ:
                        mismatches.append(f"run {r['run_id']} {r['postprocess']}: "
                                          + "; ".join(differ))
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return mismatches

    def check(self) -> None:
        """Fail now, with a clear message, if results cannot be written here later: the root
        is not a folder, or the leaderboard database is corrupt."""
        for p in (self.root, self.runs_dir):
            if p.exists() and not p.is_dir():
                raise NotADirectoryError(f"--results {self.root}: {p} is a file, not a folder")
        if self.db_path.exists():
            closing_con = self._connect()  # runs the integrity check
            closing_con.close()

    def rows(self, **where: Any) -> list[dict[str, Any]]:
        if not self.db_path.exists():
            return []
        clause = " AND ".join(f"{k} = ?" for k in where)
        sql = "SELECT * FROM results" + (f" WHERE {clause}" if clause else "")
        sql += " ORDER BY dataset, created"
        with closing(self._connect()) as con:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute(sql, tuple(where.values()))]

    def rebuild(self, *, include_unsigned: bool = False,
                unsigned: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
        """Re-insert the rows of every finished run directory (``metrics.json``).

        Every folder is verified first (:func:`bench.provenance.verify_run`: a run this
        harness made here, every file as it wrote it); an unsigned or unverifiable one is
        skipped and named, unless ``include_unsigned`` (a colleague's folder, read as data:
        its rows are inserted and it is named in ``unsigned``, a dict). Every file is then
        read and checked (:func:`read_metrics_rows`); the rows of the good ones land in one
        transaction (all or none). Returns ``(rows inserted, {skipped run id: why})``.
        """
        from bench.provenance import verify_run

        rows: list[dict[str, Any]] = []
        skipped: dict[str, str] = {}
        for metrics_file in sorted(self.runs_dir.glob("*/metrics.json")):
            why = verify_run(metrics_file.parent)
            if why and not include_unsigned:
                skipped[metrics_file.parent.name] = (f"not inserted, unsigned or unverifiable: "
                                                     f"{why} (--include-unsigned inserts it)")
                continue
            try:
                rows.extend(read_metrics_rows(metrics_file))
                if why and unsigned is not None:
                    unsigned[metrics_file.parent.name] = why
            except ValueError as exc:
                skipped[metrics_file.parent.name] = str(exc)
        return self.add_rows(rows), skipped

    # -- run directories ----------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / validate_run_id(run_id)

    def run_ids(self) -> list[str]:
        return sorted(p.name for p in self.runs_dir.glob("*") if p.is_dir())


def _same_value(a: Any, b: Any) -> bool:
    """Equal, or both NaN (a stored REAL NaN reads back as NULL)."""
    def blank(v: Any) -> bool:
        return v is None or (isinstance(v, float) and v != v)
    if blank(a) or blank(b):
        return blank(a) and blank(b)
    return a == b


# -- DataFrames -------------------------------------------------------------------------------
_PANDAS_TYPES = {"TEXT": "string", "REAL": "float64", "INTEGER": "Int64"}


def load_leaderboard(results_dir: str | Path = "results") -> pd.DataFrame:
    """Every result row of ``results_dir`` as a DataFrame, one row per result.

    Columns are those of :data:`COLUMNS` with their types (text as pandas ``string``, reals as
    ``float64``, integers as nullable ``Int64``; ``created`` as a UTC timestamp), in that order;
    ``study`` is missing (``<NA>``) for single-seed runs.
    """
    import pandas as pd

    rows = ResultsStore(results_dir).rows()
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    for name, kind in COLUMNS.items():
        df[name] = df[name].astype(_PANDAS_TYPES[kind.split()[0]])
    df["created"] = pd.to_datetime(df["created"], utc=True, format="ISO8601")
    return df


#: the per-run series kept in ``metrics.json`` under ``details[postprocess]``
CURVE_KINDS = ("validation_curve", "per_section", "slabs")
_ROW_KEYS = ("run_id", "postprocess", "method", "dataset", "profile", "seed", "study",
             "split_hash")


def load_curves(results_dir: str | Path = "results", kind: str = "validation_curve",
                leaderboard: pd.DataFrame | None = None,
                skipped: list[tuple[Path, str]] | None = None) -> pd.DataFrame:
    """One of the per-run series of every result as a long DataFrame.

    ``kind`` is ``"validation_curve"`` (the post-processing sweep on validation: one row per
    parameter value), ``"per_section"`` (2D scores per test section, ``section`` is the index
    within the test split) or ``"slabs"`` (scores per test sub-volume, ``z0`` its first
    section). Each row also carries the identity of its result (run_id, postprocess, method,
    dataset, profile, seed, study, split_hash).

    A damaged ``metrics.json`` raises ``ValueError`` naming it; with ``skipped`` (a list) it
    is appended there as ``(path, why)`` instead and its run contributes no rows.
    """
    import pandas as pd

    if kind not in CURVE_KINDS:
        raise ValueError(f"kind must be one of {CURVE_KINDS}; got {kind!r}")
    board = load_leaderboard(results_dir) if leaderboard is None else leaderboard
    store = ResultsStore(results_dir)
    frames = []
    for run_id, group in board.groupby("run_id", sort=True):
        try:
            details = _run_details(store, str(run_id))
            run_frames = []
            for _, row in group.iterrows():
                series = details.get(row["postprocess"], {}).get(kind)
                if not series:
                    continue
                if not isinstance(series, list) or not all(
                        isinstance(p, dict) and all(_is_number(v) for v in p.values())
                        for p in series):
                    raise TypeError(f"details[{row['postprocess']!r}][{kind!r}] is not a list "
                                    "of objects of numbers")
                f = pd.DataFrame(series)
                if kind == "per_section":
                    f.insert(0, "section", range(len(f)))
                for i, key in enumerate(_ROW_KEYS):
                    f.insert(i, key, row[key])
                run_frames.append(f)
        except CORRUPT_FILE_ERRORS as exc:
            skip_file(skipped, store.run_dir(str(run_id)) / "metrics.json",
                      f"{kind} unreadable ({type(exc).__name__}: {exc})")
            continue
        frames.extend(run_frames)
    if not frames:
        return pd.DataFrame(columns=list(_ROW_KEYS))
    return pd.concat(frames, ignore_index=True)


def _is_number(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _run_details(store: ResultsStore, run_id: str) -> dict[str, Any]:
    """``details`` of a run's ``metrics.json`` (a dict of dicts); ``ValueError`` if damaged."""
    try:
        f = store.run_dir(run_id) / "metrics.json"
    except ValueError:  # a row from before run ids were checked: no run directory to read
        return {}
    if not f.exists():
        return {}
    details = json.loads(f.read_text()).get("details", {})
    if not isinstance(details, dict) or not all(isinstance(v, dict) for v in details.values()):
        raise ValueError("'details' is not a mapping of post-processor -> mapping")
    return details


def skip_file(skipped: list[tuple[Path, str]] | None, path: Path, why: str) -> None:
    """Record a damaged file in ``skipped``, or raise when the caller keeps no such list."""
    if skipped is None:
        raise ValueError(f"{path}: {why}")
    skipped.append((path, why))


#: the file in a run directory with the overlap table of every test sub-volume
OVERLAP_TABLES = "overlap_tables.npz"


def load_overlap_tables(results_dir: str | Path, run_ids: Iterable[str],
                        skipped: list[tuple[Path, str]] | None = None) -> pd.DataFrame:
    """The per-sub-volume overlap tables of the given runs as one long DataFrame.

    Columns: run_id, postprocess, slab (sub-volume index), gt, seg (labels), count (voxels).
    Runs written before the tables were stored contribute no rows. Files are read with
    ``allow_pickle=False`` and checked (integer 1-D columns of one length, counts >= 0); a
    damaged one raises ``ValueError`` naming it, or with ``skipped`` is appended there.
    """
    import pandas as pd

    store = ResultsStore(results_dir)
    frames = []
    for run_id in run_ids:
        try:
            f = store.run_dir(run_id) / OVERLAP_TABLES
        except ValueError:  # a row from before run ids were checked: no run directory
            continue
        if not f.exists():
            continue
        try:
            frames.extend(_read_tables(f, run_id))
        except CORRUPT_FILE_ERRORS as exc:
            skip_file(skipped, f, f"unreadable overlap tables ({type(exc).__name__}: {exc})")
    if not frames:
        return pd.DataFrame(columns=["run_id", "postprocess", "slab", "gt", "seg", "count"])
    return pd.concat(frames, ignore_index=True)


def _read_tables(path: Path, run_id: str) -> list[pd.DataFrame]:
    import pandas as pd

    frames = []
    with open(path, "rb") as f:
        if f.read(2) != b"PK":  # NumPy would take anything else for a pickle (and refuse it)
            raise ValueError("not an npz (zip) archive")
    with np.load(path, allow_pickle=False) as z:
        for pp in sorted({k.split("/")[0] for k in z.files}):
            cols = {c: z[f"{pp}/{c}"] for c in ("slab", "gt", "seg", "count")}
            n = len(cols["slab"])
            for c, a in cols.items():
                if a.ndim != 1 or a.dtype.kind not in "iu" or len(a) != n:
                    raise ValueError(f"{pp}/{c}: expected a 1-D integer array of length {n}, "
                                     f"got {a.dtype} {a.shape}")
            if n and int(cols["count"].min()) < 0:
                raise ValueError(f"{pp}/count: negative voxel counts")
            frames.append(pd.DataFrame({"run_id": run_id, "postprocess": pp, **cols}))
    return frames
