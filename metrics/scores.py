"""Scores of an :class:`~metrics.table.OverlapTable`: VOI, adapted Rand, CREMI score.

Notation: ``c_ij`` voxels have gt label i and seg label j (counted voxels only, see
:mod:`metrics.table`), ``a_i = sum_j c_ij`` (gt sizes), ``b_j = sum_i c_ij`` (seg sizes),
``N = sum_ij c_ij``. Ground truth always comes first; logs are base 2 (bits).

- **VOI split** ``= H(seg | gt) = -sum_ij c_ij/N log2(c_ij / a_i)``: over-segmentation (a gt
  object cut into several seg objects). 0 when every gt object lies in one seg object.
- **VOI merge** ``= H(gt | seg) = -sum_ij c_ij/N log2(c_ij / b_j)``: under-segmentation.
- **Rand precision** ``= sum c_ij^2 / sum b_j^2``: of the voxel pairs the segmentation puts
  together, the fraction the gt also puts together (low when objects are falsely merged).
  This is the SNEMI3D "Rand merge score" and waterz's ``rand_merge``; scikit-image returns it as
  its *recall* (its names are swapped relative to its own docstring).
- **Rand recall** ``= sum c_ij^2 / sum a_i^2``: of the pairs the gt puts together, the fraction
  the segmentation also does (low when objects are falsely split). SNEMI3D "Rand split score",
  waterz's ``rand_split``, scikit-image's *precision*.
- **ARAND** ``= 1 - F``, F the harmonic mean of Rand precision and recall.
- **CREMI score** ``= sqrt((voi_split + voi_merge) * arand)``.

Conventions (``convention=``) change only what the published tools change:

``"skimage"`` (default; scikit-image >= 0.19 ``variation_of_information(gt, seg,
ignore_labels=ignore_gt)`` and ``adapted_rand_error(gt, seg, ignore_labels=ignore_gt)``, what the
CAD paper used)
    VOI as above. Rand sums count *pairs of distinct voxels*: each of ``sum c^2``, ``sum a^2``,
    ``sum b^2`` has ``N`` subtracted.
``"waterz"`` (``waterz.evaluate(seg, gt)``, segmentation first; it hard-codes gt label 0 as the
only ignored label)
    VOI as above. Rand sums without the ``- N``. waterz reports no ARAND; ours is ``1 - F`` of its
    ``rand_split`` (= our recall) and ``rand_merge`` (= our precision).
``"cremi"`` (cremi_python ``NeuronIds``; its code is gala's)
    VOI as above (cremi ignores gt background only, never seg labels). Rand: gt rows in
    ``ignore_gt`` are dropped; seg label 0 is special: each seg-0 voxel is a singleton, added as
    ``c0 / n_total`` to both ``sum c^2`` and ``sum b^2`` (c0: counted voxels with seg 0,
    ``n_total``: every voxel of the volume, ignored ones included; this ``/ n_total`` is the
    normalisation inherited from the SNEMI3D MATLAB script, which worked on probabilities).
    ``a_i`` includes the seg-0 voxels. F is the harmonic mean of ``sumAB/sumB`` and ``sumAB/sumA``.
    CREMI's own files mark unlabelled gt as 2**64-1: pass ``ignore_gt=(2**64-1,)`` for those.
``"gala"`` (Janelia gala ``evaluate.split_vi(seg, gt)`` and ``adapted_rand_error(seg, gt)``)
    VOI ignores label 0 on *both* sides (gala's default ``ignore_x=ignore_y=[0]``): voxels with
    seg 0 are dropped before the entropies. Rand as ``"cremi"``.

Degenerate cases, where the reference tools divide 0 by 0 and return NaN: a ratio with no pairs
in its denominator (all objects single voxels) is 1.0, and ARAND is 0.0 when neither side has any
pair. A table with no counted voxel raises ``ValueError``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from metrics.table import OverlapTable

CONVENTIONS = ("skimage", "waterz", "cremi", "gala")


class RandScores(NamedTuple):
    precision: float  # sum c^2 / sum b^2: pairs joined by seg that gt joins too
    recall: float  # sum c^2 / sum a^2: pairs joined by gt that seg joins too
    arand: float  # 1 - F-score


def check_convention(convention: str) -> str:
    if convention not in CONVENTIONS:
        raise ValueError(
            f"unknown convention {convention!r}; expected one of {', '.join(CONVENTIONS)}"
        )
    return convention


def _check_nonempty(table: OverlapTable, what: str) -> None:
    if table.n_counted == 0:
        raise ValueError(
            f"no voxel left to compute {what}: every voxel is ignored (gt labels in ignore_gt="
            f"{table.ignore_gt}, seg labels in {table.ignore_seg}, or outside the border "
            f"tolerance/mask; n_total={table.n_total})"
        )


def voi(table: OverlapTable, *, convention: str = "skimage") -> tuple[float, float]:
    """``(voi_split, voi_merge) = (H(seg|gt), H(gt|seg))`` in bits.

    ``convention="gala"`` also drops seg label 0; the others use the table as it is.
    """
    check_convention(convention)
    if convention == "gala":
        table = table.without_seg([0])
    _check_nonempty(table, "VOI")
    c = table.counts.astype(np.float64)
    n = c.sum()
    a = table.gt_sizes[table.rows]
    b = table.seg_sizes[table.cols]
    split = float(-(c * np.log2(c / a)).sum() / n)
    merge = float(-(c * np.log2(c / b)).sum() / n)
    # each term is >= 0; clamp rounding below zero, and turn the -0.0 of a perfect match
    # (max(-0.0, 0.0) is -0.0) into 0.0, which prints as "0.000", not "-0.000"
    return max(split, 0.0) + 0.0, max(merge, 0.0) + 0.0


def _ratio(num: float, den: float) -> float:
    return 1.0 if den == 0 and num == 0 else num / den


def rand_scores(table: OverlapTable, *, convention: str = "skimage") -> RandScores:
    """Rand precision, recall (correctly named, see module docstring) and ARAND."""
    check_convention(convention)
    _check_nonempty(table, "the Rand scores")
    c = table.counts.astype(np.float64)
    a = table.gt_sizes
    b = table.seg_sizes
    if convention in ("skimage", "waterz"):
        sum_c2, sum_a2, sum_b2 = float(c @ c), float(a @ a), float(b @ b)
        if convention == "skimage":  # pairs of distinct voxels
            n = float(table.n_counted)
            sum_c2, sum_a2, sum_b2 = sum_c2 - n, sum_a2 - n, sum_b2 - n
        precision, recall = _ratio(sum_c2, sum_b2), _ratio(sum_c2, sum_a2)
        den = sum_a2 + sum_b2
        arand = 0.0 if den == 0 else 1.0 - 2.0 * sum_c2 / den
        return RandScores(precision, recall, min(max(arand, 0.0), 1.0))
    # cremi / gala: seg 0 voxels are singletons, weighted 1/n_total (see module docstring)
    seg0 = table.seg_ids[table.cols] == 0
    c0 = float(c[seg0].sum())
    extra = c0 / table.n_total
    cn = c[~seg0]
    b_nz = b[table.seg_ids != 0]
    sum_ab = float(cn @ cn) + extra
    sum_b = float(b_nz @ b_nz) + extra
    sum_a = float(a @ a)
    precision, recall = _ratio(sum_ab, sum_b), _ratio(sum_ab, sum_a)
    f = 0.0 if precision + recall == 0 else 2.0 * precision * recall / (precision + recall)
    return RandScores(precision, recall, min(max(1.0 - f, 0.0), 1.0))


def arand(table: OverlapTable, *, convention: str = "skimage") -> float:
    """Adapted Rand error ``1 - F`` (0 = perfect)."""
    return rand_scores(table, convention=convention).arand


def cremi_score(table: OverlapTable, *, convention: str = "skimage") -> float:
    """``sqrt((voi_split + voi_merge) * arand)`` (lower is better)."""
    split, merge = voi(table, convention=convention)
    return math.sqrt((split + merge) * arand(table, convention=convention))


def scores(table: OverlapTable, *, convention: str = "skimage") -> dict[str, float | int]:
    """Every score of :func:`metrics.evaluate` from one table."""
    split, merge = voi(table, convention=convention)
    rs = rand_scores(table, convention=convention)
    total = split + merge
    return {
        "voi_split": split,
        "voi_merge": merge,
        "voi": total,
        "arand": rs.arand,
        "cremi_score": math.sqrt(total * rs.arand),
        "rand_precision": rs.precision,
        "rand_recall": rs.recall,
        "n_voxels": table.n_counted,
    }
