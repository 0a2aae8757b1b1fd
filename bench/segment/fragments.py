"""Seeded watershed fragments (over-segmentation) from affinities, as in docs/cad.md section 7.

Per section (``mode="2d"``, the CAD recipe):

1. boundary ``b = 1 - (A_y + A_x) / 2`` (the in-plane nearest-neighbour affinities);
2. squared Euclidean distance of every voxel with ``b < threshold`` to the nearest voxel with
   ``b >= threshold`` (optionally Gaussian-smoothed with ``sigma_seeds``);
3. seeds = the labelled regional maxima (plateau-aware) of that distance;
4. watershed of ``b`` from those seeds; every voxel gets a fragment (no 0s);
5. ids are offset per section so they are unique across the volume.

``mode="3d"`` does the same on the whole volume with ``b = 1 - (A_z + A_y + A_x) / 3`` and a 3D
distance transform (anisotropic if ``resolution_nm`` is given).

``min_size > 0`` drops the seeds of fragments smaller than that and floods again, so small
fragments are absorbed by their neighbours instead of surviving as tiny segments.

``refine=True`` (the default) then splits every fragment where the affinities themselves separate
its voxels (:func:`bench.segment.refine.split_fragments`): the boundary map of step 1 cannot tell
an object's first voxel after a membrane from the membrane, so the watershed alone can hand a few
voxels of one object to its neighbour. Where that does not happen, the fragments are the
literal recipe's (renumbered); ``refine=False`` gives the literal recipe everywhere.
"""

from __future__ import annotations

import edt
import mahotas
import numpy as np
from scipy import ndimage

from bench.segment.refine import split_fragments
from bench.segment.validate import validate_affinities


def boundary_from_affinities(affs: np.ndarray, mode: str = "2d") -> np.ndarray:
    """Boundary map ``(Z, Y, X)`` float32: one minus the mean nearest-neighbour affinity.

    ``mode="2d"`` averages the y and x channels (CAD), ``"3d"`` also the z channel.
    """
    if mode == "2d":
        return 1.0 - 0.5 * (affs[1] + affs[2])
    if mode == "3d":
        return 1.0 - (affs[0] + affs[1] + affs[2]) / 3.0
    raise ValueError(f"mode must be '2d' or '3d', got {mode!r}")


def _seeded_watershed(
    b: np.ndarray,
    *,
    threshold: float,
    sigma_seeds: float,
    min_size: int,
    anisotropy: tuple[float, ...] | None,
) -> tuple[np.ndarray, int]:
    """Fragments of one boundary map (2D or 3D), ids 1..n, and n."""
    inside = b < threshold
    if inside.all():
        # nothing is boundary: one fragment (the distance to "nothing" is undefined)
        return np.ones(b.shape, dtype=np.int32), 1
    # squared EDT as in mahotas.distance; edt also takes an anisotropy for the 3D variant
    dist = edt.edt(inside, anisotropy=anisotropy or (1.0,) * b.ndim, black_border=False)
    dist = np.square(dist, dtype=np.float32)
    if sigma_seeds > 0:
        dist = ndimage.gaussian_filter(dist, sigma_seeds)
    seeds, n = mahotas.label(mahotas.regmax(dist))
    surface = np.ascontiguousarray(b, dtype=np.float32)
    frags = mahotas.cwatershed(surface, seeds)
    if min_size > 0 and n > 1:
        sizes = np.bincount(frags.ravel(), minlength=n + 1)
        small = sizes < min_size
        small[0] = False
        if small.any() and not small[1:].all():
            seeds[small[seeds]] = 0
            seeds, n = mahotas.label(seeds > 0)
            frags = mahotas.cwatershed(surface, seeds)
    return frags, n


def watershed_fragments(
    affs: np.ndarray,
    *,
    mode: str = "2d",
    threshold: float = 0.5,
    sigma_seeds: float = 0.0,
    min_size: int = 0,
    resolution_nm: tuple[float, float, float] | None = None,
    refine: bool = True,
) -> np.ndarray:
    """Seeded-watershed fragments of affinities, uint64 ``(Z, Y, X)``, ids unique and >= 1.

    Parameters
    ----------
    affs
        Affinities ``(C, Z, Y, X)`` in [0, 1], C >= 3, channels 0..2 the nearest neighbours in
        the order (z, y, x); further channels are ignored.
    mode
        ``"2d"``: per-section fragments (CAD, the default); ``"3d"``: one 3D watershed.
    threshold
        Voxels with boundary ``b < threshold`` are "inside" for the distance transform.
    sigma_seeds
        Gaussian sigma (voxels) applied to the distance before finding maxima; 0 as in CAD.
        Larger values give fewer, larger fragments.
    min_size
        Fragments smaller than this (voxels) lose their seed and are re-flooded; 0 keeps all.
    resolution_nm
        ``(z, y, x)`` voxel size, used as anisotropy of the 3D distance transform only.
    refine
        Split fragments where the affinities separate their voxels (see the module docstring);
        ids are then renumbered 1..n in raster order.
    """
    affs = validate_affinities(affs)
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    if sigma_seeds < 0 or min_size < 0:
        raise ValueError(f"sigma_seeds and min_size must be >= 0, got {sigma_seeds}, {min_size}")
    b = boundary_from_affinities(affs, mode)
    kwargs = dict(threshold=threshold, sigma_seeds=sigma_seeds, min_size=int(min_size))
    if mode == "3d":
        anisotropy = tuple(float(r) for r in resolution_nm) if resolution_nm else None
        frags, _ = _seeded_watershed(b, anisotropy=anisotropy, **kwargs)
        return split_fragments(frags, affs, mode="3d") if refine else frags.astype(np.uint64)
    out = np.empty(b.shape, dtype=np.uint64)
    offset = 0
    for z in range(b.shape[0]):
        frags, n = _seeded_watershed(b[z], anisotropy=None, **kwargs)
        out[z] = frags.astype(np.uint64) + np.uint64(offset)
        offset += n
    return split_fragments(out, affs, mode="2d") if refine else out
