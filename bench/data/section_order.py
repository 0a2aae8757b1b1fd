"""Recovering the z order of a stack of sections from its dense 3D labels.

A release that stores a volume as one file per section sometimes numbers the files in an order
that is not z order (the lsd sample, :mod:`bench.data.datasets.lsd`). When the labels are
dense and linked across sections (one id per neuron through the stack), neighbouring sections
share most of their voxels' ids at the same (y, x), and sections far apart share few. So:

1. :func:`overlap_matrix`: for every two sections, the fraction of voxels whose (nonzero) id is
   the same in both at the same (y, x);
2. :func:`chain_sections`: the greedy chain over that matrix: pairs are taken from the largest
   overlap down, a pair joining two chain ends is kept unless it would close a loop, until one
   chain holds every section (greedy edge matching, the classic heuristic for a shortest
   Hamiltonian path);
3. a direction for the chain. Overlap is symmetric, so it cannot tell z from -z; by convention
   the chain starts at the end with the larger summed overlap with the rest of its stack.

The lsd sample's README (``../shared/data/README.md``) gives the order this reproduces; the
test recovers it from the sections scrambled into file order.
"""

from __future__ import annotations

import numpy as np

__all__ = ["chain_sections", "overlap_matrix"]


def overlap_matrix(labels: np.ndarray) -> np.ndarray:
    """float64 ``(Z, Z)``: entry ``(i, j)`` is the fraction of a section's voxels that carry the
    same nonzero id in sections ``i`` and ``j`` (symmetric; the diagonal is set to 0)."""
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"labels: expected a (Z, Y, X) stack, got shape {labels.shape}")
    n = labels.shape[0]
    flat = labels.reshape(n, -1)
    out = np.zeros((n, n))
    for i in range(n):
        same = (flat == flat[i]) & (flat[i] != 0)
        out[i] = same.mean(axis=1)
    np.fill_diagonal(out, 0.0)
    return out


def chain_sections(labels: np.ndarray) -> list[int]:
    """The indices of ``labels``' sections in recovered z order (see the module docstring)."""
    overlap = overlap_matrix(labels)
    n = len(overlap)
    if n < 3:
        return list(range(n))
    root = list(range(n))

    def find(a: int) -> int:
        while root[a] != a:
            root[a] = root[root[a]]
            a = root[a]
        return a

    neighbours: list[list[int]] = [[] for _ in range(n)]
    i_idx, j_idx = np.triu_indices(n, 1)
    # largest overlap first; ties by section index, so the result does not depend on the sort
    for k in np.lexsort((j_idx, i_idx, -overlap[i_idx, j_idx])):
        i, j = int(i_idx[k]), int(j_idx[k])
        if len(neighbours[i]) < 2 and len(neighbours[j]) < 2 and find(i) != find(j):
            root[find(i)] = find(j)
            neighbours[i].append(j)
            neighbours[j].append(i)
    ends = [i for i in range(n) if len(neighbours[i]) == 1]
    start = max(ends, key=lambda e: (overlap[e].sum(), -e))
    order, previous = [start], -1
    while len(order) < n:
        step = next(k for k in neighbours[order[-1]] if k != previous)
        previous = order[-1]
        order.append(step)
    return order
