"""Leaderboard exports: every result row as CSV, JSON or Parquet (``bench report --format``).

One row per result (run, post-processor, split) with the columns and order of
:func:`bench.results.load_leaderboard`, so tables made elsewhere (pandas, R, a spreadsheet)
start from the same data as the report, followed by the floor columns of the report
(:data:`bench.report.floor.FLOOR_COLUMNS`: the best control of the row's dataset and
post-processor, and whether the row's result beats it significantly; filled for the rows the
report shows, empty for older runs and for the controls themselves). :func:`read_csv` reads an
exported CSV back with the leaderboard's columns and types (it equals ``load_leaderboard``,
which a test checks).
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pandas as pd

from bench.atomic import atomic_path, write_atomic
from bench.results import _PANDAS_TYPES, COLUMNS, load_leaderboard

#: export formats (``parquet`` needs the optional pyarrow package)
FORMATS = ("csv", "json", "parquet")
#: the report itself (index.html, leaderboard.md and the plots)
REPORT_FORMATS = ("html",)


def parse_formats(text: str) -> list[str]:
    """``"csv,json"`` -> ["csv", "json"], checked before any work (pyarrow for parquet)."""
    formats = [f.strip().lower() for f in str(text).split(",") if f.strip()]
    known = (*REPORT_FORMATS, *FORMATS)
    unknown = [f for f in formats if f not in known]
    if unknown or not formats:
        raise ValueError(f"--format: expected a comma separated list of {', '.join(known)}; "
                         f"got {text!r}")
    if "parquet" in formats and importlib.util.find_spec("pyarrow") is None:
        raise ValueError("--format parquet needs the pyarrow package (pip install pyarrow); "
                         "csv and json need nothing more")
    return list(dict.fromkeys(formats))


def export_leaderboard(results_dir: str | Path, out_dir: str | Path,
                       formats: list[str], *, skipped: list | None = None) -> list[Path]:
    """Write ``leaderboard.<format>`` into ``out_dir`` for each export format; return the
    paths (report formats in ``formats`` are ignored here). A run whose overlap tables are
    damaged gets no floor verdict; with ``skipped`` (a list) the file is appended there as
    ``(path, why)``, without it the first one raises ``ValueError``."""
    if not any(fmt in FORMATS for fmt in formats):
        return []
    board = with_floor(results_dir, load_leaderboard(results_dir), skipped=skipped)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        if fmt not in FORMATS:
            continue
        path = out_dir / f"leaderboard.{fmt}"
        if fmt == "csv":
            write_atomic(path, csv_safe(board).to_csv(index=False))
        elif fmt == "json":
            records = json.loads(board.to_json(orient="records", date_format="iso"))
            write_atomic(path, json.dumps({"columns": list(board.columns), "rows": records},
                                          indent=1) + "\n")
        else:
            with atomic_path(path) as tmp:
                board.to_parquet(tmp, index=False)
        written.append(path)
    return written


def with_floor(results_dir: str | Path, board: pd.DataFrame, *,
               skipped: list | None = None) -> pd.DataFrame:
    """``board`` with the report's floor columns (see the module docstring)."""
    from bench.report.floor import FLOOR_COLUMNS, floor_verdicts
    from bench.report.leaderboard import select_results, summarize_results
    from bench.results import ResultsStore

    out = board.copy()
    for col in FLOOR_COLUMNS:
        out[col] = pd.Series([pd.NA] * len(out), dtype="object", index=out.index)
    if board.empty:
        return out
    selected = select_results(board)
    verdicts = floor_verdicts(ResultsStore(results_dir), selected, summarize_results(selected),
                              skipped=skipped)
    key = ["dataset", "profile", "postprocess", "method"]
    rows = selected[["run_id", "split", *key]].merge(verdicts, on=key, how="inner")
    index = {k: i for i, k in enumerate(zip(out["run_id"], out["postprocess"], out["split"],
                                            strict=True))}
    for rec in rows.to_dict("records"):
        i = index.get((rec["run_id"], rec["postprocess"], rec["split"]))
        if i is None:
            continue
        for col in FLOOR_COLUMNS:
            out.iat[i, out.columns.get_loc(col)] = rec[col]
    return out


#: a text cell starting with one of these is a formula to a spreadsheet (``=HYPERLINK(...)``,
#: ``+cmd|...``, ``@SUM``, a tab or carriage return that hides one)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def csv_text(value: object) -> object:
    """A text cell neutralised for spreadsheets: a leading ``'`` before a cell that starts with
    ``= + - @``, a tab or a carriage return (``-`` only when the cell is not a number), and
    before one that already starts with ``'`` and one of those (so :func:`read_csv`, which
    drops one leading ``'`` there, reads every name back as it was)."""
    if not isinstance(value, str) or not value:
        return value
    body = value[1:] if value.startswith("'") else value
    if body.startswith(_FORMULA_START) and not _NUMBER.fullmatch(body):
        return "'" + value
    return value


def _csv_text_back(value: object) -> object:
    if isinstance(value, str) and value.startswith("'") and csv_text(value[1:]) == value:
        return value[1:]
    return value


def csv_safe(board: pd.DataFrame) -> pd.DataFrame:
    """``board`` with every text column through :func:`csv_text` (a planted results folder
    names its method ``=HYPERLINK(...)``: the export must not run it in a spreadsheet)."""
    out = board.copy()
    for name in out.columns:
        if out[name].dtype == object or pd.api.types.is_string_dtype(out[name]):
            out[name] = out[name].map(csv_text, na_action="ignore")
    return out


def read_csv(path: str | Path) -> pd.DataFrame:
    """An exported ``leaderboard.csv`` with the column types of ``load_leaderboard``."""
    frame = pd.read_csv(path, dtype={name: _PANDAS_TYPES[kind.split()[0]]
                                     for name, kind in COLUMNS.items() if name != "created"})
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: not a leaderboard export (no columns {missing})")
    for name in frame.columns:
        if frame[name].dtype == object or pd.api.types.is_string_dtype(frame[name]):
            frame[name] = frame[name].map(_csv_text_back, na_action="ignore").astype(
                frame[name].dtype)
    frame["created"] = pd.to_datetime(frame["created"], utc=True, format="ISO8601")
    return frame[list(COLUMNS)]
