"""The card's scale end to end (issue 28, item 6): a CREMI-release-shaped volume and the
authors' CremiA weights through the whole pipeline, timed per stage, with its peak memory.

The input is the phantom rendered at 125 x 1250 x 1250 (the CREMI sample A training volume's
shape) and written as a CREMI file (``cremi/sample_A_20160501.hdf``: ``volumes/raw``,
``volumes/labels/neuron_ids``, ``resolution``), block by block so generating it stays within a
few hundred MB. It is run as a user would::

    python -m bench run --method cad --dataset cremiA --checkpoint official:CremiA

with ``$EMSEG_BENCH_MIRROR`` pointing at ``../shared/data/cad_official`` (the weights, no
network) in a subprocess, whose peak RSS is the ``ru_maxrss`` of the children. The stages are
read from the run's ``run.log`` timestamps: inference of validation and test, the waterz sweep
on validation and test segmentation, ground-truth skeletons, scoring. About 8 min and 7 GB on 2
cores; run it alone::

    python -m pytest benchmarks/test_bench_card_scale.py --benchmark-only -s

docs/integrity.md records the measured numbers.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import h5py
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
OFFICIAL = REPO.parent / "shared" / "data" / "cad_official"
SHAPE = (125, 1250, 1250)
BLOCK_Z = 5

#: run.log messages that open each stage (the first match wins), in pipeline order
STAGES = (
    ("inference (val + test)", r"bench\.pipeline\.runner: run "),
    ("waterz sweep (val) + test segmentation", r"waterz: sweeping on validation"),
    ("skeletons (test)", r"skeletonising"),
    ("scoring + neuron errors", r"skeletonised"),
    ("end", r"results in "),
)


def write_cremi_phantom(path: Path, shape: tuple[int, int, int] = SHAPE, seed: int = 0) -> None:
    """The phantom of ``shape`` as a CREMI file, ``BLOCK_Z`` sections at a time."""
    from bench.data.synthetic import generate_synthetic_block

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        chunks = (1, min(256, shape[1]), min(256, shape[2]))
        raw = f.create_dataset("volumes/raw", shape, np.uint8, chunks=chunks)
        labels = f.create_dataset("volumes/labels/neuron_ids", shape, np.uint64, chunks=chunks,
                                  compression="gzip", compression_opts=1)
        for z0 in range(0, shape[0], BLOCK_Z):
            z1 = min(z0 + BLOCK_Z, shape[0])
            r, lab = generate_synthetic_block(shape, ((z0, z1), (0, shape[1]), (0, shape[2])),
                                              seed=seed)
            raw[z0:z1], labels[z0:z1] = r, lab
        for d in (f["volumes/raw"], f["volumes/labels/neuron_ids"]):
            d.attrs["resolution"] = (40.0, 4.0, 4.0)


def stage_seconds(log_text: str) -> dict[str, float]:
    """Seconds per stage from the timestamps of ``run.log`` (see :data:`STAGES`)."""
    found: dict[str, datetime] = {}
    for line in log_text.splitlines():
        m = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ", line)
        if not m:
            continue
        for name, pattern in STAGES:
            if name not in found and re.search(pattern, line):
                found[name] = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")
    names = [n for n, _ in STAGES if n in found]
    return {a: (found[b] - found[a]).total_seconds()
            for a, b in zip(names[:-1], names[1:], strict=True)}


@pytest.mark.skipif(not (OFFICIAL / "CremiA.ckpt").is_file(),
                    reason="needs ../shared/data/cad_official/CremiA.ckpt")
def test_card_scale_official_cremiA(benchmark, tmp_path_factory):
    root = tmp_path_factory.mktemp("card-scale")
    data = root / "data"
    t0 = time.perf_counter()
    write_cremi_phantom(data / "cremi" / "sample_A_20160501.hdf")
    generate_seconds = time.perf_counter() - t0
    results = root / "results"
    env = {**os.environ, "EMSEG_BENCH_MIRROR": str(OFFICIAL), "OMP_WAIT_POLICY": "PASSIVE",
           "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "bench", "run", "--method", "cad", "--dataset", "cremiA",
           "--checkpoint", "official:CremiA", "--data-root", str(data), "--device", "cpu",
           "--results", str(results)]

    def once() -> None:
        subprocess.run(cmd, env=env, check=True, cwd=REPO)

    benchmark.pedantic(once, rounds=1, iterations=1)
    (run_dir,) = (results / "runs").iterdir()
    benchmark.extra_info["stages_seconds"] = stage_seconds((run_dir / "run.log").read_text())
    benchmark.extra_info["peak_rss_gb"] = (
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20)  # KiB on Linux
    benchmark.extra_info["generate_input_seconds"] = generate_seconds
    print(benchmark.extra_info)
    assert (run_dir / "metrics.json").is_file()
