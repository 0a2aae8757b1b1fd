"""Labels -> training targets and weight maps (docs/cad.md sections 4 and 5).

Conventions: labels are ``(Z, Y, X)`` integer arrays with 0 = background/boundary; affinities
are float32 ``(C, Z, Y, X)``. For a negative offset d the value at voxel v is the affinity of v
to ``v + d`` (for the unit offsets: to its predecessor on that axis, the waterz convention).
"""

from __future__ import annotations

import fastremap
import numpy as np
from scipy import ndimage

from bench.affinity import LONG_RANGE_OFFSETS, NEAREST_OFFSETS, affinities_from_labels

__all__ = [
    "WEIGHT_MODES",
    "long_range_targets",
    "pair_targets",
    "seg_widen_border",
    "weight_binary_ratio",
    "weight_binary_ratio_per_channel",
]

def _check_labels(seg: np.ndarray, name: str = "seg") -> np.ndarray:
    seg = np.asarray(seg)
    if seg.ndim != 3:
        raise ValueError(f"{name}: expected a (Z, Y, X) label array, got shape {seg.shape}")
    if not (np.issubdtype(seg.dtype, np.integer) or seg.dtype == bool):
        raise ValueError(f"{name}: expected integer labels, got dtype {seg.dtype}")
    return seg


def seg_widen_border(seg: np.ndarray, tsz_h: int = 1) -> np.ndarray:
    """Set to 0 every voxel whose in-section window touches two or more nonzero ids.

    The window is ``(2 tsz_h + 1)^2`` within each section, on a reflect-padded section
    (``numpy.pad(mode="reflect")``, i.e. the edge is not repeated). Background (0) does not
    count as an id. This thickens the boundaries between touching objects, as the official
    label pipeline does before making targets (training only; metrics use original labels).

    Parameters
    ----------
    seg
        ``(Z, Y, X)`` integer labels.
    tsz_h
        Half window size (1 gives 3x3).

    Returns
    -------
    numpy.ndarray
        A copy of ``seg`` with the widened borders set to 0.
    """
    seg = _check_labels(seg)
    if tsz_h < 1:
        raise ValueError(f"tsz_h: expected an integer >= 1, got {tsz_h}")
    size = (1, 2 * tsz_h + 1, 2 * tsz_h + 1)
    # compact ids first: scipy's rank filters mishandle values near the uint64 maximum
    small, _ = fastremap.renumber(np.ascontiguousarray(seg), preserve_zero=True)
    small = small.astype(np.int64, copy=False)
    big = int(small.max()) + 1
    # scipy's "mirror" is numpy's "reflect" (d c b | a b c d)
    hi = ndimage.maximum_filter(small, size=size, mode="mirror")
    lo = ndimage.minimum_filter(np.where(small == 0, big, small), size=size, mode="mirror")
    # with zeros replaced by `big`, lo is the smallest nonzero id in the window (big if none):
    # two distinct nonzero ids exist exactly when lo is an id and differs from the largest
    touching = (hi > 0) & (lo != big) & (lo != hi)
    out = seg.copy()
    out[touching] = 0
    return out


def weight_binary_ratio(target: np.ndarray) -> np.ndarray:
    """Class-balancing weights of a binary target, one ratio over the whole array.

    With f the fraction of nonzero entries, clipped to [0.05, 0.99]: if f > 0.5 positives get 1
    and negatives ``f / (1 - f)``; otherwise positives get ``(1 - f) / f`` and negatives 1. A
    constant target gets all ones.

    Parameters
    ----------
    target
        Any-shaped array of 0/1 values.

    Returns
    -------
    numpy.ndarray
        float32 weights of the same shape.
    """
    target = np.asarray(target)
    if target.size == 0:
        raise ValueError("target: expected a non-empty array")
    if target.max() == target.min():
        return np.ones(target.shape, np.float32)
    f = float(np.clip(np.count_nonzero(target) / target.size, 0.05, 0.99))
    pos = target > 0
    if f > 0.5:
        w_pos, w_neg = 1.0, f / (1.0 - f)
    else:
        w_pos, w_neg = (1.0 - f) / f, 1.0
    return np.where(pos, w_pos, w_neg).astype(np.float32)


def weight_binary_ratio_per_channel(target: np.ndarray) -> np.ndarray:
    """:func:`weight_binary_ratio` applied to each channel ``target[c]`` separately."""
    target = np.asarray(target)
    return np.stack([weight_binary_ratio(t) for t in target]).astype(np.float32)


WEIGHT_MODES = ("global", "per_channel")


def long_range_targets(seg: np.ndarray, weights: str = "global") -> tuple[np.ndarray, np.ndarray]:
    """The teacher's 12-channel targets of a label patch and their weights.

    Targets are :func:`bench.affinity.affinities_from_labels` with :data:`LONG_RANGE_OFFSETS`
    and ``pad=""`` (border slabs 0).

    Parameters
    ----------
    seg
        ``(Z, Y, X)`` labels.
    weights
        ``"global"``: one ratio over all 12 channels, border slabs included, as the official 3D
        provider does (docs/cad.md section 9). The nearest channels, mostly positive,
        then get far smaller boundary weights than the 2D provider's per-channel ratio gives.
        ``"per_channel"``: :func:`weight_binary_ratio` per channel over its valid part only;
        border slabs (no partner voxel) get weight 0.

    Returns
    -------
    (targets, weights)
        float32 ``(12, Z, Y, X)`` each.
    """
    if weights not in WEIGHT_MODES:
        raise ValueError(f"weights: expected one of {WEIGHT_MODES}, got {weights!r}")
    aff = affinities_from_labels(seg, LONG_RANGE_OFFSETS, pad="")
    if weights == "global":
        return aff, weight_binary_ratio(aff)
    w = np.zeros_like(aff)
    for c, off in enumerate(LONG_RANGE_OFFSETS):
        if any(-o >= n for o, n in zip(off, aff.shape[1:], strict=True)):
            continue
        valid = tuple(slice(-o, None) for o in off)
        w[(c, *valid)] = weight_binary_ratio(aff[(c, *valid)])
    return aff, w


def pair_targets(seg_pair: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2D-provider targets of a section pair ``(2, Y, X)``: affinities of the second section.

    ``affinities_from_labels`` with ``pad="replicate"`` on the 2-section stack, index 1 (the z
    channel compares section 1 with section 0); weights per channel.

    Returns
    -------
    (targets, weights)
        float32 ``(3, Y, X)`` each.
    """
    seg_pair = _check_labels(seg_pair, "seg_pair")
    if seg_pair.shape[0] != 2:
        raise ValueError(f"seg_pair: expected 2 sections, got shape {seg_pair.shape}")
    aff = affinities_from_labels(seg_pair, NEAREST_OFFSETS, pad="replicate")[:, 1]
    return aff, weight_binary_ratio_per_channel(aff)
