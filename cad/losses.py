"""CAD's losses (CAD_SPEC.md sections 2, 4 and 11).

Shapes: 2D predictions/targets/weights ``(B, C, H, W)``; 3D ``(B, C, Z, Y, X)``. Channel order
(z, y, x); affinity at v is to ``v + offset`` (negative offsets: predecessors).

Two modes reproduce or repair the official code's bugs (section 11):

- ``faithful``: the cross-dimension loss crops x columns ``< shift`` where ``shift`` is 1 at
  z = 0 and 27 afterwards (bug 1); FGI keeps one offset per z, the largest s with
  ``z + s <= 16`` (bug 2, the bound hard-coded for patch depth 18); its targets sit at the
  wrong z index for s >= 2 (bug 3); its embeddings are not L2-normalised.
- ``fixed``: the cross loss leaves out only the first row (y) and column (x), at every z; FGI
  accumulates every offset with ``z + s <= D - 2`` (D = patch depth), scores each pair against
  its own target index, and uses L2-normalised embeddings like every other affinity.
  (:mod:`cad.train` also drops the dead 2D step in ``fixed`` mode and, by default, weights the
  3D targets per channel: see ``weights_3d`` in the recipe.)

For a depth D other than 18, ``faithful`` uses the bound ``min(16, D - 2)``: the hard-coded 16
where the patch is deeper (sections past 17 never enter FGI, as in the official code) and
``D - 2`` where it is shallower (the official code would index past the patch and crash).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from bench.train.targets import LONG_RANGE_OFFSETS

__all__ = [
    "FGITerm",
    "MODES",
    "cross_loss",
    "faithful_cross_shift",
    "fgi_loss",
    "fgi_terms",
    "loss_3d",
    "trunc_slice_loss",
    "weighted_mse",
]

MODES = ("faithful", "fixed")

#: FGI uses the z-axis channels of the 12 teacher offsets: distance s -> channel index
_Z_CHANNEL_OF_SHIFT = {-off[0]: c for c, off in enumerate(LONG_RANGE_OFFSETS) if off[0] != 0}
#: official loop variable after its last iteration (the last of the 12 shifts)
_LAST_SHIFT = 27
#: the official FGI bound, written for depth 18
_FAITHFUL_FGI_BOUND = 16


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")


def weighted_mse(
    pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, spatial_dims: int
) -> torch.Tensor:
    """Official WeightedMSE: ``sum(w (p - t)^2) / (B * prod(spatial))``.

    Not divided by the channel count: a ``(B, 3, H, W)`` input with ``spatial_dims=2`` sums its
    three per-channel means (CAD_SPEC.md section 11, item 6).

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


def faithful_cross_shift(z: int) -> int:
    """The official ``shift`` used to crop the cross loss at pair index z (bug 1).

    1 at z = 0; afterwards the FGI loop has overwritten it with its last value, 27.
    """
    return 1 if z == 0 else _LAST_SHIFT


def cross_loss(
    p2: torch.Tensor,
    p3: torch.Tensor,
    weight: torch.Tensor,
    *,
    z: int,
    mode: str,
    after_start_ft: bool = True,
) -> torch.Tensor:
    """Cross-dimension distillation: student trunc affinities vs teacher affinities.

    Parameters
    ----------
    p2
        ``(B, 3, H, W)`` student trunc affinities of the pair (z, z+1).
    p3
        ``(B, 3, H, W)`` teacher affinities at section z+1 (:func:`teacher_distill_targets`).
    weight
        ``(B, 3, H, W)`` weights of the 3D targets at section z+1.
    z
        Pair index (0-based).
    mode
        ``faithful``: one WMSE over the three channels cropped to x columns ``>= shift``
        (rows ``>= shift`` before ``start_ft``); ``fixed``: per channel, leaving out row 0 of y
        and column 0 of x.
    """
    _check_mode(mode)
    if p2.shape != p3.shape or p2.ndim != 4 or p2.shape[1] != 3:
        raise ValueError(f"p2 {tuple(p2.shape)} and p3 {tuple(p3.shape)}: expected (B, 3, H, W)")
    if mode == "faithful":
        s = faithful_cross_shift(z)
        if after_start_ft:
            crop = (..., slice(None), slice(s, None))
        else:
            crop = (..., slice(s, None), slice(None))
        return weighted_mse(p2[crop], p3[crop], weight[crop], 2)
    lz = weighted_mse(p2[:, 0], p3[:, 0], weight[:, 0], 2)
    ly = weighted_mse(p2[:, 1, 1:, :], p3[:, 1, 1:, :], weight[:, 1, 1:, :], 2)
    lx = weighted_mse(p2[:, 2, :, 1:], p3[:, 2, :, 1:], weight[:, 2, :, 1:], 2)
    return lz + ly + lx


