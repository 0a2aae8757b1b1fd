"""Progress of long steps: a tqdm bar on a terminal, a few plain log lines anywhere else.

Every step of a run that can take more than a few seconds (training, inference, validation
sweeps, learned post-processor fitting, skeletonisation, random-forest features and trees,
blockwise blocks, the runs of a study) reports through :func:`bar`, so that one switch decides
for all of them how progress looks:

* stderr is a terminal: a tqdm bar (nested bars stack: a study's bar stays on top of its runs'
  bars); the command line routes log records through ``tqdm.write`` while it runs
  (:func:`log_redirect`), so a log line never breaks a bar;
* otherwise (CI, ``> file``, ``| tee``): no bar characters at all, but a log line at most every
  :data:`LOG_EVERY_S` seconds while the step runs and one when a step that took at least
  :data:`QUIET_BELOW_S` seconds ends, so a log shows where a long step is.

``BENCH_PROGRESS=bars`` or ``=log`` forces one of the two (bars for a CI log viewer that
renders carriage returns, log lines in a notebook); ``=off`` silences both.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

log = logging.getLogger("bench.progress")

#: seconds between the log lines of a step that is still running (no terminal)
LOG_EVERY_S = 30.0
#: a step shorter than this ends without a log line (no terminal)
QUIET_BELOW_S = 5.0
_MODES = ("auto", "bars", "log", "off")


_forced: str | None = None


def set_mode(chosen: str | None) -> None:
    """Override ``BENCH_PROGRESS`` in this process (``-q`` sets ``"off"``); None: undo."""
    if chosen is not None and chosen not in _MODES:
        raise ValueError(f"progress mode: expected one of {', '.join(_MODES)}, got {chosen!r}")
    global _forced
    _forced = chosen


def mode() -> str:
    """``"bars"``, ``"log"`` or ``"off"``: how progress is shown now (see the module)."""
    chosen = _forced or os.environ.get("BENCH_PROGRESS", "auto").strip().lower() or "auto"
    if chosen not in _MODES:
        raise ValueError(f"BENCH_PROGRESS: expected one of {', '.join(_MODES)}, got {chosen!r}")
    if chosen != "auto":
        return chosen
    return "bars" if _stderr_is_terminal() else "log"


def on_terminal() -> bool:
    """Whether progress is drawn as bars (for libraries with their own bars, e.g. kimimaro)."""
    return mode() == "bars"


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


class _LogProgress:
    """The tqdm subset the project uses, reporting through log lines instead of a bar."""

    def __init__(self, iterable: Iterable | None, total: int | None, desc: str, unit: str,
                 initial: int = 0, quiet: bool = False):
        self.iterable = iterable
        self.total = total
        self.desc, self.unit = desc, unit
        self.n = initial
        self._initial = initial
        self._postfix = ""
        self._quiet = quiet
        self._t0 = self._last = time.monotonic()
        self._closed = False

    def __iter__(self) -> Iterator:
        try:
            for item in self.iterable:  # type: ignore[union-attr]
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> _LogProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        finished = self.total is not None and self.n >= self.total  # close() says it
        if not self._quiet and not finished and now - self._last >= LOG_EVERY_S:
            self._last = now
            log.info("%s: %s", self.desc, self._status(now))

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:  # noqa: ARG002
        self._postfix = text

    def set_description(self, desc: str, refresh: bool = True) -> None:  # noqa: ARG002
        self.desc = desc

    def write(self, text: str) -> None:
        log.info("%s", text)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        now = time.monotonic()
        if not self._quiet and now - self._t0 >= QUIET_BELOW_S:
            log.info("%s: %s", self.desc, self._status(now, done=True))

    def _status(self, now: float, done: bool = False) -> str:
        elapsed = now - self._t0
        count = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        text = f"{count} {self.unit}, {duration(elapsed)}"
        done_here = self.n - self._initial
        if done:
            text += " (done)" if self.total is None or self.n >= self.total else " (stopped)"
        elif self.total and done_here > 0 and self.n < self.total:
            left = elapsed / done_here * (self.total - self.n)
            text += f", about {duration(left)} left"
        if self._postfix:
            text += f" [{self._postfix}]"
        return text


def duration(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def bar(iterable: Iterable | None = None, *, total: int | None = None, desc: str,
        unit: str = "it", initial: int = 0, leave: bool | None = None,
        enabled: bool | None = None) -> Any:
    """A progress bar over ``iterable`` (or updated by hand with ``update(n)``).

    Parameters
    ----------
    iterable
        Items to iterate; ``total`` defaults to its length when it has one.
    total
        Number of steps, if known.
    desc, unit
        The bar's label and what one step is ("iter", "run", "block", ...).
    initial
        Steps already done (a resumed training).
    leave
        Keep the finished bar on screen; by default only the outermost bar stays.
    enabled
        ``False`` shows nothing at all (tests, inner helpers); ``None`` follows :func:`mode`.

    Returns
    -------
    A tqdm bar, or an object with the same ``update``, ``close``, ``set_postfix_str``,
    ``set_description``, iteration and context-manager behaviour that writes log lines.
    """
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    how = "off" if enabled is False or silenced() else mode()
    if how == "bars":
        from tqdm.auto import tqdm

        if leave is None:
            leave = not _open_bars()
        size = _fixed_size()
        return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, leave=leave,
                    dynamic_ncols=size is None, ncols=size and size[0], nrows=size and size[1],
                    mininterval=0.5, file=sys.stderr)
    return _LogProgress(iterable, total, desc, unit, initial, quiet=how == "off")


_local = threading.local()


def silenced() -> bool:
    """Whether this thread is inside :func:`silence`."""
    return getattr(_local, "depth", 0) > 0


@contextlib.contextmanager
def silence() -> Iterator[None]:
    """No progress at all from this thread inside the block: for work that runs many times
    under a bar of its own (one blockwise block's inference under the bar of the blocks)."""
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        yield
    finally:
        _local.depth -= 1


def _fixed_size() -> tuple[int, int] | None:
    """None when the terminal reports its size (tqdm follows it), else (columns, lines) to use:
    a pseudo-terminal without a size (``script``, ``docker run -t``) reports 0 x 0, which tqdm
    would take for no room at all and draw nothing."""
    try:
        if os.get_terminal_size(sys.stderr.fileno()).columns > 0:
            return None
    except (AttributeError, OSError, ValueError):
        pass
    columns, lines = shutil.get_terminal_size((100, 24))
    return columns or 100, lines or 24


def _open_bars() -> bool:
    """Whether a tqdm bar is open (the new one is then nested inside it)."""
    from tqdm import tqdm

    return bool(getattr(tqdm, "_instances", None))


@contextlib.contextmanager
def log_redirect() -> Iterator[None]:
    """While bars are drawn, print the console's log records with ``tqdm.write`` (above the
    bars) instead of through the stream that would cut a bar in two; otherwise do nothing."""
    if mode() != "bars":
        yield
        return
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm():
        yield


@contextlib.contextmanager
def dask_progress(desc: str, enabled: bool | None = None) -> Iterator[None]:
    """Progress of the tasks computed with the local dask schedulers inside the block: dask's
    own bar on a terminal, a periodic log line otherwise (a dask callback)."""
    how = "off" if enabled is False or silenced() else mode()
    if how == "off":
        yield
        return
    from dask.callbacks import Callback

    class _Tasks(Callback):
        def _start_state(self, dsk: Any, state: dict) -> None:
            total = sum(len(state[k]) for k in ("ready", "waiting", "running", "finished"))
            self._bar = bar(total=total, desc=desc, unit="task", enabled=enabled)

        def _posttask(self, key: Any, result: Any, dsk: Any, state: dict, worker_id: Any) -> None:
            self._bar.update(1)

        def _finish(self, dsk: Any, state: dict, errored: bool) -> None:
            self._bar.close()

    with _Tasks():
        yield
