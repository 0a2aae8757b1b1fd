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
    "bench.commands.compare",
    "bench.commands.check",
    "bench.commands.listing",
    "bench.data.cli",
    "metrics.cli",
    "bench.commands.perf",
    "bench.commands.view",
)


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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    for path, command in _commands(parser):
        # -v/-q after the sub-command too; SUPPRESS: an absent flag keeps the main parser's value
        _add_verbosity(command, default=argparse.SUPPRESS)
        command.formatter_class = _Formatter
        if path in EXAMPLES:
            command.epilog = "examples:\n" + EXAMPLES[path].strip("\n")
    parser.epilog = "examples:\n" + EXAMPLES[""].strip("\n")
    return parser


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
    """Every sub-command parser below ``parser`` with its path (``"perf infer"``)."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                child_path = f"{path} {name}".strip()
                out.append((child_path, child))
                out += _commands(child, child_path)
    return out


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
    from bench.errors import BenchError

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
