"""``python -m bench check``: fail when a method got worse than the stored baseline."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check", help="regression check of the smoke benchmark against a baseline",
        description="Run the fixed smoke benchmark (synthetic smoke volume, waterz, seed 0, "
        "CPU) and compare VOI and ARAND with the stored baseline; exit 1 on a regression.",
    )
    p.add_argument("--baseline", default="results/baseline.json", type=Path)
    p.add_argument("--methods", default=None, help="comma separated (default: the baseline's)")
    p.add_argument("--tolerance", type=float, default=0.05,
                   help="absolute tolerance added to the baseline (default 0.05)")
    p.add_argument("--update", action="store_true",
                   help="record the baseline deliberately (with --methods: those methods are "
                   "merged into it, the others kept)")
    p.add_argument("--replace", action="store_true",
                   help="with --update: rewrite the baseline with the given methods only")
    p.add_argument("--seeds", default=None, metavar="LIST",
                   help="with --update: record the baseline over these seeds (default 0-2, at "
                   "least 3); the check takes its tolerance from their spread")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from bench.check import check

    methods = [m.strip() for m in args.methods.split(",")] if args.methods else None
    seeds = None
    if args.seeds:
        from bench.study import parse_seeds

        seeds = parse_seeds(args.seeds)
    code, report = check(args.baseline, methods=methods, abs_tol=args.tolerance,
                         update=args.update, seeds=seeds,
                         replace=args.replace)
    print(report)
    return code
