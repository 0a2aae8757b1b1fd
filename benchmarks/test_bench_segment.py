"""Post-processing: one parameter sweep against as many single runs (same affinities)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.perf import segment as segment_perf
from bench.segment import segment, sweep
from benchmarks.conftest import best_seconds, record_ratio

VALUES = [float(v) for v in np.round(np.linspace(0.1, 0.9, 9), 4)]


@pytest.fixture(scope="module")
def affs():
    return segment_perf._synthetic_affinities(0)


@pytest.mark.parametrize("method", ["waterz", "lmc"])
def test_sweep_vs_single_runs(benchmark, affs, method):
    segment(np.ascontiguousarray(affs[:, :2, :32, :32]), method)  # imports and compilation
    ref_seconds, singles = best_seconds(
        lambda: [segment(affs, method, **segment_perf._value(method, v)) for v in VALUES],
        repeat=1)
    benchmark.group = "segment"
    swept = benchmark.pedantic(lambda: sweep(affs, method, VALUES), rounds=2)
    assert len(swept) == len(singles) == len(VALUES)
    record_ratio(benchmark, "single_runs", ref_seconds, n_values=len(VALUES),
                 n_voxels=int(np.prod(affs.shape[1:])))
