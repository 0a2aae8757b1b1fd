"""An exclusive lock on a run directory, so that two processes never work on one run at once.

The lock is an ``flock`` on ``<run dir>/.lock``: the kernel releases it when the holding process
ends for any reason (including SIGKILL), so a crashed run never blocks its own ``--resume``.
The file keeps the holder's pid only to make the refusal message useful.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.exceptions import BenchError

LOCK_NAME = ".lock"


class RunLockedError(BenchError):
    """Another live process holds the run directory."""


@contextmanager
def run_lock(run_dir: str | Path) -> Iterator[None]:
    """Hold ``run_dir``'s lock for the ``with`` block; raise :class:`RunLockedError` at once
    (never wait) when another process holds it."""
    path = Path(run_dir) / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise RunLockedError(
                f"run directory {Path(run_dir)} is in use by another process (pid {holder}); "
                "wait for it to finish, or stop it, before resuming this run"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
