"""``python -m bench``: a thin command-line shell over the Python API.

Each sub-command lives in its own module exposing ``register(subparsers)``, which adds a parser
and sets ``func`` (called with the parsed namespace, returning an exit code). ``COMMANDS`` lists
them; a module is imported only when its command is parsed (:mod:`bench.commands.lazy`), so
``--help`` answers without importing torch or any command.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from bench.commands.lazy import LazySubParsers, walk
from bench.threads import passive_wait_policy

# for entry points that do not go through ``python -m bench`` (bench/__main__.py does it first):
# effective only while torch is not imported yet
passive_wait_policy()

#: sub-commands in the order ``--help`` lists them: name -> (module with ``register``, help).
#: A module is imported only when its command is parsed, so ``--help`` imports no torch; the
#: help line here is the module's own (tests/test_cli_usability.py checks that they agree).
COMMANDS = {
    "run": ("bench.commands.run", "train and evaluate methods under identical splits"),
    "score": ("bench.commands.score",
              "score affinities or a segmentation computed elsewhere (family 'external')"),
    "report": ("bench.commands.report", "render the leaderboard (Markdown, HTML, PNG plots)"),
    "compare": ("bench.commands.compare", "did my change help? paired verdicts of B against A"),
    "check": ("bench.commands.check", "regression check: protocol, evaluation, inference and "
              "training goldens, then the smoke benchmark against its seed spread"),
    "list": ("bench.commands.listing", "list methods, datasets and post-processors"),
    "recipe": ("bench.commands.recipe", "print a method's resolved training recipe (YAML)"),
    "data": ("bench.data.cli", "list, fetch, check and preview datasets"),
    "eval": ("metrics.cli",
             "score a segmentation against a ground truth (VOI, ARAND, CREMI score, ERL)"),
    "perf": ("bench.commands.perf", "throughput benchmarks (metrics, infer, segment, "
             "blockwise, train, skeleton, classical)"),
    "docs": ("bench.commands.docs", "regenerate or check the README's and docs' tables"),
    "view": ("bench.commands.view",
             "open a run's raw, ground truth, affinities and segmentations in neuroglancer"),
}


def build_parser() -> argparse.ArgumentParser:
    from bench import __version__
    from bench.commands.examples import EXAMPLES

    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="emseg-bench: train, run and compare EM neuron segmentation methods.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"emseg-bench {__version__}")
    _add_verbosity(parser, default=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", action=LazySubParsers)
    sub.finish = _finish
    for name, (module, help_text) in COMMANDS.items():
        sub.add_lazy(name, help_text, lambda action, m=module: _register(m, action))
    parser.epilog = "examples:\n" + EXAMPLES[""].strip("\n")
    return parser


def _register(module: str, action: LazySubParsers) -> None:
    importlib.import_module(module).register(action)


def _finish(path: str, command: argparse.ArgumentParser) -> None:
    """What every sub-command parser gets once built: -v/-q, the formatter, its examples."""
    from bench.commands.examples import EXAMPLES

    # -v/-q after the sub-command too; SUPPRESS: an absent flag keeps the main parser's value
    _add_verbosity(command, default=argparse.SUPPRESS)
    command.formatter_class = _Formatter
    if path in EXAMPLES:
        command.epilog = "examples:\n" + EXAMPLES[path].strip("\n")


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, except that an ``examples:`` section keeps its lines as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def _add_verbosity(parser: argparse.ArgumentParser, default: object) -> None:
    group = parser.add_argument_group("logging")
    loud = group.add_mutually_exclusive_group()
    loud.add_argument("-v", "--verbose", action="store_true", default=default,
                      help="debug logging, and tracebacks for errors")
    loud.add_argument("-q", "--quiet", action="store_true", default=default,
                      help="warnings and errors only, no progress bars or progress lines")


def _commands(parser: argparse.ArgumentParser, path: str = ""
              ) -> list[tuple[str, argparse.ArgumentParser]]:
    """Every sub-command parser below ``parser`` with its path (``"perf infer"``), each built
    (this imports every command module: for tests and tools, not for one command line)."""
    return list(walk(parser, path))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args, extra = parser.parse_known_args(argv)
    if extra:
        parser.error(_extra_message(argv, extra))
    if args.verbose and args.quiet:  # one before and one after the sub-command
        parser.error("give -v/--verbose or -q/--quiet, not both")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from bench import progress
    from bench.exceptions import BenchError

    try:
        progress.mode()  # a bad BENCH_PROGRESS fails here, before any work
        if args.quiet:
            progress.set_mode("off")
        # log lines printed above the bars, never through them (a no-op without a terminal)
        with progress.log_redirect():
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
    finally:
        progress.set_mode(None)  # an in-process caller (tests) gets the default back


def _extra_message(argv: list[str], extra: list[str]) -> str:
    """argparse's message for unknown arguments, or a clearer one for a value after ``--json``
    (which once took a file name in some commands; ``--out FILE`` writes files now)."""
    first = extra[0]
    at = argv.index(first) if first in argv else -1
    if at > 0 and argv[at - 1] == "--json":
        return (f"--json takes no value: it prints JSON to stdout; to write a file use "
                f"--out {first}")
    return f"unrecognized arguments: {' '.join(extra)}"


def _print_resume_hint(exc: BaseException, args: argparse.Namespace) -> None:
    """A run interrupted (or stopped) mid-way says how to continue it."""
    run_id = getattr(exc, "run_id", None)
    if run_id:
        results = getattr(args, "results", "results")
        print(f"continue it with: python -m bench run --resume {run_id} --results {results}",
              file=sys.stderr)
