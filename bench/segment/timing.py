"""Throughput and peak memory of one post-processing call.

Peak memory is the process's resident-set high-water mark while the call runs, read with the
project's one memory meter (:class:`metrics.timing.RssPeak`). On Linux the mark is reset before
the call, so the number covers the C++ allocations of waterz and bioimage-cpp too, which
``tracemalloc`` cannot see; elsewhere it is sampled (a lower bound), or, where RSS cannot be
read at all, the process's lifetime peak (an upper bound). The ``memory_method`` key says which.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from metrics.timing import RssPeak, current_rss_bytes, lifetime_peak_rss_bytes


@contextmanager
def measure(n_voxels: int) -> Iterator[dict[str, Any]]:
    """Time a block and record its peak memory into the yielded dict (filled on exit).

    Keys: ``seconds``, ``megavoxels``, ``seconds_per_megavoxel``, ``rss_before_mb``,
    ``peak_rss_mb`` (process high-water mark during the block), ``peak_increase_mb``
    (``peak_rss_mb - rss_before_mb``) and ``memory_method`` (``"vmhwm-reset"``,
    ``"rss-sampled"`` or ``"ru_maxrss-lifetime"``).
    """
    stats: dict[str, Any] = {}
    before = current_rss_bytes()
    meter = RssPeak()
    meter.start()
    start = time.perf_counter()
    try:
        yield stats
    finally:
        seconds = time.perf_counter() - start
        peak = meter.stop()
        if peak is None:
            peak, method = lifetime_peak_rss_bytes(), "ru_maxrss-lifetime"
        else:
            method = "vmhwm-reset" if meter.exact else "rss-sampled"
        megavoxels = n_voxels / 1e6
        before_mb = (before or 0) / 2**20
        stats.update(
            seconds=seconds,
            megavoxels=megavoxels,
            seconds_per_megavoxel=seconds / megavoxels if megavoxels else float("nan"),
            rss_before_mb=before_mb,
            peak_rss_mb=peak / 2**20,
            peak_increase_mb=max(peak / 2**20 - before_mb, 0.0),
            memory_method=method,
        )
