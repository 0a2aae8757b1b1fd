"""``python -m bench report``: leaderboard tables and plots from the results database."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="render the leaderboard (Markdown, HTML, PNG plots)",
        description="Render results/report/index.html and leaderboard.md from the results "
        "database. A damaged file of a run is skipped, named on stderr, and the rest of the "
        "report is written; the exit code is then 1.",
    )
    p.add_argument("--results", default="results", help="results folder (default: results)")
    p.add_argument("--out", default=None, help="output folder (default: RESULTS/report)")
    p.add_argument("--rebuild-db", action="store_true",
                   help="first re-insert every finished run directory's rows into the database "
                   "(only folders this harness signed here; see --include-unsigned)")
    p.add_argument("--include-unsigned", action="store_true",
                   help="with --rebuild-db: also insert the rows of run folders that are "
                   "unsigned or unverifiable (a colleague's results, read as data); each is "
                   "named on stderr")
    p.add_argument("--format", default="html", metavar="LIST",
                   help="comma separated outputs: html (the report: index.html, leaderboard.md, "
                   "leaderboard.txt, plots), csv, json, parquet (needs pyarrow): "
                   "leaderboard.FORMAT with every result row and the leaderboard's columns, "
                   "then the floor columns (default: html)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bench.report.exports import export_leaderboard, parse_formats
    from bench.report.leaderboard import build_report
    from bench.results import ResultsStore

    formats = parse_formats(args.format)  # a bad format or a missing pyarrow fails first
    if args.out is not None:
        check_out_folder(Path(args.out))
    store = ResultsStore(args.results)
    skipped: dict[str, str] = {}
    if args.rebuild_db:
        unsigned: dict[str, str] = {}
        n, skipped = store.rebuild(include_unsigned=args.include_unsigned, unsigned=unsigned)
        print(f"rebuilt {n} rows from {store.runs_dir}")
        for run_id, why in unsigned.items():
            print(f"inserted unsigned run {run_id}: {why}", file=sys.stderr)
        for run_id, why in skipped.items():
            print(f"skipped run {run_id}: {why}", file=sys.stderr)
    files: list = []
    if "html" in formats:
        index = build_report(store, args.out, skipped=files)
        first: dict = {}
        for path, why in files:  # one line per file: its first fault
            first.setdefault(path, why)
        for path, why in first.items():
            print(f"skipped {path}: {why}", file=sys.stderr)
        print(f"report: {index}")
        print(f"markdown: {index.with_name('leaderboard.md')}")
        print(f"text: {index.with_name('leaderboard.txt')}")
    out_dir = Path(args.out) if args.out else store.root / "report"
    reported = {path for path, _ in files}
    more: list = []
    for path in export_leaderboard(store.root, out_dir, formats, skipped=more):
        print(f"{path.suffix[1:]}: {path}")
    for path, why in more:  # damaged files the report has not named already
        if path not in reported:
            reported.add(path)
            print(f"skipped {path}: {why}", file=sys.stderr)
    files += more
    # the report is built, but some runs or files are missing from it
    return 1 if skipped or files else 0


def check_out_folder(out: Path) -> None:
    """``--out`` is a folder (made when missing): a file there, or below a file, is refused in
    one line before any work."""
    for parent in (out, *out.parents):
        if parent.exists():
            if not parent.is_dir():
                what = "is a file" if parent == out else f"lies below the file {parent}"
                raise ValueError(f"--out {out}: {what}; the report is a folder (index.html, "
                                 "leaderboard.md, the plots and exports), give a folder path")
            return
