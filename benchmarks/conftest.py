"""Performance benchmarks (pytest-benchmark), not part of the default test run.

Run: ``python -m pytest benchmarks --benchmark-only`` (add ``--benchmark-autosave`` to keep the
JSON under ``.benchmarks/``, ``--bench-full`` for Wafer4-sized inputs). Each benchmark times our
code with the ``benchmark`` fixture and the reference it is compared with (scikit-image, waterz,
the 3D teacher, single runs, one worker) in the same session, and stores the reference's
seconds and the ratio in ``extra_info``. The measuring code lives in the ``perf`` modules that
``python -m bench perf`` also uses; this suite only drives it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--bench-full", action="store_true",
                     help="full-size inputs (Wafer4-sized metrics volume; slow on a CPU)")


@pytest.fixture(scope="session")
def full(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--bench-full"))


def best_seconds(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """The fastest of ``repeat`` wall times of ``fn()`` and its last value."""
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return min(times), value


def record_ratio(benchmark: Any, reference: str, reference_seconds: float, **extra: Any) -> None:
    """Store ``reference`` seconds and ``reference / ours`` (above 1: ours is faster)."""
    benchmark.extra_info.update(extra)
    benchmark.extra_info[f"{reference}_seconds"] = reference_seconds
    stats = getattr(benchmark, "stats", None)  # None when benchmarks are disabled
    if stats is not None:
        ours = stats.stats.min
        benchmark.extra_info["ours_seconds"] = ours
        benchmark.extra_info[f"speedup_vs_{reference}"] = reference_seconds / ours
