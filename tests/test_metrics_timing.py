"""Throughput timer: call counts, voxels/s, peak memory of the timed region."""

from __future__ import annotations

import numpy as np
import pytest

from metrics.timing import current_rss_bytes, measure, track


def test_measure_warms_up_and_repeats():
    calls = []
    r = measure(lambda: calls.append(1) or len(calls), n_voxels=1000, warmup=2, repeat=3)
    assert len(calls) == 5 and r.value == 5
    assert len(r.seconds_all) == 3 and r.seconds == min(r.seconds_all)
    assert r.voxels_per_s == pytest.approx(1000 / r.seconds)
    assert r.device == "cpu" and r.gpu_peak_bytes is None
    assert set(r.as_dict()) >= {"seconds", "voxels_per_s", "peak_rss_bytes"}


@pytest.mark.skipif(current_rss_bytes() is None, reason="RSS is read from /proc (Linux)")
def test_peak_rss_sees_a_temporary_allocation():
    size = 200 * 2**20

    def work():
        a = np.ones(size, np.uint8)  # touched, so resident; freed before returning
        return int(a[::4096].sum())

    r = measure(work, n_voxels=size, warmup=0)
    assert r.peak_extra_rss_bytes >= 0.9 * size
    small = measure(lambda: 1, n_voxels=1, warmup=0)
    assert small.peak_extra_rss_bytes < 0.5 * size


def test_track_context_manager():
    with track(n_voxels=10) as t:
        sum(range(1000))
    assert t["seconds"] > 0 and t["n_voxels"] == 10 and t["voxels_per_s"] > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="repeat"):
        measure(lambda: None, n_voxels=1, repeat=0)
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            measure(lambda: None, n_voxels=1, device="cuda")


def test_cuda_peak_memory():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")

    def work():
        return torch.ones(64 * 2**20, dtype=torch.uint8, device="cuda").sum().item()

    r = measure(work, n_voxels=64 * 2**20, device="cuda")
    assert r.gpu_peak_bytes >= 64 * 2**20
