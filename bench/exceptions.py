"""Errors the command line reports as one line, without a traceback (``-v`` shows one)."""

from __future__ import annotations


class BenchError(Exception):
    """A problem the user can fix (bad input, a busy run directory, a missing device)."""
