"""Inference: the CAD 2D student against its 3D teacher (superhuman3d) on the same volume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.perf import infer as perf_infer
from benchmarks.conftest import best_seconds, record_ratio


@pytest.fixture(scope="module")
def raw(full):
    shape = (16, 256, 256) if full else (8, 128, 128)
    return np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)


def test_student_vs_teacher_inference(benchmark, raw):
    torch.manual_seed(0)
    device = torch.device("cpu")
    student = perf_infer.method_runner("cad", device, False, raw.shape).fn
    teacher = perf_infer.method_runner("superhuman3d", device, False, raw.shape).fn
    with torch.inference_mode():
        teacher(raw)  # warm-up: first calls pay for allocations
        ref_seconds, affs = best_seconds(lambda: teacher(raw), repeat=1)
        benchmark.group = "inference"
        out = benchmark.pedantic(lambda: student(raw), rounds=2, warmup_rounds=1)
    assert out.shape == affs.shape == (3, *raw.shape)
    record_ratio(benchmark, "teacher", ref_seconds, n_voxels=int(raw.size))
