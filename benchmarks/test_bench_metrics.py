"""Our one-pass metrics against scikit-image and waterz on the same (gt, seg) pair."""

from __future__ import annotations

import numpy as np
import pytest

from bench.perf import metrics as perf
from benchmarks.conftest import best_seconds, record_ratio
from metrics.evaluate import evaluate


@pytest.fixture(scope="module")
def pair(full):
    shape = (25, 1250, 1250) if full else (25, 400, 400)
    return perf.synthetic_pair(shape, seed=0)


@pytest.mark.parametrize("reference", ["skimage", "waterz"])
def test_evaluate_vs_reference(benchmark, pair, reference):
    gt, seg = pair
    if reference == "waterz":
        pytest.importorskip("waterz")
        ref_fn, ours_fn = perf._waterz, (lambda: evaluate(gt, seg, convention="waterz"))
    else:
        ref_fn, ours_fn = perf._skimage, (lambda: evaluate(gt, seg))
    ref_seconds, ref_value = best_seconds(lambda: ref_fn(gt, seg), repeat=1)
    benchmark.group = "metrics"
    ours = benchmark.pedantic(ours_fn, rounds=3, warmup_rounds=1)
    # a fast wrong answer must not pass
    for key, value in ref_value.items():
        assert np.isclose(ours[key], value, atol=1e-9), key
    record_ratio(benchmark, reference, ref_seconds, n_voxels=int(gt.size))
