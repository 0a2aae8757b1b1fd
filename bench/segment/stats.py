"""Throughput and peak memory of one post-processing call.

Peak memory is the process's resident-set high-water mark (``VmHWM``) while the call runs. On
Linux the mark is reset before the call (``/proc/self/clear_refs``), so the number covers the
C++ allocations of waterz and bioimage-cpp too, which ``tracemalloc`` cannot see. Where the reset
is not possible the mark is the process's lifetime peak (``ru_maxrss``), an upper bound; the
``memory_method`` key says which one was used.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kb(key: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    # writing "5" resets the high-water mark of the resident set (Linux >= 4.0)
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def _lifetime_peak_kb() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is in kilobytes on Linux and in bytes on macOS
    return peak // 1024 if sys.platform == "darwin" else peak


@contextmanager
def measure(n_voxels: int) -> Iterator[dict[str, Any]]:
    """Time a block and record its peak memory into the yielded dict (filled on exit).

    Keys: ``seconds``, ``megavoxels``, ``seconds_per_megavoxel``, ``rss_before_mb``,
    ``peak_rss_mb`` (process high-water mark during the block), ``peak_increase_mb``
    (``peak_rss_mb - rss_before_mb``) and ``memory_method`` (``"vmhwm-reset"`` or
    ``"ru_maxrss-lifetime"``).
    """
    stats: dict[str, Any] = {}
    before_kb = _status_kb("VmRSS")
    reset = _reset_peak() and before_kb is not None
    start = time.perf_counter()
    try:
        yield stats
    finally:
        seconds = time.perf_counter() - start
        peak_kb = _status_kb("VmHWM") if reset else None
        if peak_kb is None:
            peak_kb, method = _lifetime_peak_kb(), "ru_maxrss-lifetime"
        else:
            method = "vmhwm-reset"
        megavoxels = n_voxels / 1e6
        before_mb = (before_kb or 0) / 1024
        stats.update(
            seconds=seconds,
            megavoxels=megavoxels,
            seconds_per_megavoxel=seconds / megavoxels if megavoxels else float("nan"),
            rss_before_mb=before_mb,
            peak_rss_mb=peak_kb / 1024,
            peak_increase_mb=max(peak_kb / 1024 - before_mb, 0.0),
            memory_method=method,
        )
