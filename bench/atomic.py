"""Atomic file writes: readers (and a restarted run) see the old file or the new one, never a
partial one. Everything that writes results, checkpoints or done markers goes through here.

The file gets the permissions ``open()`` would have given it (0666 less the umask), not the
0600 of its temporary file, so a shared results folder or data root stays readable by the
colleagues the umask lets in; a secret (a key) passes ``permissions=0o600``."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def current_umask() -> int:
    """The process's umask (read from ``/proc`` where it can be, so no thread ever sees it
    changed; else set and restored at once)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(path: str | Path, mode: int | None = None) -> None:
    """Give ``path`` (a temporary file from ``mkstemp``, 0600) ``mode``, by default the mode a
    plain ``open()`` would have created it with."""
    os.chmod(path, (0o666 & ~current_umask()) if mode is None else mode)


@contextmanager
def atomic_path(path: str | Path, permissions: int | None = None) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed over ``path`` on success and
    removed on failure (for writers that need a file name, e.g. h5py). The file ends with
    ``permissions`` (default: 0666 less the umask, as ``open()`` gives)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        apply_umask(tmp, permissions)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_open(path: str | Path, mode: str = "wb", *,
                permissions: int | None = None) -> Iterator[IO[Any]]:
    """Like ``open(path, mode)`` for writing, but atomic and fsync'ed before the rename."""
    with atomic_path(path, permissions) as tmp, open(tmp, mode) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


def write_atomic(path: str | Path, data: str | bytes, *, permissions: int | None = None) -> None:
    with atomic_open(path, "wb" if isinstance(data, bytes) else "w",
                     permissions=permissions) as f:
        f.write(data)


def write_json(path: str | Path, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
