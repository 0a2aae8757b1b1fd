"""Ilastik's standard pixel-feature filter bank, in float32 with scipy's separable filters.

For every scale ``sigma`` (in voxels of the finest axis):

=========================  ===============================================================
Gaussian smoothing         ``G_sigma * I``
gradient magnitude         ``|grad (G_sigma * I)|``
Laplacian of Gaussian      ``sum_i d2/dx_i2 (G_sigma * I)``
difference of Gaussians    ``G_sigma * I - G_{0.66 sigma} * I``
structure tensor           eigenvalues of ``G_sigma * (grad G_{sigma/2} * I)(...)^T``
Hessian of Gaussian        eigenvalues of the second derivatives of ``G_sigma * I``
=========================  ===============================================================

plus the raw intensity (scaled to [0, 1]). Eigenvalues are sorted in descending order.

Geometry (``filter_geometry``): when the coarsest axis resolution is at most
:data:`ANISOTROPY_LIMIT` times the finest, the filters are 3D and each axis gets
``sigma * finest / resolution_axis`` (near-isotropic data, e.g. FIB-SEM); otherwise every z
section is filtered on its own in 2D (ssTEM, 40x4x4 nm: a z step is ten in-plane pixels, so a 3D
Gaussian would either blur across sections or not smooth in z at all).

Memory: :func:`features_blockwise` computes the bank on z slabs of ``block_z`` sections with a
halo of ``ceil(4 sigma)`` sections (3D geometry only; 2D needs none) and hands back each slab's
interior, so a 250^3 volume never holds more than one slab's features.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: axis-resolution ratio above which filters run per section (2D) instead of in 3D
ANISOTROPY_LIMIT = 2.0
#: filter radius in sigmas (scipy's default truncate is 4.0)
TRUNCATE = 4.0
#: ratio of the inner Gaussian in the difference of Gaussians (Ilastik's)
DOG_RATIO = 0.66


@dataclass(frozen=True)
class FilterGeometry:
    """How the bank is applied: ``ndim`` 2 (per section) or 3, and per-axis sigma scale."""

    ndim: int
    #: multiply a sigma by these to get per-axis sigmas (length ``ndim``, axes (z,) y, x)
    axis_scale: tuple[float, ...]


def filter_geometry(resolution_nm: Sequence[float]) -> FilterGeometry:
    """The rule of the module docstring, from a (z, y, x) resolution in nm."""
    res = [float(r) for r in resolution_nm]
    if len(res) != 3 or min(res) <= 0:
        raise ValueError(f"resolution_nm must be three positive (z, y, x) values, got {res}")
    finest = min(res)
    if max(res) / finest > ANISOTROPY_LIMIT:
        return FilterGeometry(2, (finest / res[1], finest / res[2]))
    return FilterGeometry(3, tuple(finest / r for r in res))


def n_features(n_scales: int, ndim: int) -> int:
    """Channels of the bank: raw + per scale (4 scalar filters + 2 x ndim eigenvalues)."""
    return 1 + n_scales * (4 + 2 * ndim)


def feature_names(sigmas: Sequence[float], ndim: int) -> list[str]:
    names = ["raw"]
    for s in sigmas:
        names += [f"gauss_{s:g}", f"gradmag_{s:g}", f"log_{s:g}", f"dog_{s:g}"]
        names += [f"st_ev{i}_{s:g}" for i in range(ndim)]
        names += [f"hess_ev{i}_{s:g}" for i in range(ndim)]
    return names


def halo(sigmas: Sequence[float], geometry: FilterGeometry) -> tuple[int, ...]:
    """Voxels each filtered axis needs beyond a block: ``ceil(4 sigma_axis)`` of the largest
    effective sigma (the structure tensor's outer plus inner smoothing is the widest)."""
    widest = max(sigmas) * 1.5
    return tuple(int(math.ceil(TRUNCATE * widest * a)) for a in geometry.axis_scale)


def radius(sigmas: Sequence[float], geometry: FilterGeometry) -> tuple[int, ...]:
    """Per filtered axis, the radius ``ceil(4 sigma_axis)`` of the largest Gaussian."""
    return tuple(int(math.ceil(TRUNCATE * max(sigmas) * a)) for a in geometry.axis_scale)


def check_size(shape: Sequence[int], sigmas: Sequence[float], geometry: FilterGeometry) -> None:
    """Raise a clear error when a filtered axis is no longer than the largest filter's radius
    (the filters would then see mostly mirrored copies of the volume, not data)."""
    h = radius(sigmas, geometry)
    spatial = tuple(shape)[-geometry.ndim:]
    if any(n <= r for n, r in zip(spatial, h, strict=True)):
        axes = "zyx"[-geometry.ndim:]
        raise ValueError(
            f"volume of shape {tuple(shape)} is too small for the filter bank: axes "
            f"{axes} need more than {h} voxels (the radius of sigma {max(sigmas):g}; "
            f"reduce the recipe's sigmas or use a larger volume)"
        )


def _eigenvalues(tensor: list[list[np.ndarray]]) -> np.ndarray:
    """Descending eigenvalues of a symmetric 2x2 or 3x3 field (nested list of arrays).

    Closed form (the trigonometric solution of the characteristic cubic for 3x3), computed in
    float64 and returned as float32: about 20x faster than ``np.linalg.eigvalsh`` per voxel.
    """
    if len(tensor) == 2:
        a, b, d = (np.asarray(t, dtype=np.float64) for t in (tensor[0][0], tensor[0][1],
                                                               tensor[1][1]))
        mean = 0.5 * (a + d)
        r = np.sqrt(0.25 * (a - d) ** 2 + b * b)
        return np.stack([mean + r, mean - r]).astype(np.float32)
    a11, a12, a13 = (np.asarray(t, dtype=np.float64) for t in tensor[0])
    a22, a23, a33 = (np.asarray(t, dtype=np.float64) for t in (tensor[1][1], tensor[1][2],
                                                                tensor[2][2]))
    q = (a11 + a22 + a33) / 3.0
    off = a12 * a12 + a13 * a13 + a23 * a23
    b11, b22, b33 = a11 - q, a22 - q, a33 - q
    p = np.sqrt((b11 * b11 + b22 * b22 + b33 * b33 + 2.0 * off) / 6.0)
    safe = np.where(p > 0, p, 1.0)
    # det((A - qI) / p) / 2, clipped into [-1, 1] against rounding
    det = (b11 * (b22 * b33 - a23 * a23) - a12 * (a12 * b33 - a23 * a13)
           + a13 * (a12 * a23 - b22 * a13))
    r = np.clip(det / (2.0 * safe ** 3), -1.0, 1.0)
    phi = np.arccos(r) / 3.0
    e1 = q + 2.0 * p * np.cos(phi)
    e3 = q + 2.0 * p * np.cos(phi + 2.0 * np.pi / 3.0)
    e2 = 3.0 * q - e1 - e3
    return np.stack([e1, e2, e3]).astype(np.float32)


def _bank(image: np.ndarray, sigmas: Sequence[float], axis_scale: Sequence[float]) -> np.ndarray:
    """All features of one 2D or 3D float32 image, ``(F, *image.shape)``."""
    nd = image.ndim
    out = np.empty((n_features(len(sigmas), nd), *image.shape), dtype=np.float32)
    out[0] = image
    k = 1

    def sig(s: float) -> list[float]:
        return [s * a for a in axis_scale]

    def deriv(s: float, order: list[int]) -> np.ndarray:
        return ndimage.gaussian_filter(image, sig(s), order=order, truncate=TRUNCATE,
                                       output=np.float32)

    for s in sigmas:
        smooth = ndimage.gaussian_filter(image, sig(s), truncate=TRUNCATE, output=np.float32)
        out[k] = smooth
        grads = [deriv(s, [int(i == a) for i in range(nd)]) for a in range(nd)]
        out[k + 1] = np.sqrt(sum(g * g for g in grads))
        hess = [[None] * nd for _ in range(nd)]
        for a in range(nd):
            for b in range(a, nd):
                order = [0] * nd
                order[a] += 1
                order[b] += 1
                hess[a][b] = hess[b][a] = deriv(s, order)
        out[k + 2] = sum(hess[a][a] for a in range(nd))
        out[k + 3] = smooth - ndimage.gaussian_filter(
            image, sig(DOG_RATIO * s), truncate=TRUNCATE, output=np.float32
        )
        # structure tensor: inner gradients at sigma/2, smoothed at sigma
        inner = [deriv(s / 2, [int(i == a) for i in range(nd)]) for a in range(nd)]
        st = [[None] * nd for _ in range(nd)]
        for a in range(nd):
            for b in range(a, nd):
                st[a][b] = st[b][a] = ndimage.gaussian_filter(
                    inner[a] * inner[b], sig(s), truncate=TRUNCATE, output=np.float32
                )
        out[k + 4:k + 4 + nd] = _eigenvalues(st)
        out[k + 4 + nd:k + 4 + 2 * nd] = _eigenvalues(hess)
        k += 4 + 2 * nd
    return out


def compute_features(
    raw: np.ndarray, sigmas: Sequence[float], geometry: FilterGeometry
) -> np.ndarray:
    """The bank on a whole ``(Z, Y, X)`` volume: float32 ``(F, Z, Y, X)``."""
    image = np.asarray(raw, dtype=np.float32) / 255.0
    if geometry.ndim == 3:
        return _bank(image, sigmas, geometry.axis_scale)
    out = np.empty((n_features(len(sigmas), 2), *image.shape), dtype=np.float32)
    for z in range(image.shape[0]):
        out[:, z] = _bank(image[z], sigmas, geometry.axis_scale)
    return out


def features_blockwise(
    raw: np.ndarray, sigmas: Sequence[float], geometry: FilterGeometry, block_z: int = 32
) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(z0, z1, features of sections [z0, z1))`` slab by slab, bounded memory.

    3D geometry computes each slab with ``halo`` extra sections on both sides (clipped at the
    volume) and crops them away, so the result equals :func:`compute_features` on the whole
    volume up to float rounding.
    """
    raw = np.asarray(raw)
    if raw.ndim != 3:
        raise ValueError(f"raw must be (Z, Y, X), got shape {raw.shape}")
    check_size(raw.shape, sigmas, geometry)
    depth = raw.shape[0]
    hz = halo(sigmas, geometry)[0] if geometry.ndim == 3 else 0
    for z0 in range(0, depth, block_z):
        z1 = min(depth, z0 + block_z)
        a, b = max(0, z0 - hz), min(depth, z1 + hz)
        if (a, b) == (z0, z1):
            yield z0, z1, compute_features(raw[a:b], sigmas, geometry)
        else:
            # a copy of the interior, so the halo sections are freed before the caller runs
            yield z0, z1, compute_features(raw[a:b], sigmas, geometry)[:, z0 - a:z1 - a].copy()
