"""``python -m bench perf segment``: a parameter sweep against the same number of single runs.

For waterz (one agglomeration pass for all thresholds) and lmc (fragments, graph and features
built once, one multicut per beta), time ``sweep(affs, values)`` and ``len(values)`` calls of
``segment(affs, value)`` on the same affinities, and print the seconds and their ratio; then the
cost of the per-section watershed fragments and of their refinement
(:func:`bench.segment.refine.split_fragments`) on the same affinities.
Affinities come from the gala FIB-SEM boundary map in ``../shared/data`` when present
(``aff = 1 - max(p(v), p(v - e))``), else from noisy synthetic labels.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.segment import (
    affinities_from_boundary,
    affinities_from_labels,
    segment,
    sweep,
    watershed_fragments,
)
from bench.segment.refine import split_fragments

DEFAULT_GALA = Path(__file__).resolve().parents[2].parent / "shared/data/gala_fib/test.cremi.h5"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        default="auto",
        help="'auto' (gala_fib test crop if found, else synthetic), 'synthetic', or a CREMI-style "
        ".h5 file with volumes/predictions/boundary_p1",
    )
    parser.add_argument("--methods", default="waterz,lmc", help="comma-separated post-processors")
    parser.add_argument("--n-values", type=int, default=9, help="sweep length (values 0.1..0.9)")
    parser.add_argument("--repeats", type=int, default=1, help="repeat and keep the fastest")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")


def _synthetic_affinities(seed: int, shape=(16, 128, 128), n_cells: int = 30) -> np.ndarray:
    """Noisy affinities of drifting Voronoi columns (neuron-like tubes cut by sections)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 1, (n_cells, 2)) * np.array(shape[1:])
    drift = rng.normal(0, 0.5, (n_cells, 2))
    yy, xx = np.meshgrid(np.arange(shape[1]), np.arange(shape[2]), indexing="ij")
    labels = np.zeros(shape, dtype=np.uint64)
    for z in range(shape[0]):
        c = centres + z * drift
        labels[z] = ((yy[..., None] - c[:, 0]) ** 2 + (xx[..., None] - c[:, 1]) ** 2).argmin(-1) + 1
    affs = affinities_from_labels(labels)
    return np.clip(affs + rng.normal(0, 0.2, affs.shape), 0, 1).astype(np.float32)


def _load(data: str, seed: int) -> tuple[np.ndarray, str]:
    path = DEFAULT_GALA if data == "auto" else (None if data == "synthetic" else Path(data))
    if path is not None and path.is_file():
        import h5py

        with h5py.File(path, "r") as f:
            boundary = f["volumes/predictions/boundary_p1"][...]
        return affinities_from_boundary(boundary), str(path)
    if data not in ("auto", "synthetic"):
        raise FileNotFoundError(f"--data {data!r}: no such file")
    return _synthetic_affinities(seed), f"synthetic (seed {seed})"


def _best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run(args: argparse.Namespace) -> int:
    affs, source = _load(args.data, args.seed)
    values = [float(v) for v in np.round(np.linspace(0.1, 0.9, args.n_values), 4)]
    megavoxels = np.prod(affs.shape[1:]) / 1e6
    print(f"affinities {affs.shape} from {source} ({megavoxels:.2f} Mvoxel); values {values}")
    print(f"{'method':8s} {'sweep s':>9s} {'singles s':>10s} {'ratio':>7s} {'s/Mvox/value':>13s}")
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        # warm up on a small crop: the first call pays for imports (elf takes seconds)
        segment(np.ascontiguousarray(affs[:, :2, :32, :32]), method)
        t_sweep = _best_of(args.repeats, lambda m=method: sweep(affs, m, values))
        t_single = _best_of(
            args.repeats, lambda m=method: [segment(affs, m, **_value(m, v)) for v in values]
        )
        print(
            f"{method:8s} {t_sweep:9.2f} {t_single:10.2f} {t_sweep / t_single:7.3f} "
            f"{t_sweep / megavoxels / len(values):13.3f}"
        )
    print("ratio = sweep / singles (below 1: the sweep shares work); timings are wall-clock")
    frags = watershed_fragments(affs, refine=False)
    split_fragments(frags[:2, :32, :32], affs[:, :2, :32, :32])  # compile outside the timing
    t_ws = _best_of(args.repeats, lambda: watershed_fragments(affs, refine=False))
    t_refine = _best_of(args.repeats, lambda: split_fragments(frags, affs))
    print(f"fragments: watershed {t_ws / megavoxels:.3f} s/Mvox, refinement "
          f"{t_refine / megavoxels:.3f} s/Mvox ({t_refine / t_ws:.2f}x the watershed)")
    return 0


def _value(method: str, value: float) -> dict[str, float]:
    from bench.segment import parameter_name

    return {parameter_name(method): value}