@dataclass(frozen=True)
class FGITerm:
    """One feature-grafting interaction term at pair index ``z``.

    ``branch`` ``"t"`` pairs the student embedding of section z with the teacher embedding at
    ``teacher_index``; ``"tn"`` pairs that of section z+1. The clamped dot product is scored
    against the 3D target channel ``channel`` at z index ``target_index``.
    """

    z: int
    s: int
    branch: str
    teacher_index: int
    channel: int
    target_index: int


def fgi_terms(z: int, depth: int, mode: str) -> list[FGITerm]:
    """The FGI terms used at pair index ``z`` of a patch of ``depth`` sections.

    ``faithful`` keeps only the largest s in 1..4 with ``z + s <= min(16, depth - 2)``, with
    targets at ``z + 1`` (branch t) and ``z + 2`` (branch tn); ``fixed`` keeps every s with
    ``z + s <= depth - 2``, with targets at ``z + s`` and ``z + 1 + s``.
    """
    _check_mode(mode)
    if depth < 2 or not 0 <= z <= depth - 2:
        raise ValueError(f"z: expected 0..depth-2 for depth {depth}, got {z}")
    bound = min(_FAITHFUL_FGI_BOUND, depth - 2) if mode == "faithful" else depth - 2
    shifts = [s for s in sorted(_Z_CHANNEL_OF_SHIFT) if z + s <= bound]
    if mode == "faithful":
        shifts = shifts[-1:]  # the loss variable is assigned, not accumulated
    terms = []
    for s in shifts:
        ch = _Z_CHANNEL_OF_SHIFT[s]
        if mode == "faithful":
            t_idx, tn_idx = z + 1, z + 2
        else:
            t_idx, tn_idx = z + s, z + 1 + s
        terms.append(FGITerm(z, s, "t", z + s, ch, t_idx))
        terms.append(FGITerm(z, s, "tn", z + 1 + s, ch, tn_idx))
    return terms


def fgi_loss(
    emb_prev: torch.Tensor,
    emb_curr: torch.Tensor,
    teacher_emb: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor,
    terms: Sequence[FGITerm],
) -> torch.Tensor:
    """Feature-grafting interaction loss of one section pair.

    Parameters
    ----------
    emb_prev, emb_curr
        ``(B, E, H, W)`` student embeddings of sections z and z+1, already L2-normalised or not
        (the official code uses them raw; ``fixed`` mode passes normalised ones).
    teacher_emb
        ``(B, E, D, H, W)`` teacher embedding, normalised likewise.
    target, weight
        ``(B, 12, D, H, W)`` 3D targets and weights.
    terms
        From :func:`fgi_terms`.

    Returns
    -------
    torch.Tensor
        ``sum over terms of WMSE(clamp(<e_student, e_teacher>, 0, 1), target, weight)``; 0 when
        there is no term.
    """
    total = emb_curr.new_zeros(())
    for t in terms:
        e = emb_prev if t.branch == "t" else emb_curr
        aff = (e * teacher_emb[:, :, t.teacher_index]).sum(1).clamp(0.0, 1.0)
        total = total + weighted_mse(
            aff, target[:, t.channel, t.target_index], weight[:, t.channel, t.target_index], 2
        )
    return total
