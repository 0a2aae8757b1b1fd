"""CREMI boundary tolerance: ground-truth voxels near a label boundary of their own section.

Definition (CREMI challenge, neuron-ids evaluation): within each z-section, a pixel is a
*boundary pixel* when at least one of its 4 in-plane neighbours has a different gt label (the
image edge is not a boundary: pixels outside the image count as equal). Every pixel whose
in-plane Euclidean distance, in nm, to the nearest boundary pixel is ``<= border_nm`` is ignored
(boundary pixels themselves have distance 0, so they are always ignored). CREMI uses 25 nm.
Label 0 is an ordinary label here: a 0-valued boundary between two neurons makes both of its
sides boundary pixels.
"""

from __future__ import annotations

import numpy as np

try:
    import edt as _edt
except ImportError:  # pragma: no cover - edt is a declared dependency
    _edt = None


def _interior_2d(section: np.ndarray) -> np.ndarray:
    """True where all 4 neighbours carry the same label (edges replicate, so are not borders)."""
    inner = np.ones(section.shape, dtype=bool)
    inner[1:, :] &= section[1:, :] == section[:-1, :]
    inner[:-1, :] &= section[:-1, :] == section[1:, :]
    inner[:, 1:] &= section[:, 1:] == section[:, :-1]
    inner[:, :-1] &= section[:, :-1] == section[:, 1:]
    return inner


def border_mask(gt: np.ndarray, border_nm: float, resolution_nm: tuple[float, float, float]):
    """Boolean (Z, Y, X) mask, True for gt voxels within ``border_nm`` of a label boundary.

    Parameters
    ----------
    gt : ndarray of int, (Z, Y, X)
        Ground-truth labels.
    border_nm : float
        Tolerance in nm (CREMI: 25). ``0`` masks the boundary pixels only.
    resolution_nm : (z, y, x) floats
        Voxel size in nm; only y and x are used (the tolerance is measured within a section).
    """
    if gt.ndim != 3:
        raise ValueError(f"gt must be (Z, Y, X) for the border tolerance; got shape {gt.shape}")
    if not np.isfinite(border_nm) or border_nm < 0:
        raise ValueError(f"border_nm must be a finite number >= 0; got {border_nm}")
    ry, rx = float(resolution_nm[1]), float(resolution_nm[2])
    out = np.zeros(gt.shape, dtype=bool)
    for z in range(gt.shape[0]):
        inner = _interior_2d(gt[z])
        if inner.all():  # no boundary in this section: nothing is within reach of one
            continue
        if _edt is not None:
            dist = _edt.edt(inner.view(np.uint8), anisotropy=(ry, rx), black_border=False)
        else:  # pragma: no cover
            from scipy.ndimage import distance_transform_edt

            dist = distance_transform_edt(inner, sampling=(ry, rx))
        out[z] = dist <= border_nm
    return out
