"""Losses shared by every method that learns affinities.

Shapes: 2D predictions/targets/weights ``(B, C, H, W)``; 3D ``(B, C, Z, Y, X)``. Channel order
(z, y, x); affinity at v is to ``v + offset`` (negative offsets: predecessors). The weighted
mean squared error follows the official CAD code (docs/cad.md); the 2D section-pair loss and the
12-channel 3D loss are what the 2D and 3D baselines train on alone and what CAD's student and
teacher train on jointly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from bench.affinity import LONG_RANGE_OFFSETS

__all__ = ["loss_3d", "trunc_slice_loss", "weighted_mse"]


def weighted_mse(
    pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, spatial_dims: int
) -> torch.Tensor:
    """Official WeightedMSE: ``sum(w (p - t)^2) / (B * prod(spatial))``.

    Not divided by the channel count: a ``(B, 3, H, W)`` input with ``spatial_dims=2`` sums its
    three per-channel means (docs/cad.md section 9).

    Parameters
    ----------
    pred, target, weight
        Tensors of one shape ``(B, ..., *spatial)``.
    spatial_dims
        How many trailing dimensions are spatial.
    """
    if pred.shape != target.shape or pred.shape != weight.shape:
        raise ValueError(
            f"pred {tuple(pred.shape)}, target {tuple(target.shape)} and weight "
            f"{tuple(weight.shape)} must have one shape"
        )
    if not 1 <= spatial_dims < pred.ndim:
        raise ValueError(f"spatial_dims: expected 1..{pred.ndim - 1}, got {spatial_dims}")
    n = pred.shape[0]
    for s in pred.shape[pred.ndim - spatial_dims :]:
        n *= s
    if n == 0:
        raise ValueError(f"pred: empty spatial extent {tuple(pred.shape)}")
    return (weight * (pred - target) ** 2).sum() / n


def trunc_slice_loss(
    pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, affs0_weight: float = 1.0
) -> torch.Tensor:
    """The student's 2D loss on trunc affinities ``(B, 3, H, W)``.

    ``affs0_weight * WMSE(z) + WMSE(y, rows >= 1) + WMSE(x, cols >= 1)``: the first row of y
    and the first column of x have no predecessor (the network fills them by reflection).
    """
    if pred.ndim != 4 or pred.shape[1] != 3:
        raise ValueError(f"pred: expected (B, 3, H, W), got {tuple(pred.shape)}")
    lz = weighted_mse(pred[:, 0], target[:, 0], weight[:, 0], 2)
    ly = weighted_mse(pred[:, 1, 1:, :], target[:, 1, 1:, :], weight[:, 1, 1:, :], 2)
    lx = weighted_mse(pred[:, 2, :, 1:], target[:, 2, :, 1:], weight[:, 2, :, 1:], 2)
    return affs0_weight * lz + ly + lx


def loss_3d(
    aff: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor,
    offsets: Sequence[Sequence[int]] = LONG_RANGE_OFFSETS,
    near_weight: float = 10.0,
) -> torch.Tensor:
    """The teacher's loss ``sum_c w_c WMSE(valid part of channel c)``.

    Parameters
    ----------
    aff, target, weight
        ``(B, C, Z, Y, X)``; ``aff`` holds raw cosines (zero borders).
    offsets
        ``(dz, dy, dx)`` per channel (negative); the first ``|d|`` positions along each axis
        have no partner and are left out.
    near_weight
        ``w_c`` for the three nearest channels (``affs0_weight`` 10 in the official 3D config);
        the others get 1.
    """
    if aff.ndim != 5 or aff.shape[1] != len(offsets):
        raise ValueError(f"aff: expected (B, {len(offsets)}, Z, Y, X), got {tuple(aff.shape)}")
    total = aff.new_zeros(())
    for c, off in enumerate(offsets):
        if any(-o >= n for o, n in zip(off, aff.shape[2:], strict=True)):
            continue  # no valid voxel in this channel for this patch size
        valid = (slice(None), c, *(slice(-o, None) for o in off))
        w = near_weight if c < 3 else 1.0
        total = total + w * weighted_mse(aff[valid], target[valid], weight[valid], 3)
    return total
