"""Conversions into the affinity convention of :mod:`bench.affinity`, for post-processing.

Offsets follow the project convention: channel ``c`` at voxel ``v`` is the affinity of ``v`` to
``v + offset[c]``, with offsets negative (``v - e_axis`` for the nearest neighbours), which is
both the waterz convention and what elf / bioimage-cpp expect. The offsets and labels ->
affinities live in :mod:`bench.affinity`; the latter is re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bench import affinity
from bench.affinity import affinities_from_labels, as_offsets, shifted_slices

__all__ = [
    "NEAREST_OFFSETS",
    "affinities_from_boundary",
    "affinities_from_labels",
    "cad_teacher_offsets",
]


#: :data:`bench.affinity.NEAREST_OFFSETS` as lists, the form elf and bioimage-cpp take
NEAREST_OFFSETS: list[list[int]] = [list(off) for off in affinity.NEAREST_OFFSETS]


def cad_teacher_offsets() -> list[list[int]]:
    """The 12 offsets of the CAD 3D teacher, :data:`bench.affinity.LONG_RANGE_OFFSETS`, as lists
    (mutex watershed's default long-range neighbourhood)."""
    return [list(off) for off in affinity.LONG_RANGE_OFFSETS]


def affinities_from_boundary(
    boundary: np.ndarray, offsets: Sequence[Sequence[int]] | None = affinity.NEAREST_OFFSETS
) -> np.ndarray:
    """Affinities of a boundary probability map: ``aff(v) = 1 - max(p(v), p(v + offset))``.

    ``boundary`` is ``(Z, Y, X)`` in [0, 1] (divide uint8 maps by 255 first). Where the partner
    voxel is outside the volume, ``aff(v) = 1 - p(v)``. ``offsets=None``: the nearest three.
    """
    if boundary.ndim != 3:
        raise ValueError(f"boundary must be (Z, Y, X), got shape {boundary.shape}")
    p = np.asarray(boundary, dtype=np.float32)
    if p.size and (float(p.min()) < 0.0 or float(p.max()) > 1.0):
        raise ValueError(
            f"boundary must be a probability in [0, 1], got range [{p.min()}, {p.max()}]"
        )
    offs = as_offsets(affinity.NEAREST_OFFSETS if offsets is None else offsets)
    affs = np.empty((len(offs), *p.shape), dtype=np.float32)
    for c, offset in enumerate(offs):
        affs[c] = 1.0 - p
        pair = shifted_slices(offset, p.shape)
        if pair is not None:
            here, there = pair
            affs[c][here] = 1.0 - np.maximum(p[here], p[there])
    return affs
