"""Seeded training augmentations (docs/cad.md section 6, plus misalignment and missing sections).

Arrays are ``(Z, Y, X)``: ``raw`` float32 in [0, 1], ``labels`` integer (0 = background). Every
random draw comes from the ``numpy.random.Generator`` passed in, so a run is reproducible from
its seed and resumable from the generator's saved state.

The official pipeline (``augs_mix``) runs with probability 0.5; inside it each enabled
augmentation runs with probability 0.5, in the order flip -> rotate -> rescale -> elastic ->
grayscale. Misalignment and missing sections are not in the official recipe; they run after it,
each with its own probability (0 disables them).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from scipy import ndimage

__all__ = [
    "AugmentConfig",
    "augment",
    "elastic",
    "flip",
    "grayscale",
    "misalign",
    "missing_section",
    "rescale",
    "rotate",
]


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations run (official ``if_*_aug`` switches) and their parameters."""

    enabled: bool = True
    p_mix: float = 0.5  # probability that the official augmentation block runs at all
    p_each: float = 0.5  # probability of each enabled augmentation inside it
    flip: bool = True
    rotate: bool = True
    rescale: bool = False  # official: 2D provider only
    elastic: bool = True
    grayscale: bool = True
    elastic_alpha: float = 16.0
    elastic_sigma: float = 4.0
    rescale_range: tuple[float, float] = (0.8, 1.2)
    p_misalign: float = 0.0
    misalign_max_px: int = 8
    p_missing_section: float = 0.0

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> AugmentConfig:
        d = dict(d or {})
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - valid)
        if unknown:
            raise ValueError(f"augment: unknown keys {unknown}; valid keys: {sorted(valid)}")
        if "rescale_range" in d:
            d["rescale_range"] = tuple(float(v) for v in d["rescale_range"])
        return cls(**d)


def _check(raw: np.ndarray, labels: np.ndarray) -> None:
    if raw.ndim != 3 or raw.shape != labels.shape:
        raise ValueError(f"raw {raw.shape} and labels {labels.shape}: expected one (Z, Y, X) shape")


def flip(raw, labels, rng: np.random.Generator):
    """Random z-reverse, y-flip, x-flip and y/x transpose (each 50 %; no z transpose)."""
    if rng.random() < 0.5:
        raw, labels = raw[::-1], labels[::-1]
    if rng.random() < 0.5:
        raw, labels = raw[:, ::-1], labels[:, ::-1]
    if rng.random() < 0.5:
        raw, labels = raw[:, :, ::-1], labels[:, :, ::-1]
    # the draw happens even for non-square patches so the random stream does not depend on shape
    if rng.random() < 0.5 and raw.shape[1] == raw.shape[2]:
        raw, labels = raw.transpose(0, 2, 1), labels.transpose(0, 2, 1)
    return np.ascontiguousarray(raw), np.ascontiguousarray(labels)


def rotate(raw, labels, rng: np.random.Generator):
    """In-plane rotation by U[0, 360) degrees: linear for raw, nearest for labels, zero border."""
    angle = float(rng.uniform(0.0, 360.0))
    raw = ndimage.rotate(raw, angle, axes=(1, 2), reshape=False, order=1, mode="constant")
    labels = ndimage.rotate(labels, angle, axes=(1, 2), reshape=False, order=0, mode="constant")
    return raw, labels


