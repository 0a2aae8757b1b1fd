"""``python -m bench``: a thin command-line shell over the Python API.

Each sub-command lives in its own module exposing ``register(subparsers)``, which adds a parser
and sets ``func`` (called with the parsed namespace, returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from bench.threads import passive_wait_policy

# for entry points that do not go through ``python -m bench`` (bench/__main__.py does it first):
# effective only while torch is not imported yet
passive_wait_policy()

# sub-command modules, in the order ``--help`` lists them
COMMAND_MODULES = (
    "bench.commands.run",
    "bench.commands.score",
    "bench.commands.report",
    "bench.commands.check",
    "bench.commands.listing",
    "bench.data.cli",
    "metrics.cli",
    "bench.commands.perf",
    "bench.commands.view",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="emseg-bench: train, run and compare EM neuron segmentation methods.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from bench.errors import BenchError

    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt as exc:
        print("interrupted", file=sys.stderr)
        _print_resume_hint(exc, args)
        return 130
    except (KeyError, ValueError, OSError, BenchError) as exc:
        # user errors: one clear line, no traceback (use -v for one)
        if args.verbose:
            raise
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {msg}", file=sys.stderr)
        return 2


def _print_resume_hint(exc: BaseException, args: argparse.Namespace) -> None:
    """A run interrupted (or stopped) mid-way says how to continue it."""
    run_id = getattr(exc, "run_id", None)
    if run_id:
        results = getattr(args, "results", "results")
        print(f"continue it with: python -m bench run --resume {run_id} --results {results}",
              file=sys.stderr)
