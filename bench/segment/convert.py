"""Conversions into the affinity convention of :mod:`bench.affinity`, for post-processing.

Offsets follow the project convention: channel ``c`` at voxel ``v`` is the affinity of ``v`` to
``v + offset[c]``, with offsets negative (``v - e_axis`` for the nearest neighbours), which is
both the waterz convention and what elf / bioimage-cpp expect. The offsets, labels ->
affinities and boundary probability -> affinities live in :mod:`bench.affinity`; the latter two
are re-exported here.
"""

from __future__ import annotations

from bench import affinity
from bench.affinity import affinities_from_boundary, affinities_from_labels

__all__ = [
    "NEAREST_OFFSETS",
    "affinities_from_boundary",
    "affinities_from_labels",
    "long_range_offsets",
]


#: :data:`bench.affinity.NEAREST_OFFSETS` as lists, the form elf and bioimage-cpp take
NEAREST_OFFSETS: list[list[int]] = [list(off) for off in affinity.NEAREST_OFFSETS]


def long_range_offsets() -> list[list[int]]:
    """The 12 long-range offsets of the 3D networks, :data:`bench.affinity.LONG_RANGE_OFFSETS`,
    as lists (mutex watershed's default long-range neighbourhood)."""
    return [list(off) for off in affinity.LONG_RANGE_OFFSETS]
