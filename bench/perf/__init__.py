"""Throughput benchmarks, one module per target (``python -m bench perf TARGET``)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """``--json`` (print the results as one JSON object on stdout, as in every command) and
    ``--out FILE`` (write them to a file)."""
    # the old `--json FILE` usage gets a clear message from bench.cli (_extra_message)
    parser.add_argument("--json", action="store_true",
                        help="print the results as one JSON object on stdout (the table then "
                        "goes to stderr)")
    parser.add_argument("--out", type=Path, default=None, metavar="FILE.json",
                        help="also write the results to this JSON file")


@contextlib.contextmanager
def text_output(args: argparse.Namespace) -> Iterator[TextIO]:
    """Yield the stream the JSON goes to; with ``--json`` the human-readable lines printed
    inside the block go to stderr, so stdout holds the JSON object only."""
    stdout = sys.stdout
    if args.json:
        with contextlib.redirect_stdout(sys.stderr):
            yield stdout
    else:
        yield stdout


def emit(args: argparse.Namespace, payload: Any, stdout: TextIO) -> None:
    """Write ``payload`` where ``--out`` and ``--json`` say."""
    if args.out is not None:
        from bench.atomic import write_json

        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.out, payload)
    if args.json:
        from bench.atomic import _json_default

        print(json.dumps(payload, default=_json_default), file=stdout)
