"""``python -m bench docs tables``: the README's and the documentation's generated tables.

Every result table in ``README.md`` and ``docs/`` sits between ``<!-- generated: NAME -->`` and
``<!-- end generated -->`` markers and is rendered from committed records
(:mod:`bench.report.doc_tables`). Without options the command lists the tables whose text
differs from their records and exits 1 (0 when all agree); ``--write`` rewrites them.
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("docs", help="regenerate or check the README's and docs' tables",
                            description="The documentation's generated parts.")
    docs_sub = parser.add_subparsers(dest="docs_command", metavar="SUBCOMMAND")
    p = docs_sub.add_parser(
        "tables", help="check (or --write) the result tables generated from committed records",
        description="Compare every generated table of README.md and docs/ with what its "
                    "committed records give; exit 1 when one differs. --write rewrites them.")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--write", action="store_true",
                      help="rewrite the tables that differ from their records")
    what.add_argument("--show", metavar="NAME", help="print one generated table")
    what.add_argument("--list", action="store_true",
                      help="the generated tables' names and record files")
    p.set_defaults(func=_cmd_tables)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _cmd_tables(args: argparse.Namespace) -> int:
    from bench.report import doc_tables

    if args.list:
        for name, spec in doc_tables.TABLES.items():
            print(f"{name:<34} {spec.kind:<12} {spec.source}")
        return 0
    if args.show:
        sys.stdout.write(doc_tables.render(args.show))
        return 0
    if args.write:
        for entry in doc_tables.update_tables():
            print(f"rewrote {entry}")
        return 0
    stale = doc_tables.stale_tables()
    for name in doc_tables.unused_tables():
        print(f"warning: generated table {name!r} is shown on no page", file=sys.stderr)
    for entry in stale:
        print(f"differs from its records: {entry}", file=sys.stderr)
    if stale:
        print("regenerate with: python -m bench docs tables --write", file=sys.stderr)
        return 1
    print("every generated table agrees with its records")
    return 0
