"""Block geometry: what one block writes and what it reads (with context), independent of any
scheduler.

A volume ``(Z, Y, X)`` is cut into a grid of blocks of ``block_shape`` (the last block on an
axis may be smaller). Block ``k`` writes ``write_roi`` (the grid cell) and reads ``read_roi``:
the cell grown by ``context`` -- ``(before, after)`` voxels per axis -- and clipped to the volume.
Clipping instead of padding means a block at the volume edge sees exactly the edge the
whole-volume computation sees, so any computation whose reach is within ``context`` gives the
same values blockwise and whole.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Roi = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
Context = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]


@dataclass(frozen=True)
class Block:
    """One block: its id (C-order index in the grid), grid position and regions.

    ``write_roi`` and ``read_roi`` are ``((z0, z1), (y0, y1), (x0, x1))`` in volume voxels.
    """

    id: int
    grid_index: tuple[int, int, int]
    write_roi: Roi
    read_roi: Roi

    @property
    def write_slices(self) -> tuple[slice, slice, slice]:
        return tuple(slice(a, b) for a, b in self.write_roi)  # type: ignore[return-value]

    @property
    def read_slices(self) -> tuple[slice, slice, slice]:
        return tuple(slice(a, b) for a, b in self.read_roi)  # type: ignore[return-value]

    @property
    def crop(self) -> tuple[slice, slice, slice]:
        """Slices that cut ``write_roi`` out of an array covering ``read_roi``."""
        return tuple(
            slice(w0 - r0, w1 - r0)
            for (w0, w1), (r0, _) in zip(self.write_roi, self.read_roi, strict=True)
        )  # type: ignore[return-value]

    @property
    def n_voxels(self) -> int:
        return int(np.prod([b - a for a, b in self.write_roi]))


def as_triple(name: str, value: int | Sequence[int]) -> tuple[int, int, int]:
    """``value`` as three positive ints (z, y, x); an int is used on every axis."""
    vals = (int(value),) * 3 if isinstance(value, (int, np.integer)) else tuple(
        int(v) for v in value)
    if len(vals) != 3 or min(vals) < 1:
        raise ValueError(f"{name}: expected 3 positive ints (z, y, x), got {value!r}")
    return vals  # type: ignore[return-value]


def as_context(value: int | Sequence) -> Context:
    """Normalise a context: an int (every side), 3 ints (symmetric per axis) or 3 pairs."""
    if isinstance(value, (int, np.integer)):
        pairs = [(int(value), int(value))] * 3
    else:
        items = list(value)
        if len(items) != 3:
            raise ValueError(f"context: expected 3 entries (z, y, x), got {value!r}")
        pairs = []
        for item in items:
            if isinstance(item, (int, np.integer)):
                pairs.append((int(item), int(item)))
            else:
                lo, hi = (int(v) for v in item)
                pairs.append((lo, hi))
    if any(v < 0 for p in pairs for v in p):
        raise ValueError(f"context: expected non-negative voxel counts, got {value!r}")
    return tuple(pairs)  # type: ignore[return-value]


def grid_shape(shape: Sequence[int], block_shape: Sequence[int]) -> tuple[int, int, int]:
    """Blocks per axis."""
    return tuple(-(-int(n) // int(b)) for n, b in zip(shape, block_shape, strict=True))  # type: ignore[return-value]


def make_blocks(
    shape: Sequence[int], block_shape: int | Sequence[int], context: int | Sequence = 0
) -> list[Block]:
    """All blocks of a ``(Z, Y, X)`` volume, in C order of the grid (z slowest).

    Parameters
    ----------
    shape
        Volume size ``(Z, Y, X)``.
    block_shape
        Write size of a block; also the chunk size of the zarr outputs, so that no two blocks
        ever write the same chunk.
    context
        Voxels read beyond the write region, ``(before, after)`` per axis (see
        :func:`as_context`), clipped to the volume.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape: expected a non-empty (Z, Y, X) volume, got {shape}")
    bs = as_triple("block_shape", block_shape)
    ctx = as_context(context)
    grid = grid_shape(shape, bs)
    blocks = []
    for k, idx in enumerate(itertools.product(*(range(g) for g in grid))):
        write = tuple((i * b, min(n, (i + 1) * b)) for i, b, n in zip(idx, bs, shape, strict=True))
        read = tuple(
            (max(0, w0 - lo), min(n, w1 + hi))
            for (w0, w1), (lo, hi), n in zip(write, ctx, shape, strict=True)
        )
        blocks.append(Block(k, idx, write, read))  # type: ignore[arg-type]
    return blocks
