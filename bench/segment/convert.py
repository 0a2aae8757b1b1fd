"""Affinity offsets and conversions between labels, boundary maps and affinities.

Offsets follow the project convention: channel ``c`` at voxel ``v`` is the affinity of ``v`` to
``v + offset[c]``, with offsets negative (``v - e_axis`` for the nearest neighbours), which is
both the waterz convention and what elf / bioimage-cpp expect.
"""

from __future__ import annotations

import numpy as np

#: nearest-neighbour offsets, channel order (z, y, x)
NEAREST_OFFSETS: list[list[int]] = [[-1, 0, 0], [0, -1, 0], [0, 0, -1]]


def cad_teacher_offsets() -> list[list[int]]:
    """The 12 offsets of the CAD 3D teacher (CAD_SPEC section 5).

    Magnitudes (z, y, x) = (1,1,1), (2,3,3), (3,9,9), (4,27,27), negative, one channel per axis
    per magnitude, in the order z, y, x within each magnitude.
    """
    offsets = []
    for mz, my, mx in ((1, 1, 1), (2, 3, 3), (3, 9, 9), (4, 27, 27)):
        offsets += [[-mz, 0, 0], [0, -my, 0], [0, 0, -mx]]
    return offsets


def _shifted_pair(a: np.ndarray, offset: list[int]) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Slices ``(at_v, at_v_plus_offset)`` covering the voxels where ``v + offset`` exists."""
    here, there = [], []
    for d, n in zip(offset, a.shape, strict=True):
        if d >= 0:
            here.append(slice(0, n - d))
            there.append(slice(d, n))
        else:
            here.append(slice(-d, n))
            there.append(slice(0, n + d))
    return tuple(here), tuple(there)


def affinities_from_labels(
    labels: np.ndarray, offsets: list[list[int]] | None = None
) -> np.ndarray:
    """Affinities ``(C, Z, Y, X)`` float32 of a label volume: 1 iff both voxels share a nonzero id.

    Voxels whose partner ``v + offset`` falls outside the volume get 0 (no padding).
    """
    if labels.ndim != 3:
        raise ValueError(f"labels must be (Z, Y, X), got shape {labels.shape}")
    offsets = NEAREST_OFFSETS if offsets is None else offsets
    affs = np.zeros((len(offsets), *labels.shape), dtype=np.float32)
    for c, offset in enumerate(offsets):
        here, there = _shifted_pair(labels, offset)
        a, b = labels[here], labels[there]
        affs[c][here] = (a == b) & (a != 0)
    return affs


def affinities_from_boundary(
    boundary: np.ndarray, offsets: list[list[int]] | None = None
) -> np.ndarray:
    """Affinities of a boundary probability map: ``aff(v) = 1 - max(p(v), p(v + offset))``.

    ``boundary`` is ``(Z, Y, X)`` in [0, 1] (divide uint8 maps by 255 first). Where the partner
    voxel is outside the volume, ``aff(v) = 1 - p(v)``.
    """
    if boundary.ndim != 3:
        raise ValueError(f"boundary must be (Z, Y, X), got shape {boundary.shape}")
    p = np.asarray(boundary, dtype=np.float32)
    if p.size and (float(p.min()) < 0.0 or float(p.max()) > 1.0):
        raise ValueError(
            f"boundary must be a probability in [0, 1], got range [{p.min()}, {p.max()}]"
        )
    offsets = NEAREST_OFFSETS if offsets is None else offsets
    affs = np.empty((len(offsets), *p.shape), dtype=np.float32)
    for c, offset in enumerate(offsets):
        affs[c] = 1.0 - p
        here, there = _shifted_pair(p, offset)
        affs[c][here] = 1.0 - np.maximum(p[here], p[there])
    return affs
