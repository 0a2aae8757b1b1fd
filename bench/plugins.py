"""Entry points of outside packages (methods, datasets, post-processors), loaded one at a time.

One broken plugin must not take the harness down with it: a package whose module raises at
import (or whose factory is not what the group expects) is logged as
``skipping plugin NAME (distribution X): error`` and left out, and everything else still
works (``list``, ``data list``, ``report``, runs of the built-in methods). Only asking for that
name fails, with the same error (:func:`broken_error`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib import metadata
from typing import Any

log = logging.getLogger(__name__)

#: (group, name) -> the one-line reason the plugin was skipped
_BROKEN: dict[tuple[str, str], str] = {}


def _distribution(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    name = getattr(dist, "name", None) if dist is not None else None
    return str(name) if name else "unknown"


def load_entry_points(group: str, register: Callable[[metadata.EntryPoint, Any], None],
                      skip: Callable[[str], bool] = lambda name: False) -> None:
    """Load each entry point of ``group`` (but those ``skip`` names) and pass it with the loaded
    object to ``register``; an exception in either is recorded and logged, never raised."""
    try:
        eps = list(metadata.entry_points(group=group))
    except Exception as exc:  # a corrupt metadata folder on sys.path
        log.warning("skipping plugins of %s: cannot read entry points: %s", group, _one_line(exc))
        return
    for ep in eps:
        if skip(ep.name):
            continue
        try:
            register(ep, ep.load())
        except (Exception, SystemExit) as exc:  # a module may even call sys.exit on import
            dist = _distribution(ep)
            reason = f"{ep.name} = {ep.value!r} ({group}): {_one_line(exc)}"
            _BROKEN[(group, ep.name)] = (f"plugin {ep.name!r} (distribution {dist}) was "
                                         f"skipped: {reason}")
            log.warning("skipping plugin %s (distribution %s): %s", ep.name, dist, reason)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def broken_error(group: str, name: str) -> str | None:
    """Why plugin ``name`` of ``group`` was skipped, or None when it was not."""
    return _BROKEN.get((group, name))
