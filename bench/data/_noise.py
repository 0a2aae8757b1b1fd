"""Counter-based noise: random values that are a pure function of (seed, tag, z, y, x).

Block-wise generation must give the same values as whole-volume generation, so no stateful
random generator is used for per-voxel noise: each voxel's value comes from a 64-bit hash
(splitmix64 finaliser) of its global coordinates.
"""

from __future__ import annotations

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)


def _mix(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(30))
    h = h * _M1
    h = h ^ (h >> np.uint64(27))
    h = h * _M2
    return h ^ (h >> np.uint64(31))


def _as_u64(v) -> np.ndarray:
    # negative coordinates (halo outside the volume) wrap to distinct uint64 values
    return np.asarray(v, dtype=np.int64).view(np.uint64)


def hash_uniform(seed: int, tag: int, z: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Uniform values in (0, 1) on the grid ``ys[:, None] x xs[None, :]`` of section ``z``.

    ``ys`` and ``xs`` are 1-D integer arrays of global coordinates; the result (float64,
    shape ``(len(ys), len(xs))``) depends only on the arguments, never on the region asked for.
    """
    with np.errstate(over="ignore"):
        key = _mix(_as_u64(seed) * _GOLD + _as_u64(tag))
        key = _mix(key + _as_u64(z) * _GOLD)
        hy = _mix(key ^ (_as_u64(ys) * _GOLD))[:, None]
        h = _mix(hy + _as_u64(xs)[None, :] * _M1)
    # 53 random bits -> (0, 1), never exactly 0 (log is taken of it)
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)


def hash_normal(seed: int, tag: int, z: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Standard normal values (Box-Muller of two :func:`hash_uniform` fields), float32."""
    u1 = hash_uniform(seed, 2 * tag, z, ys, xs)
    u2 = hash_uniform(seed, 2 * tag + 1, z, ys, xs)
    return (np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)).astype(np.float32)
