"""CAD's losses (docs/cad.md sections 2, 4 and 9).

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

from bench.affinity import LONG_RANGE_OFFSETS, NEAREST_OFFSETS, fill_nearest_borders
from bench.train.losses import weighted_mse

__all__ = [
    "FGITerm",
    "MODES",
    "cross_loss",
    "faithful_cross_shift",
    "fgi_loss",
    "fgi_terms",
    "cad_teacher_offsets",
    "teacher_distill_targets",
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


def teacher_distill_targets(aff3d: torch.Tensor) -> torch.Tensor:
    """The teacher's nearest-neighbour affinities used as distillation targets (P3).

    Takes channels 0-2 (z, y, x at distance 1) of :func:`embedding_affinities_3d`'s output,
    fills the zero border of each (:func:`bench.affinity.fill_nearest_borders`: index 0 along
    its own axis gets index 1), then applies ReLU.

    Parameters
    ----------
    aff3d
        ``(B, C >= 3, Z, Y, X)`` teacher affinities in TEACHER_OFFSETS channel order.

    Returns
    -------
    torch.Tensor
        ``(B, 3, Z, Y, X)`` in [0, 1]; a new tensor (the input is not modified).
    """
    if not isinstance(aff3d, torch.Tensor) or aff3d.ndim != 5:
        got = tuple(aff3d.shape) if isinstance(aff3d, torch.Tensor) else type(aff3d).__name__
        raise ValueError(f"aff3d: expected a tensor with 5 dims (B, C, ...), got {got}")
    if aff3d.shape[1] < 3:
        raise ValueError(f"aff3d: expected at least 3 channels (z, y, x), got {aff3d.shape[1]}")
    if min(aff3d.shape[2:]) < 2:
        raise ValueError(f"aff3d: every spatial size must be >= 2, got {tuple(aff3d.shape[2:])}")
    return torch.relu(fill_nearest_borders(aff3d[:, :3].clone(), NEAREST_OFFSETS))


def cad_teacher_offsets() -> list[list[int]]:
    """The 12 offsets of the teacher's affinity channels (:data:`bench.affinity
    .LONG_RANGE_OFFSETS`, the official ``shift`` neighbourhood) as lists, in channel order."""
    return [list(off) for off in LONG_RANGE_OFFSETS]
