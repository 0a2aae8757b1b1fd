"""The affinity convention of the benchmark, written once.

Affinities are ``(C, Z, Y, X)`` arrays (``(B, C, Z, Y, X)`` for batches) with one channel per
offset ``(dz, dy, dx)``. The value of channel ``c`` at voxel ``v`` is the affinity of ``v`` to
``v + offsets[c]``. Offsets are negative (predecessors), so the three nearest channels are, in
order, the affinity of ``v`` to ``v - e_z``, ``v - e_y`` and ``v - e_x``: the waterz convention,
and what elf / bioimage-cpp expect.

- :data:`NEAREST_OFFSETS`: the three nearest-neighbour offsets, the channel order of every
  method's :meth:`~bench.method.Method.predict` output.
- :data:`LONG_RANGE_OFFSETS`: the 12 offsets of CAD's 3D teacher (also the 3D baselines' long
  range output and mutex watershed's default), nearest three first.
- :func:`affinities_from_labels`: labels -> affinities (1 where both voxels carry one nonzero id).
- :func:`fill_nearest_borders`: the border rule for the nearest channels, whose first plane along
  their own axis has no partner voxel: it is copied from the adjacent plane.
- :mod:`bench.affinity.embedding` (torch): embeddings -> affinities, the same convention.

This module needs only NumPy, so post-processing and data code can use it without torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "LONG_RANGE_OFFSETS",
    "NEAREST_OFFSETS",
    "Offset",
    "affinities_from_boundary",
    "affinities_from_labels",
    "as_offsets",
    "fill_nearest_borders",
    "shifted_slices",
]

Offset = tuple[int, int, int]

#: The three nearest-neighbour offsets (z, y, x): the channel order of every affinity output.
NEAREST_OFFSETS: tuple[Offset, ...] = ((-1, 0, 0), (0, -1, 0), (0, 0, -1))

#: The 12 offsets of CAD's 3D teacher (``embedding_mode`` 5): magnitudes (1,1,1), (2,3,3),
#: (3,9,9), (4,27,27) along (z, y, x), negative, one channel per axis per magnitude.
LONG_RANGE_OFFSETS: tuple[Offset, ...] = tuple(
    tuple(-s if axis == c % 3 else 0 for axis in range(3))  # type: ignore[misc]
    for c, s in enumerate([1, 1, 1, 2, 3, 3, 3, 9, 9, 4, 27, 27])
)


def as_offsets(offsets: Sequence[Sequence[int]], name: str = "offsets") -> list[Offset]:
    """``offsets`` as a list of int triples; a clear error for anything else."""
    try:
        out = [tuple(int(o) for o in off) for off in offsets]
    except TypeError:
        raise ValueError(f"{name}: expected a list of (dz, dy, dx), got {offsets!r}") from None
    if not out or any(len(off) != 3 for off in out):
        raise ValueError(f"{name}: expected a non-empty list of (dz, dy, dx), got {offsets!r}")
    return out  # type: ignore[return-value]


def shifted_slices(
    offset: Sequence[int], shape: Sequence[int]
) -> tuple[tuple[slice, ...], tuple[slice, ...]] | None:
    """Slices ``(at_v, at_v_plus_offset)`` over the voxels whose partner lies inside ``shape``.

    ``None`` when no voxel has a partner (an offset as long as the volume).
    """
    if any(abs(int(d)) >= n for d, n in zip(offset, shape, strict=True)):
        return None
    here, there = [], []
    for d, n in zip(offset, shape, strict=True):
        d = int(d)
        if d >= 0:
            here.append(slice(0, n - d))
            there.append(slice(d, n))
        else:
            here.append(slice(-d, n))
            there.append(slice(0, n + d))
    return tuple(here), tuple(there)


def affinities_from_labels(
    labels: np.ndarray,
    offsets: Sequence[Sequence[int]] | None = NEAREST_OFFSETS,
    pad: str = "",
) -> np.ndarray:
    """Affinities of a label volume: 1 where ``v`` and ``v + offset`` share a nonzero id.

    Parameters
    ----------
    labels
        ``(Z, Y, X)`` integer labels, 0 = background/boundary.
    offsets
        ``(dz, dy, dx)`` per output channel (default, or ``None``: :data:`NEAREST_OFFSETS`).
    pad
        What voxels without a partner inside the volume get: ``""`` 0; ``"replicate"`` (only
        for :data:`NEAREST_OFFSETS`) ``labels(v) > 0``, as if the volume's edge plane were
        repeated outside it (the official 2D training targets).

    Returns
    -------
    numpy.ndarray
        float32 ``(len(offsets), Z, Y, X)`` in {0, 1}.
    """
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"labels: expected a (Z, Y, X) label array, got shape {labels.shape}")
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool):
        raise ValueError(f"labels: expected integer labels, got dtype {labels.dtype}")
    offs = as_offsets(NEAREST_OFFSETS if offsets is None else offsets)
    if pad not in ("replicate", ""):
        raise ValueError(f"pad: expected 'replicate' or '', got {pad!r}")
    if pad == "replicate" and tuple(offs) != NEAREST_OFFSETS:
        raise ValueError(f"pad='replicate' is defined only for offsets={NEAREST_OFFSETS}")
    fg = labels > 0
    out = np.zeros((len(offs), *labels.shape), np.float32)
    for c, off in enumerate(offs):
        pair = shifted_slices(off, labels.shape)
        if pair is None:
            continue
        here, there = pair
        out[(c, *here)] = (labels[here] == labels[there]) & fg[here] & fg[there]
    if pad == "replicate":
        out[0, 0] = fg[0]
        out[1, :, 0] = fg[:, 0]
        out[2, :, :, 0] = fg[:, :, 0]
    return out


def affinities_from_boundary(
    boundary: np.ndarray, offsets: Sequence[Sequence[int]] | None = NEAREST_OFFSETS
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
    offs = as_offsets(NEAREST_OFFSETS if offsets is None else offsets)
    affs = np.empty((len(offs), *p.shape), dtype=np.float32)
    for c, offset in enumerate(offs):
        affs[c] = 1.0 - p
        pair = shifted_slices(offset, p.shape)
        if pair is not None:
            here, there = pair
            affs[c][here] = 1.0 - np.maximum(p[here], p[there])
    return affs


def fill_nearest_borders(affs: Any, offsets: Sequence[Sequence[int]]) -> Any:
    """In place: each nearest-neighbour channel's partner-less plane copied from the next one.

    A channel whose offset has one nonzero component of magnitude 1 has, along that axis, one
    plane without a partner voxel (index 0 for a negative offset). Its value would otherwise be
    an artificial 0 (a boundary); the rule gives it the adjacent plane's value instead. Works
    on NumPy arrays and torch tensors of shape ``(..., C, Z, Y, X)``; returns ``affs``.
    """
    offs = as_offsets(offsets)
    if affs.shape[-4] != len(offs):
        raise ValueError(f"affs: expected {len(offs)} channels, got shape {tuple(affs.shape)}")
    for c, off in enumerate(offs):
        axes = [a for a, v in enumerate(off) if v]
        if len(axes) != 1 or abs(off[axes[0]]) != 1:
            continue
        axis = axes[0]
        n = affs.shape[affs.ndim - 3 + axis]
        if n < 2:
            continue
        border, inner = (0, 1) if off[axis] < 0 else (n - 1, n - 2)
        dst: list[Any] = [slice(None)] * 3
        src: list[Any] = [slice(None)] * 3
        dst[axis], src[axis] = border, inner
        affs[(..., c, *dst)] = affs[(..., c, *src)]
    return affs
