"""``evaluate(gt, seg)``: one pass over the voxels, every score from the resulting table."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from metrics.scores import check_convention, scores
from metrics.table import DEFAULT_BLOCK_VOXELS, overlap_table


def evaluate(
    gt: Any,
    seg: Any,
    *,
    ignore_gt: Iterable[int] | None = (0,),
    border_nm: float | None = None,
    resolution: Iterable[float] | None = None,
    convention: str = "skimage",
    mask: Any = None,
    block_voxels: int = DEFAULT_BLOCK_VOXELS,
) -> dict[str, float | int]:
    """Score a segmentation against a ground truth (ground truth first).

    Parameters
    ----------
    gt, seg : integer array-like, same shape, (Z, Y, X) by convention
        Ground-truth and candidate labels (any integer dtype; uint64 ids above 2**53 are exact).
        h5py datasets and zarr arrays are read block by block along z (bounded memory).
    ignore_gt : sequence of int
        Gt labels left out of every score (default ``(0,)``: background/boundary). Seg labels
        are never ignored, except label 0 in ``convention="gala"``'s VOI.
    border_nm, resolution : optional
        CREMI boundary tolerance: gt voxels within ``border_nm`` nm of a label boundary in
        their section are ignored; ``resolution`` is (z, y, x) in nm (CREMI: 25 nm).
    convention : {"skimage", "waterz", "cremi", "gala"}
        Which published tool's numbers to reproduce; see :mod:`metrics.scores`.
    mask : bool array-like, optional
        Evaluate only voxels where True.
    block_voxels : int
        Block size for lazy inputs.

    Returns
    -------
    dict
        ``voi_split`` = H(seg|gt) (false splits), ``voi_merge`` = H(gt|seg) (false merges),
        ``voi`` (their sum, bits), ``arand`` (adapted Rand error), ``cremi_score``
        (sqrt(voi * arand)), ``rand_precision`` (merge score: pairs joined by seg that the gt
        joins), ``rand_recall`` (split score: pairs joined by the gt that seg joins),
        ``n_voxels`` (voxels counted: not ignored, not masked).
    """
    check_convention(convention)
    table = overlap_table(
        gt, seg, ignore_gt=ignore_gt, mask=mask, border_nm=border_nm, resolution=resolution,
        block_voxels=block_voxels,
    )
    return scores(table, convention=convention)
