"""Blockwise affinity prediction: ``predict_fn(raw_block) -> (C, z, y, x)`` with its context.

A :class:`BlockPredictor` is any callable from a ``(z, y, x)`` uint8 raw region to float32
affinities ``(C, z, y, x)`` of the same region, plus the context it needs: ``(before, after)``
voxels per axis. A block reads its write region grown by that context (clipped to the volume),
predicts, and keeps only the write region. For a predictor whose output at a voxel depends only
on raw within that context (and which handles the volume edge the same way whole or blockwise),
blockwise output equals whole-volume output exactly.

Each method declares its context (``block_context()``, :mod:`bench.network_method`):

- 2D section-pair methods (``cad``, ``unet2d``) need one section before in z (the pair
  (z-1, z)); in y/x, blocks should span whole sections, or the student sees a cut section (its
  receptive field is larger than any practical halo, see :func:`bench.infer.predict_section_pairs`).
- 3D methods (``superhuman3d``, ``mala3d``) need a halo on every axis; their sliding-window
  blending then differs from the whole-volume one only by where windows fall (not exact).

Affinities: channel order (z, y, x), the value at v is the affinity of v to ``v - e_axis``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.blockwise.blocks import Block, Context, as_context


@dataclass(frozen=True)
class BlockPredictor:
    """A prediction function and the context it needs.

    Attributes
    ----------
    fn
        ``fn(raw) -> affs``: ``raw`` ``(z, y, x)`` uint8, ``affs`` float32 ``(C, z, y, x)``.
    context
        ``((z_before, z_after), (y_before, y_after), (x_before, x_after))`` voxels.
    out_channels
        ``C``.
    name
        For logs and the resume check.
    """

    fn: Callable[[np.ndarray], np.ndarray]
    context: Context = ((0, 0), (0, 0), (0, 0))
    out_channels: int = 3
    name: str = "predictor"

    def __post_init__(self) -> None:
        object.__setattr__(self, "context", as_context(self.context))

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        return self.fn(raw)


def intensity_affinities(raw: np.ndarray) -> np.ndarray:
    """A network-free, deterministic predictor for tests and benchmarks: dark membranes are
    boundaries. ``aff_axis(v) = min(raw[v], raw[v - e_axis]) / 255``; at the first plane of an
    axis (no predecessor) ``raw[v] / 255``. Context: one voxel before on every axis."""
    if raw.ndim != 3:
        raise ValueError(f"raw: expected (Z, Y, X), got shape {raw.shape}")
    r = np.asarray(raw, dtype=np.float32) / np.float32(255.0)
    affs = np.empty((3, *r.shape), np.float32)
    for axis in range(3):
        a = affs[axis]
        a[...] = r
        lead = [slice(None)] * 3
        prev = [slice(None)] * 3
        lead[axis] = slice(1, None)
        prev[axis] = slice(None, -1)
        np.minimum(r[tuple(lead)], r[tuple(prev)], out=a[tuple(lead)])
    return affs


INTENSITY_PREDICTOR = BlockPredictor(
    intensity_affinities, ((1, 0), (1, 0), (1, 0)), 3, "intensity"
)


def predictor_for_method(method: Any, context: Any = None) -> BlockPredictor:
    """Wrap a :class:`bench.method.Method` as a :class:`BlockPredictor`.

    Default context: the method's own ``block_context()`` (its reach: for the section-pair
    methods one section before in z plus ``infer_overlap`` pixels in y/x, for the 3D methods
    half the inference window on every side, for ``rf`` its filter halo; see
    :mod:`bench.network_method`); for a method without one, its family's (:func:`_family_context`).
    ``context`` overrides it (anything :func:`bench.blockwise.blocks.as_context` accepts).
    """
    if isinstance(method, BlockPredictor):
        return method if context is None else BlockPredictor(
            method.fn, context, method.out_channels, method.name)
    if not callable(getattr(method, "predict", None)):
        raise TypeError(
            f"method: expected a bench.method.Method or BlockPredictor, got {type(method).__name__}"
        )
    if context is None and callable(getattr(method, "block_context", None)):
        context = method.block_context()
    if context is None:
        context = _family_context(method)
    if context is None:
        raise ValueError(
            f"method {getattr(method, 'name', '?')!r} defines no block_context(); pass "
            "context= explicitly (voxels of raw each block needs around its write region)"
        )
    return BlockPredictor(method.predict, context, 3, str(getattr(method, "name", "method")))


def _family_context(method: Any) -> Any:
    """The context of a method on no public base (an outside ``Method`` subclass) from its
    family, as before methods declared it: section pairs ("2d", "distilled"): one section
    before plus ``infer_overlap`` in y/x; "3d": half its recipe's ``infer_window``."""
    family = getattr(method, "family", "")
    config = getattr(method, "config", {}) or {}
    if family in ("2d", "distilled"):
        h = int(config.get("infer_overlap", 0) or 0)
        return ((1, 0), (h, h), (h, h))
    if family == "3d" and config.get("infer_window"):
        return tuple(int(w) // 2 for w in config["infer_window"])
    return None


class PredictTask:
    """What one block computes for prediction: read raw with context, predict, crop, write.

    ``raw`` is any sliceable ``(Z, Y, X)`` uint8 array (numpy, zarr, h5py, SyntheticArray);
    ``out`` a zarr array ``(C, Z, Y, X)`` whose chunks are the blocks (so writes never share a
    chunk). Picklable when ``raw``, ``out`` and the predictor are.
    """

    def __init__(self, raw: Any, out: Any, predictor: BlockPredictor):
        self.raw = raw
        self.out = out
        self.predictor = predictor

    def __call__(self, block: Block) -> dict[str, Any]:
        region = np.asarray(self.raw[block.read_slices])
        affs = np.asarray(self.predictor(region), dtype=np.float32)
        expected = (self.predictor.out_channels, *region.shape)
        if affs.shape != expected:
            raise ValueError(
                f"predictor {self.predictor.name!r} returned shape {affs.shape} for a raw "
                f"region of shape {region.shape}; expected {expected}"
            )
        self.out[(slice(None), *block.write_slices)] = affs[(slice(None), *block.crop)]
        return {}
