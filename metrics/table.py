"""The overlap (contingency) table of a ground truth and a segmentation, built in one pass.

``table.counts[k]`` voxels carry gt label ``table.gt_ids[table.rows[k]]`` and seg label
``table.seg_ids[table.cols[k]]``. Only counted voxels are in the table: voxels whose gt label is in
``ignore_gt`` (default: 0), whose seg label is in ``ignore_seg`` (default: none), that lie within
the CREMI border tolerance, or outside ``mask`` are not. ``n_total`` still counts every voxel
inside ``mask`` (the cremi/gala Rand formula needs it). Every score in :mod:`metrics.scores` is a
cheap function of this table.

Inputs are (Z, Y, X) or any-dimensional integer arrays: numpy arrays are read in one pass, lazy
arrays (h5py datasets, zarr arrays, anything with ``shape``, ``dtype`` and slicing) are read block
by block along the first axis, so the memory used is one block plus the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from metrics import _kernel
from metrics._validate import (
    check_block_values,
    check_label_array,
    check_resolution,
    check_same_shape,
    ignore_array,
)
from metrics.border import border_mask

#: voxels read per block from lazy arrays (16 Mi voxels: 128 MiB per uint64 array)
DEFAULT_BLOCK_VOXELS = 1 << 24


@dataclass(frozen=True)
class OverlapTable:
    """Sparse contingency table; ground truth is the row axis, segmentation the column axis.

    Attributes
    ----------
    gt_ids, seg_ids : ndarray of uint64
        Sorted distinct labels present among counted voxels.
    rows, cols : ndarray of int64
        Per non-zero entry, the index into ``gt_ids`` / ``seg_ids``.
    counts : ndarray of int64
        Per non-zero entry, the number of voxels with that (gt, seg) pair.
    n_total : int
        Voxels inside the evaluated region, ignored ones included.
    ignore_gt, ignore_seg : tuple of int
        The labels that were left out of the table.
    """

    gt_ids: np.ndarray
    seg_ids: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    counts: np.ndarray
    n_total: int
    ignore_gt: tuple[int, ...] = (0,)
    ignore_seg: tuple[int, ...] = ()

    @property
    def n_counted(self) -> int:
        """Voxels in the table (what the scores are computed over)."""
        return int(self.counts.sum())

    @property
    def gt_sizes(self) -> np.ndarray:
        """Counted voxels per gt label (aligned with ``gt_ids``)."""
        return np.bincount(self.rows, weights=self.counts, minlength=len(self.gt_ids))

    @property
    def seg_sizes(self) -> np.ndarray:
        """Counted voxels per seg label (aligned with ``seg_ids``)."""
        return np.bincount(self.cols, weights=self.counts, minlength=len(self.seg_ids))

    def to_sparse(self) -> sparse.csr_array:
        """The table as a scipy CSR array of shape (n_gt_labels, n_seg_labels)."""
        shape = (len(self.gt_ids), len(self.seg_ids))
        return sparse.csr_array((self.counts, (self.rows, self.cols)), shape=shape)

    def without_seg(self, labels: Iterable[int]) -> OverlapTable:
        """The table with the given seg labels dropped (as if they were in ``ignore_seg``)."""
        drop = np.isin(self.seg_ids, ignore_array("labels", labels))
        keep = ~drop[self.cols]
        extra = tuple(int(v) for v in self.seg_ids[drop])
        return from_entries(
            self.gt_ids[self.rows[keep]], self.seg_ids[self.cols[keep]], self.counts[keep],
            self.n_total, self.ignore_gt, tuple(sorted(set(self.ignore_seg) | set(extra))),
        )

    def relabel_seg(self, old_ids: np.ndarray, new_ids: np.ndarray) -> OverlapTable:
        """The table of the segmentation in which seg label ``old_ids[k]`` becomes ``new_ids[k]``.

        Cheap (no voxel is read): the way to score every threshold of an agglomeration sweep from
        one table of (gt, fragments). Seg labels not in ``old_ids`` keep their id.
        """
        old = np.asarray(old_ids, dtype=np.uint64).reshape(-1)
        new = np.asarray(new_ids, dtype=np.uint64).reshape(-1)
        if old.shape != new.shape:
            raise ValueError(f"old_ids and new_ids must have the same length; {old.shape} vs "
                             f"{new.shape}")
        order = np.argsort(old, kind="stable")
        old, new = old[order], new[order]
        mapped = self.seg_ids.copy()
        pos = np.searchsorted(old, self.seg_ids)
        pos_ok = pos < len(old)
        hit = np.zeros(len(mapped), dtype=bool)
        hit[pos_ok] = old[pos[pos_ok]] == self.seg_ids[pos_ok]
        mapped[hit] = new[pos[hit]]
        return from_entries(
            self.gt_ids[self.rows], mapped[self.cols], self.counts, self.n_total,
            self.ignore_gt, self.ignore_seg,
        )

    def __add__(self, other: OverlapTable) -> OverlapTable:
        """Table of the union of two disjoint sets of voxels (e.g. two blocks)."""
        if not isinstance(other, OverlapTable):
            return NotImplemented
        if (self.ignore_gt, self.ignore_seg) != (other.ignore_gt, other.ignore_seg):
            raise ValueError("cannot add overlap tables built with different ignore lists")
        return from_entries(
            np.concatenate([self.gt_ids[self.rows], other.gt_ids[other.rows]]),
            np.concatenate([self.seg_ids[self.cols], other.seg_ids[other.cols]]),
            np.concatenate([self.counts, other.counts]),
            self.n_total + other.n_total, self.ignore_gt, self.ignore_seg,
        )


def from_entries(
    gt_labels: np.ndarray,
    seg_labels: np.ndarray,
    counts: np.ndarray,
    n_total: int,
    ignore_gt: tuple[int, ...] = (0,),
    ignore_seg: tuple[int, ...] = (),
) -> OverlapTable:
    """Table from (gt label, seg label, count) triples; repeated pairs are summed."""
    g = np.asarray(gt_labels, dtype=np.uint64)
    s = np.asarray(seg_labels, dtype=np.uint64)
    c = np.asarray(counts, dtype=np.int64)
    gt_ids, rows = np.unique(g, return_inverse=True)
    seg_ids, cols = np.unique(s, return_inverse=True)
    rows = rows.reshape(-1).astype(np.int64)
    cols = cols.reshape(-1).astype(np.int64)
    # canonical order (by gt, then seg) and repeated pairs summed, so equal tables compare equal
    key = rows * len(seg_ids) + cols
    uniq, inverse = np.unique(key, return_inverse=True)
    # float weights in bincount are exact below 2**53 voxels per pair
    c = np.bincount(inverse.reshape(-1), weights=c, minlength=len(uniq)).astype(np.int64)
    rows, cols = uniq // max(1, len(seg_ids)), uniq % max(1, len(seg_ids))
    return OverlapTable(gt_ids, seg_ids, rows, cols, c, int(n_total), tuple(ignore_gt),
                        tuple(ignore_seg))


def _block_z(shape: tuple[int, ...], chunks: Any, block_voxels: int, z_axis: int) -> int:
    per_section = int(np.prod(shape[1:], dtype=np.int64)) or 1
    bz = max(1, block_voxels // per_section)
    cz = None
    if chunks is not None:
        try:
            cz = int(chunks[z_axis])
        except (TypeError, IndexError, ValueError):
            cz = None
    if cz and cz > 0:  # read whole chunks along z so no chunk is decompressed twice
        bz = max(cz, (bz // cz) * cz)
    return min(bz, max(1, shape[0]))


def iter_blocks(
    shape: tuple[int, ...], arrays: list[Any], block_voxels: int, z_axis: int = 0
) -> Iterator[slice]:
    """Slices along z covering ``shape`` (z first); one slice when all arrays are numpy arrays.

    ``z_axis`` is where z sits in the arrays' own ``chunks`` (1 for (C, Z, Y, X) arrays).
    """
    if not shape or shape[0] == 0:
        yield slice(0, 0)
        return
    if all(a is None or isinstance(a, np.ndarray) for a in arrays):
        yield slice(0, shape[0])
        return
    chunks = next((getattr(a, "chunks", None) for a in arrays
                   if getattr(a, "chunks", None) is not None), None)
    bz = _block_z(shape, chunks, block_voxels, z_axis)
    for z0 in range(0, shape[0], bz):
        yield slice(z0, min(shape[0], z0 + bz))


def overlap_table(
    gt: Any,
    seg: Any,
    *,
    ignore_gt: Iterable[int] | None = (0,),
    ignore_seg: Iterable[int] | None = (),
    mask: Any = None,
    border_nm: float | None = None,
    resolution: Iterable[float] | None = None,
    block_voxels: int = DEFAULT_BLOCK_VOXELS,
    use_numba: bool = True,
    n_threads: int | None = None,
) -> OverlapTable:
    """Build the overlap table of ``gt`` (rows) and ``seg`` (columns) in one pass.

    Parameters
    ----------
    gt, seg : integer array-like, same shape
        Ground truth and segmentation, any integer dtype (uint64 by convention); ids above 2**53
        are handled exactly. numpy arrays are read at once; h5py/zarr arrays block by block
        along axis 0 (z).
    ignore_gt : sequence of int, optional
        Gt labels whose voxels are left out (default ``(0,)``: background/boundary).
    ignore_seg : sequence of int, optional
        Seg labels whose voxels are left out (default none: seg 0 is an ordinary label).
    mask : bool array-like, optional
        Voxels where ``mask`` is False are outside the evaluated region (not even in ``n_total``).
    border_nm, resolution : float, (z, y, x) nm, optional
        CREMI boundary tolerance (see :mod:`metrics.border`): gt voxels within ``border_nm`` of a
        label boundary in their section are ignored. Needs ``resolution`` and a 3-D volume.
    block_voxels : int
        Voxels per block for lazy inputs (memory bound: about 17 bytes per voxel of a block).
    use_numba : bool
        Use the compiled kernel (default); False uses the slower pure-NumPy path.
    n_threads : int, optional
        Threads for the compiled kernel (default: up to 8, as many as this process may use).
        Each thread counts a contiguous part of every block into its own table.

    Returns
    -------
    OverlapTable
    """
    check_label_array("gt", gt)
    check_label_array("seg", seg)
    shape = check_same_shape(gt, seg, mask)
    ig = ignore_array("ignore_gt", ignore_gt)
    iseg = ignore_array("ignore_seg", ignore_seg)
    res = None
    if border_nm is not None:
        if resolution is None:
            raise ValueError("border_nm needs resolution=(z, y, x) in nm")
        res = check_resolution(resolution)
        if len(shape) != 3:
            raise ValueError(f"border_nm needs a (Z, Y, X) volume; got shape {shape}")
    if n_threads is None:
        n_threads = min(8, _kernel.available_cpus())
    if n_threads < 1:
        raise ValueError(f"n_threads must be >= 1; got {n_threads}")
    counter = _kernel.ParallelCounter(n_threads, use_numba=use_numba)
    for sl in iter_blocks(shape, [gt, seg, mask], block_voxels):
        # basic slicing of a numpy array is a view; of h5py/zarr it reads just this block
        g, s = np.asarray(gt[sl]), np.asarray(seg[sl])
        check_block_values("gt", g)
        check_block_values("seg", s)
        m = None if mask is None else np.asarray(mask[sl])
        gi = None if border_nm is None else border_mask(g, float(border_nm), res)
        counter.add(g, s, ig, iseg, m, gi)
    g_lab, s_lab, counts, n_total = counter.entries()
    return from_entries(g_lab, s_lab, counts, n_total,
                        tuple(int(v) for v in ig), tuple(int(v) for v in iseg))
