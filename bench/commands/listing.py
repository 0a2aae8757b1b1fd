"""``python -m bench list``: methods, datasets and post-processors."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list methods, datasets and post-processors")
    p.add_argument("what", nargs="?", default="all",
                   choices=["all", "methods", "datasets", "postprocessors"])
    p.add_argument("--no-params", action="store_true",
                   help="skip building each network to count its parameters")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from bench.registry import METHODS, POSTPROCESSORS

    if args.what in ("all", "methods"):
        print("methods:")
        for e in METHODS.list():
            count = ""
            if not getattr(e.cls, "learned", True):  # a control: nothing to build or count
                count = f"{0:>12,} params"
            elif not args.no_params:
                count = f"{METHODS.create(e.name, profile='smoke').n_parameters():>12,} params"
            print(f"  {e.name:<16} {e.family:<10} {count}  {e.description}")
    if args.what in ("all", "datasets"):
        from bench.data import list_datasets

        print("datasets:")
        for info in list_datasets():
            print(f"  {info.name:<16} {info.description}")
    if args.what in ("all", "postprocessors"):
        print("post-processors:")
        for e in POSTPROCESSORS.list():
            print(f"  {e.name:<16} {e.description}")
    return 0
