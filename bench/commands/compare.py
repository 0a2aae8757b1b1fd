"""``python -m bench compare A B``: paired verdicts between two results folders or studies."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare", help="did my change help? paired verdicts of B against A",
        description="Compare every (dataset, profile, method, post-processor) result present "
        "in both A and B: the mean over common seeds of VOI(A) - VOI(B), its 95% interval and "
        "a p-value from the paired hierarchical bootstrap over seeds and test sub-volumes "
        "(bench.stats.compare), Holm-corrected over the results compared. A and B are results "
        "folders (the results their reports show), or two studies of one folder "
        "(--study-a/--study-b, or A and B the same folder).",
    )
    p.add_argument("a", metavar="A", help="the reference: a results folder (e.g. main's)")
    p.add_argument("b", metavar="B", help="the candidate: a results folder (e.g. your branch's)")
    p.add_argument("--study-a", default=None, metavar="STUDY",
                   help="only this study of A (its id, as in the `study` column)")
    p.add_argument("--study-b", default=None, metavar="STUDY", help="only this study of B")
    p.add_argument("--alpha", type=float, default=0.05,
                   help="significance level after Holm's correction (default 0.05)")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap replicates (default 2000)")
    p.add_argument("--json", action="store_true",
                   help="print the verdicts as one JSON object on stdout instead of Markdown")
    p.add_argument("--out", type=Path, default=None, metavar="FILE",
                   help="also write the verdicts: FILE.json (JSON) or FILE.md (Markdown)")
    p.add_argument("--fail-if-worse", action="store_true",
                   help="for CI, failing closed: exit 1 when B is significantly worse than A on "
                   "some result, 3 when the comparison is incomplete (B has no rows, a result of "
                   "A is missing from B, or was not compared: other split, no common seed, "
                   "missing or disagreeing overlap tables); the reasons go to stderr")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from bench.atomic import write_atomic
    from bench.compare import as_json, as_markdown, compare_sides, gate, load_side

    if not 0 < args.alpha < 1:
        raise ValueError(f"--alpha: expected a level between 0 and 1, got {args.alpha}")
    if args.n_boot < 100:
        raise ValueError(f"--n-boot: expected at least 100 replicates, got {args.n_boot}")
    if args.out is not None and args.out.suffix not in (".json", ".md"):
        raise ValueError(f"--out {args.out}: expected a .json or .md file name")
    a = load_side(args.a, args.study_a)
    b = load_side(args.b, args.study_b)
    table = compare_sides(a, b, alpha=args.alpha, n_boot=args.n_boot)
    doc = as_json(a, b, table, args.alpha)
    markdown = as_markdown(a, b, table, args.alpha)
    if args.out is not None:
        text = (json.dumps(doc, indent=2, allow_nan=False) + "\n"
                if args.out.suffix == ".json" else markdown)
        write_atomic(args.out, text)
    if args.json:
        print(json.dumps(doc, allow_nan=False))
    else:
        print(markdown, end="")
    if table.empty:
        print("warning: no result is present in both A and B", file=sys.stderr)
    if args.fail_if_worse:
        code, reasons = gate(a, b, table)
        for reason in reasons:
            print(f"--fail-if-worse: {reason}", file=sys.stderr)
        if code == 1:
            print("B is significantly worse than A (--fail-if-worse)", file=sys.stderr)
        elif code:
            print("the comparison is incomplete, so it cannot pass (--fail-if-worse)",
                  file=sys.stderr)
        return code
    return 0
