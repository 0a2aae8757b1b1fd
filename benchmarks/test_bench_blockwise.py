"""Blockwise prediction + segmentation: two local workers against one (same volume, blocks)."""

from __future__ import annotations

import pytest

from bench.blockwise import INTENSITY_PREDICTOR, run_blockwise
from bench.data import SyntheticArray
from benchmarks.conftest import best_seconds, record_ratio


@pytest.fixture(scope="module")
def raw(full):
    shape = (64, 256, 256) if full else (16, 256, 256)
    return SyntheticArray(shape, "raw", seed=0)


def test_two_workers_vs_one(benchmark, raw, tmp_path):
    def job(workers: int, name: str):
        return run_blockwise(INTENSITY_PREDICTOR, raw, tmp_path / name, block_shape=(8, 128, 128),
                             workers=workers, overwrite=True)

    ref_seconds, one = best_seconds(lambda: job(1, "one.zarr"), repeat=1)
    benchmark.group = "blockwise"
    two = benchmark.pedantic(lambda: job(2, "two.zarr"), rounds=2)
    assert two["n_blocks"] == one["n_blocks"]
    record_ratio(benchmark, "one_worker", ref_seconds, n_blocks=one["n_blocks"],
                 n_voxels=int(raw.shape[0] * raw.shape[1] * raw.shape[2]))
