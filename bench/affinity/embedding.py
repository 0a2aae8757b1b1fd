"""Embeddings -> affinities (torch), in the convention of :mod:`bench.affinity`.

Affinities are ``(B, C, ...)`` with channel order (z, y, x) for the nearest neighbours; the
value at voxel v is the affinity of v to ``v + offset`` (negative offsets: predecessors).
Embeddings are L2-normalised over channels before any inner product, as CAD does
(docs/cad.md): the 2D section-pair ("trunc") affinities of the Y-net and the cosine affinities
of a 3D embedding.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from bench.affinity import LONG_RANGE_OFFSETS, as_offsets
from bench.affinity import shifted_slices as _shifted_slices

__all__ = [
    "TEACHER_OFFSETS",
    "embedding_affinities_3d",
    "l2_normalize",
    "trunc_affinities",
]

#: The 12 offsets of the 3D teacher's channels: :data:`bench.affinity.LONG_RANGE_OFFSETS`.
TEACHER_OFFSETS = LONG_RANGE_OFFSETS

_EPS = 1e-12


def l2_normalize(emb: torch.Tensor) -> torch.Tensor:
    """L2-normalise over the channel axis (dim 1), ``x / max(||x||, 1e-12)``."""
    return F.normalize(emb, p=2.0, dim=1, eps=_EPS)


def _check_emb(name: str, emb: torch.Tensor, ndim: int) -> None:
    if not isinstance(emb, torch.Tensor) or emb.ndim != ndim:
        shape = tuple(emb.shape) if isinstance(emb, torch.Tensor) else type(emb).__name__
        raise ValueError(f"{name}: expected a tensor with {ndim} dims (B, C, ...), got {shape}")


def trunc_affinities(emb_prev: torch.Tensor, emb_curr: torch.Tensor) -> torch.Tensor:
    """CAD's 2D ``trunc`` affinities of a section pair, ``(B, 3, H, W)`` in [0, 1], order [z,y,x].

    Parameters
    ----------
    emb_prev, emb_curr
        ``(B, C, H, W)`` embeddings of section z-1 and section z (student outputs ``pred_t``,
        ``pred_tn``).

    Returns
    -------
    torch.Tensor
        ``z = clamp(<e_prev, e_curr>, 0, 1)``; ``y`` and ``x`` are computed within the current
        section, ``y[i] = clamp(<e_curr[i], e_curr[i-1]>, 0, 1)`` for rows i >= 1 (columns
        likewise for ``x``). The first row/column has no predecessor: the official code fills it
        from a one-pixel reflect pad of the valid part, so row 0 equals row 2 (column 0 equals
        column 2). Training losses skip that row/column.
    """
    _check_emb("emb_prev", emb_prev, 4)
    _check_emb("emb_curr", emb_curr, 4)
    if emb_prev.shape != emb_curr.shape:
        raise ValueError(
            f"emb_prev {tuple(emb_prev.shape)} and emb_curr {tuple(emb_curr.shape)} differ"
        )
    if min(emb_curr.shape[-2:]) < 3:
        raise ValueError(f"emb_curr: H and W must be >= 3, got {tuple(emb_curr.shape[-2:])}")
    e_t = l2_normalize(emb_prev)
    e_tn = l2_normalize(emb_curr)
    aff_z = (e_t * e_tn).sum(1, keepdim=True).clamp(0.0, 1.0)
    aff_y = (e_tn[:, :, 1:, :] * e_tn[:, :, :-1, :]).sum(1, keepdim=True).clamp(0.0, 1.0)
    aff_x = (e_tn[:, :, :, 1:] * e_tn[:, :, :, :-1]).sum(1, keepdim=True).clamp(0.0, 1.0)
    # F.pad order is (x_left, x_right, y_top, y_bottom); reflect copies row 2 into row 0
    aff_y = F.pad(aff_y, (0, 0, 1, 0), mode="reflect")
    aff_x = F.pad(aff_x, (1, 0, 0, 0), mode="reflect")
    return torch.cat([aff_z, aff_y, aff_x], dim=1)


def embedding_affinities_3d(
    emb: torch.Tensor, offsets: Sequence[Sequence[int]] = TEACHER_OFFSETS
) -> torch.Tensor:
    """Raw cosine affinities of a 3D embedding (teacher ``embedding_mode`` 5).

    Parameters
    ----------
    emb
        ``(B, E, Z, Y, X)`` embedding (not necessarily normalised).
    offsets
        ``(dz, dy, dx)`` per output channel; the value at v is ``<e(v), e(v + offset)>`` with
        normalised embeddings. Default :data:`TEACHER_OFFSETS` (all negative: predecessors).

    Returns
    -------
    torch.Tensor
        ``(B, len(offsets), Z, Y, X)`` cosines in [-1, 1], not clamped; 0 where ``v + offset``
        falls outside the volume (the first ``|s|`` positions along the axis for CAD's offsets),
        which the loss leaves out.
    """
    _check_emb("emb", emb, 5)
    offsets = as_offsets(offsets)
    e = l2_normalize(emb)
    b, _, *shape = e.shape
    out = e.new_zeros((b, len(offsets), *shape))
    for c, off in enumerate(offsets):
        pair = _shifted_slices(off, shape)
        if pair is None:
            continue  # no voxel has a partner inside the volume: the channel stays 0
        dst, src = pair
        dot = (e[(slice(None), slice(None), *dst)] * e[(slice(None), slice(None), *src)]).sum(1)
        out[(slice(None), c, *dst)] = dot
    return out
