"""Checks at the door of every post-processor.

Affinities are float ``(C, Z, Y, X)`` in [0, 1], channel order (z, y, x) for the first three
channels, value at voxel ``v`` = affinity of ``v`` to ``v - e_axis``. Values at most
``CLIP_TOLERANCE`` outside [0, 1] (float rounding of a sigmoid, interpolation overshoot) are
clipped silently; anything further out is an error, because it means the array is not a
probability (logits, uint8 0..255, a boundary map in the wrong units).
"""

from __future__ import annotations

import numpy as np

#: values in [-CLIP_TOLERANCE, 1 + CLIP_TOLERANCE] are clipped to [0, 1]; beyond is an error
CLIP_TOLERANCE = 1e-3


def validate_affinities(
    affs: np.ndarray,
    *,
    n_channels: int | None = None,
    min_channels: int = 3,
    name: str = "affs",
    tolerance: float = CLIP_TOLERANCE,
) -> np.ndarray:
    """Return ``affs`` as C-contiguous float32 in [0, 1], or raise a ``ValueError``.

    Parameters
    ----------
    affs
        Affinities ``(C, Z, Y, X)``; any float dtype.
    n_channels
        Exact channel count required, or ``None`` for "at least ``min_channels``".
    min_channels
        Smallest channel count accepted when ``n_channels`` is ``None``.
    name
        The argument's name, used in error messages.
    tolerance
        Values within this distance outside [0, 1] are clipped, further ones rejected.
    """
    if not isinstance(affs, np.ndarray):
        raise TypeError(f"{name} must be a numpy array (C, Z, Y, X), not {type(affs).__name__}")
    if affs.ndim != 4:
        raise ValueError(
            f"{name} must have 4 dimensions (C, Z, Y, X) with channels (z, y, x) first, "
            f"got shape {affs.shape}"
        )
    channels = affs.shape[0]
    if n_channels is not None and channels != n_channels:
        raise ValueError(f"{name} must have {n_channels} channels, got {channels} ({affs.shape})")
    if n_channels is None and channels < min_channels:
        raise ValueError(
            f"{name} must have at least {min_channels} channels (z, y, x nearest-neighbour "
            f"affinities first), got {channels} ({affs.shape})"
        )
    if min(affs.shape[1:]) < 1:
        raise ValueError(f"{name} has an empty spatial shape {affs.shape[1:]}")
    if not np.issubdtype(affs.dtype, np.floating):
        raise ValueError(
            f"{name} must be floating point in [0, 1], got dtype {affs.dtype} "
            "(divide uint8 predictions by 255 first)"
        )
    out = np.ascontiguousarray(affs, dtype=np.float32)
    finite = np.isfinite(out)
    if not finite.all():
        bad = np.argwhere(~finite)
        n_nan = int(np.isnan(out).sum())
        n_inf = int(bad.shape[0] - n_nan)
        raise ValueError(
            f"{name} contains {n_nan} NaN and {n_inf} infinite values "
            f"(first at index (c, z, y, x) = {tuple(int(i) for i in bad[0])})"
        )
    lo, hi = float(out.min()), float(out.max())
    if lo < -tolerance or hi > 1.0 + tolerance:
        raise ValueError(
            f"{name} must lie in [0, 1] (values within {tolerance:g} outside are clipped), "
            f"got range [{lo:.6g}, {hi:.6g}]: are these logits or 0..255 values?"
        )
    if lo < 0.0 or hi > 1.0:
        out = np.clip(out, 0.0, 1.0) if out is affs else np.clip(out, 0.0, 1.0, out=out)
    return out


def validate_fragments(fragments: np.ndarray, spatial_shape: tuple[int, ...]) -> np.ndarray:
    """Return ``fragments`` as C-contiguous uint64 of shape ``spatial_shape``, or raise."""
    if not isinstance(fragments, np.ndarray):
        raise TypeError(f"fragments must be a numpy array (Z, Y, X), not {type(fragments)}")
    if fragments.shape != tuple(spatial_shape):
        raise ValueError(
            f"fragments shape {fragments.shape} does not match the affinities' spatial shape "
            f"{tuple(spatial_shape)} (affs are (C, Z, Y, X), fragments (Z, Y, X))"
        )
    if not np.issubdtype(fragments.dtype, np.integer):
        raise ValueError(f"fragments must have an integer dtype, got {fragments.dtype}")
    if np.issubdtype(fragments.dtype, np.signedinteger) and fragments.size and fragments.min() < 0:
        raise ValueError("fragments must be non-negative ids (0 = no fragment)")
    return np.ascontiguousarray(fragments, dtype=np.uint64)


def validate_offsets(offsets, n_channels: int) -> list[list[int]]:
    """Return ``offsets`` as a list of 3-int lists, one per affinity channel, or raise."""
    try:
        out = [[int(v) for v in o] for o in offsets]
    except TypeError:
        raise ValueError(
            f"offsets must be a list of (dz, dy, dx) triples, got {offsets!r}"
        ) from None
    if any(len(o) != 3 for o in out):
        raise ValueError(f"each offset must be (dz, dy, dx), got {offsets!r}")
    if len(out) != n_channels:
        raise ValueError(
            f"got {len(out)} offsets for {n_channels} affinity channels; give one (dz, dy, dx) "
            "per channel"
        )
    return out
