"""One pass over (gt, seg) voxels into a hash table of label pairs.

The table is an open-addressing hash map (linear probing, power-of-two capacity) held in three
flat arrays: gt id, seg id (both uint64, compared exactly: no float round trip, so ids above
2**53 are safe) and a voxel count. A count of 0 marks an empty slot. Because neighbouring voxels
along x usually carry the same pair, the slot of the previous voxel is remembered and reused,
which makes the common case one comparison and one increment per voxel.

The same arrays are passed back in for the next block of a chunked volume, so a volume is
accumulated block by block with memory proportional to the number of distinct pairs.

A pure-NumPy path (:func:`count_pairs_numpy`) gives the same result without numba; it is slower
and kept as a fallback and as an independent cross-check in the tests.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

try:  # numba is optional: the NumPy path gives identical tables, only slower
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is absent
    numba = None
    HAVE_NUMBA = False

_EMPTY_U8 = np.zeros(0, dtype=np.uint8)
_INITIAL_CAPACITY = 1 << 12


class PairTable:
    """Growable hash table of (gt id, seg id) -> voxel count, plus voxel totals."""

    def __init__(self, *, use_numba: bool = True, capacity: int = _INITIAL_CAPACITY):
        # the numba path stores pairs by hash slot, the NumPy path densely: one table never mixes
        self.use_numba = bool(use_numba and HAVE_NUMBA)
        self.keys_gt = np.zeros(capacity, dtype=np.uint64)
        self.keys_seg = np.zeros(capacity, dtype=np.uint64)
        self.counts = np.zeros(capacity, dtype=np.int64)
        self.n_entries = 0
        self.n_total = 0  # voxels inside the evaluated region, ignored ones included

    def entries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        used = self.counts > 0
        return self.keys_gt[used], self.keys_seg[used], self.counts[used]


if HAVE_NUMBA:

    @numba.njit(cache=True, nogil=True, inline="always")
    def _hash(g, s):
        h = g * np.uint64(0x9E3779B97F4A7C15) ^ (s * np.uint64(0xC2B2AE3D27D4EB4F))
        h ^= h >> np.uint64(31)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(29)
        return h

    @numba.njit(cache=True, nogil=True)
    def _grow(keys_g, keys_s, counts):
        cap = keys_g.shape[0] * 2
        ng = np.zeros(cap, dtype=np.uint64)
        ns = np.zeros(cap, dtype=np.uint64)
        nc = np.zeros(cap, dtype=np.int64)
        wrap = np.uint64(cap - 1)
        for i in range(keys_g.shape[0]):
            if counts[i] == 0:
                continue
            h = np.int64(_hash(keys_g[i], keys_s[i]) & wrap)
            while nc[h] != 0:
                h = (h + 1) & (cap - 1)
            ng[h] = keys_g[i]
            ns[h] = keys_s[i]
            nc[h] = counts[i]
        return ng, ns, nc

    @numba.njit(cache=True, nogil=True)
    def _accumulate(gt, seg, ignore_gt, ignore_seg, mask, gt_ignored, keys_g, keys_s, counts,
                    n_entries):
        # gt, seg: 1-D, any integer dtype, values already checked non-negative.
        # mask: uint8, 0 = voxel outside the evaluated region (len 0: no mask).
        # gt_ignored: uint8, 1 = treat the gt voxel as ignored (border tolerance; len 0: none).
        has_mask = mask.shape[0] > 0
        has_gi = gt_ignored.shape[0] > 0
        n_ig = ignore_gt.shape[0]
        n_is = ignore_seg.shape[0]
        cap = keys_g.shape[0]
        wrap = np.uint64(cap - 1)
        n_total = 0
        last_slot = -1
        last_g = np.uint64(0)
        last_s = np.uint64(0)
        # voxels of the current run of equal pairs, kept in a register and added to
        # counts[last_slot] when the run ends (a load/store per voxel would serialise the loop)
        run = 0
        for i in range(gt.shape[0]):
            if has_mask and mask[i] == 0:
                continue
            n_total += 1
            if has_gi and gt_ignored[i] != 0:
                continue
            g = np.uint64(gt[i])
            s = np.uint64(seg[i])
            if g == last_g and s == last_s and last_slot >= 0:
                run += 1
                continue
            skip = False
            for k in range(n_ig):
                if g == ignore_gt[k]:
                    skip = True
            for k in range(n_is):
                if s == ignore_seg[k]:
                    skip = True
            if skip:
                continue
            if last_slot >= 0:
                counts[last_slot] += run
            run = 0
            h = np.int64(_hash(g, s) & wrap)
            while True:
                c = counts[h]
                if c == 0:
                    keys_g[h] = g
                    keys_s[h] = s
                    counts[h] = 1
                    n_entries += 1
                    break
                if keys_g[h] == g and keys_s[h] == s:
                    counts[h] = c + 1
                    break
                h = (h + 1) & (cap - 1)
            last_slot = h
            last_g = g
            last_s = s
            if 2 * n_entries > cap:  # keep the load factor below 1/2
                keys_g, keys_s, counts = _grow(keys_g, keys_s, counts)
                cap = keys_g.shape[0]
                wrap = np.uint64(cap - 1)
                last_slot = -1  # run is 0 here: nothing pending for the old slot
        if last_slot >= 0:
            counts[last_slot] += run
        return keys_g, keys_s, counts, n_entries, n_total


def _as_u8(flags: np.ndarray | None) -> np.ndarray:
    if flags is None:
        return _EMPTY_U8
    return np.ascontiguousarray(flags, dtype=bool).reshape(-1).view(np.uint8)


def count_pairs(
    table: PairTable,
    gt: np.ndarray,
    seg: np.ndarray,
    ignore_gt: np.ndarray,
    ignore_seg: np.ndarray,
    mask: np.ndarray | None = None,
    gt_ignored: np.ndarray | None = None,
) -> None:
    """Add the voxels of one block to ``table`` (arrays already validated)."""
    if not table.use_numba:
        count_pairs_numpy(table, gt, seg, ignore_gt, ignore_seg, mask, gt_ignored)
        return
    g = np.ascontiguousarray(gt).reshape(-1)
    s = np.ascontiguousarray(seg).reshape(-1)
    kg, ks, kc, n_entries, n_total = _accumulate(
        g, s, ignore_gt, ignore_seg, _as_u8(mask), _as_u8(gt_ignored),
        table.keys_gt, table.keys_seg, table.counts, table.n_entries,
    )
    table.keys_gt, table.keys_seg, table.counts = kg, ks, kc
    table.n_entries = int(n_entries)
    table.n_total += int(n_total)


def count_pairs_numpy(
    table: PairTable,
    gt: np.ndarray,
    seg: np.ndarray,
    ignore_gt: np.ndarray,
    ignore_seg: np.ndarray,
    mask: np.ndarray | None = None,
    gt_ignored: np.ndarray | None = None,
) -> None:
    """NumPy equivalent of the numba kernel: dense ids, one int64 key per pair, np.unique."""
    g = np.asarray(gt).reshape(-1)
    s = np.asarray(seg).reshape(-1)
    keep = np.ones(g.shape, dtype=bool) if mask is None else np.asarray(mask, bool).reshape(-1)
    table.n_total += int(keep.sum())
    if gt_ignored is not None:
        keep &= ~np.asarray(gt_ignored, bool).reshape(-1)
    # compare as uint64 so that ids above 2**53 are never rounded through float64
    g = g[keep].astype(np.uint64, copy=False)
    s = s[keep].astype(np.uint64, copy=False)
    keep = ~np.isin(g, ignore_gt) & ~np.isin(s, ignore_seg)
    g, s = g[keep], s[keep]
    old_g, old_s, old_c = table.entries()
    g_ids, g_idx = np.unique(np.concatenate([old_g, g]), return_inverse=True)
    s_ids, s_idx = np.unique(np.concatenate([old_s, s]), return_inverse=True)
    key = g_idx.astype(np.int64) * len(s_ids) + s_idx
    weights = np.concatenate([old_c, np.ones(len(g), dtype=np.int64)])
    uniq, inverse = np.unique(key, return_inverse=True)
    counts = np.bincount(inverse.reshape(-1), weights=weights).astype(np.int64)
    n = len(uniq)
    cap = max(_INITIAL_CAPACITY, 1 << int(2 * n).bit_length())
    table.keys_gt = np.zeros(cap, dtype=np.uint64)
    table.keys_seg = np.zeros(cap, dtype=np.uint64)
    table.counts = np.zeros(cap, dtype=np.int64)
    table.keys_gt[:n] = g_ids[uniq // len(s_ids)]
    table.keys_seg[:n] = s_ids[uniq % len(s_ids)]
    table.counts[:n] = counts
    table.n_entries = n


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


#: below this many voxels per block, threads cost more than they save
_MIN_VOXELS_PER_THREAD = 1 << 20


class ParallelCounter:
    """Counts blocks with ``n_threads`` tables: thread k takes the k-th contiguous part of each
    block (the kernel releases the GIL). The tables are summed once, at the end."""

    def __init__(self, n_threads: int = 1, *, use_numba: bool = True):
        self.n_threads = max(1, int(n_threads)) if use_numba and HAVE_NUMBA else 1
        self.tables = [PairTable(use_numba=use_numba) for _ in range(self.n_threads)]

    def add(self, gt, seg, ignore_gt, ignore_seg, mask=None, gt_ignored=None) -> None:
        n = gt.size
        parts = min(self.n_threads, max(1, n // _MIN_VOXELS_PER_THREAD))
        if parts == 1:
            count_pairs(self.tables[0], gt, seg, ignore_gt, ignore_seg, mask, gt_ignored)
            return
        flat = [None if a is None else np.ascontiguousarray(a).reshape(-1)
                for a in (gt, seg, mask, gt_ignored)]
        bounds = np.linspace(0, n, parts + 1).astype(np.int64)

        def work(k: int) -> None:
            sl = slice(bounds[k], bounds[k + 1])
            g, s, m, gi = (None if a is None else a[sl] for a in flat)
            count_pairs(self.tables[k], g, s, ignore_gt, ignore_seg, m, gi)

        with ThreadPoolExecutor(parts) as pool:
            list(pool.map(work, range(parts)))

    def entries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """(gt ids, seg ids, counts, n_total); a pair may repeat across tables."""
        got = [t.entries() for t in self.tables]
        return (
            np.concatenate([e[0] for e in got]),
            np.concatenate([e[1] for e in got]),
            np.concatenate([e[2] for e in got]),
            sum(t.n_total for t in self.tables),
        )