def _fit_to(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Centre-crop or zero-pad the last two axes of ``a`` to ``shape``."""
    out = np.zeros((a.shape[0], *shape), a.dtype)
    src, dst = [], []
    for n_in, n_out in zip(a.shape[1:], shape, strict=True):
        if n_in >= n_out:
            o = (n_in - n_out) // 2
            src.append(slice(o, o + n_out))
            dst.append(slice(0, n_out))
        else:
            o = (n_out - n_in) // 2
            src.append(slice(0, n_in))
            dst.append(slice(o, o + n_in))
    out[(slice(None), *dst)] = a[(slice(None), *src)]
    return out


def rescale(raw, labels, rng: np.random.Generator, scale_range=(0.8, 1.2)):
    """Independent y and x scales in ``scale_range``; centre crop or zero-pad back to size."""
    sy, sx = (float(rng.uniform(*scale_range)) for _ in range(2))
    shape = raw.shape[1:]
    raw_s = ndimage.zoom(raw, (1, sy, sx), order=1, grid_mode=True, mode="nearest")
    lab_s = ndimage.zoom(labels, (1, sy, sx), order=0, grid_mode=True, mode="nearest")
    return _fit_to(raw_s, shape), _fit_to(lab_s, shape)


def elastic(raw, labels, rng: np.random.Generator, alpha=16.0, sigma=4.0):
    """One smooth in-plane displacement field (Gaussian-smoothed U[-1, 1] x alpha) for all z."""
    _, ny, nx = raw.shape
    dy = ndimage.gaussian_filter(rng.uniform(-1, 1, (ny, nx)), sigma) * alpha
    dx = ndimage.gaussian_filter(rng.uniform(-1, 1, (ny, nx)), sigma) * alpha
    yy, xx = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    coords = np.stack([yy + dy, xx + dx])
    out_raw = np.empty_like(raw)
    out_lab = np.empty_like(labels)
    for z in range(raw.shape[0]):
        out_raw[z] = ndimage.map_coordinates(raw[z], coords, order=1, mode="reflect")
        out_lab[z] = ndimage.map_coordinates(labels[z], coords, order=0, mode="reflect")
    return out_raw, out_lab


def _gray_params(rng: np.random.Generator) -> tuple[float, float, float]:
    contrast = 1.0 + (rng.random() - 0.5) * 0.3
    brightness = (rng.random() - 0.5) * 0.3
    gamma = 2.0 ** (2.0 * rng.random() - 1.0)
    return contrast, brightness, gamma


def grayscale(raw, rng: np.random.Generator):
    """Contrast, brightness, clip, gamma; per volume or per section (50/50)."""
    raw = raw.astype(np.float32, copy=True)
    if rng.random() < 0.5:
        groups = [slice(None)]
    else:
        groups = [slice(z, z + 1) for z in range(raw.shape[0])]
    for g in groups:
        c, b, gamma = _gray_params(rng)
        raw[g] = np.clip(raw[g] * c + b, 0.0, 1.0) ** gamma
    return raw


def misalign(raw, labels, rng: np.random.Generator, max_px: int = 8):
    """Translate the sections from a random z on by an integer in-plane shift.

    Labels move with the raw data, so the z affinities across the cut follow the objects (as in
    Lee et al. 2017). Edges are filled by reflection.
    """
    nz = raw.shape[0]
    if nz < 2 or max_px < 1:
        return raw, labels
    z0 = int(rng.integers(1, nz))
    dy, dx = (int(v) for v in rng.integers(-max_px, max_px + 1, size=2))
    raw, labels = raw.copy(), labels.copy()
    for a in (raw, labels):
        tail = a[z0:]
        a[z0:] = _shift_reflect(tail, dy, dx)
    return raw, labels


def _shift_reflect(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    _, ny, nx = a.shape
    py, px = min(abs(dy), ny - 1), min(abs(dx), nx - 1)
    padded = np.pad(a, ((0, 0), (py, py), (px, px)), mode="reflect")
    y0, x0 = py - int(np.clip(dy, -py, py)), px - int(np.clip(dx, -px, px))
    return padded[:, y0 : y0 + ny, x0 : x0 + nx]


def missing_section(raw, rng: np.random.Generator):
    """Blank one random section of the raw data (labels unchanged: the net must interpolate)."""
    raw = raw.copy()
    raw[int(rng.integers(0, raw.shape[0]))] = 0.0
    return raw


def augment(
    raw: np.ndarray, labels: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Apply the configured augmentations to one ``(Z, Y, X)`` patch.

    Parameters
    ----------
    raw
        float32 in [0, 1].
    labels
        Integer labels of the same shape (nearest-neighbour interpolation throughout).
    rng
        The run's generator (advanced in place).
    cfg
        :class:`AugmentConfig`.

    Returns
    -------
    (raw, labels)
        New contiguous arrays of the input shape; raw float32 in [0, 1].
    """
    _check(raw, labels)
    raw = raw.astype(np.float32, copy=False)
    if not cfg.enabled:
        return raw, labels
    if rng.random() < cfg.p_mix:
        if cfg.flip and rng.random() < cfg.p_each:
            raw, labels = flip(raw, labels, rng)
        if cfg.rotate and rng.random() < cfg.p_each:
            raw, labels = rotate(raw, labels, rng)
        if cfg.rescale and rng.random() < cfg.p_each:
            raw, labels = rescale(raw, labels, rng, cfg.rescale_range)
        if cfg.elastic and rng.random() < cfg.p_each:
            raw, labels = elastic(raw, labels, rng, cfg.elastic_alpha, cfg.elastic_sigma)
        if cfg.grayscale and rng.random() < cfg.p_each:
            raw = grayscale(raw, rng)
    if cfg.p_misalign > 0 and rng.random() < cfg.p_misalign:
        raw, labels = misalign(raw, labels, rng, cfg.misalign_max_px)
    if cfg.p_missing_section > 0 and rng.random() < cfg.p_missing_section:
        raw = missing_section(raw, rng)
    return np.ascontiguousarray(np.clip(raw, 0.0, 1.0), np.float32), np.ascontiguousarray(labels)
