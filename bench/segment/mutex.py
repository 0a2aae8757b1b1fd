"""Mutex watershed through elf, for methods that predict long-range affinities.

Input: affinities ``(C, Z, Y, X)`` with one offset per channel; the first three channels must be
the nearest neighbours ``(-1,0,0), (0,-1,0), (0,0,-1)`` (attractive edges), the others
long-range (repulsive edges), e.g. the 12 channels of the CAD 3D teacher
(:func:`bench.segment.convert.long_range_offsets`). elf wants boundary-like values (high =
cut) on every channel, so ``1 - affs`` is what it receives: attractive weight ``A``, repulsive
weight ``1 - A``.

In that form a nearest-neighbour affinity of 0 repels nothing: it is only the last attractive
edge in the queue, and it merges its two voxels unless a sub-sampled long-range edge happens to
separate their clusters, so even perfect affinities can merge two touching objects (2 of 12 test
volumes). So every nearest-neighbour edge is also a mutex edge, of the small weight
``nearest_repulsion * (1 - A)`` (default 0.1, never sub-sampled): it comes after every attractive
edge with ``A`` above about 0.09 and only separates what the algorithm would otherwise join as a
last resort, through affinities near 0. On the superhuman3d synthetic predictions test VOI went
from 1.267 to 1.265; with the full weight ``1 - A`` instead it rose to 1.45.
Voxels that this leaves on their own (all their affinities near 0: membrane) are then given to
a neighbouring segment (:func:`absorb_singletons`), which the plain algorithm does implicitly:
datasets whose ground truth labels membranes as part of neurons (gala_fib, SNEMI) would
otherwise count every such voxel as a split. ``nearest_repulsion=0`` is the plain grid mutex
watershed (equal to elf's ``mutex_watershed`` with the same strides; a test checks it).

Swept parameter ``bias`` shifts the repulsive weights to ``clip(1 - A + bias - 0.5, 0, 1)``:
0.5 is the unbiased mutex watershed, larger values split more. Each value is a separate run
(the algorithm has no shared state to reuse), so a sweep costs one run per value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bench import progress
from bench.registries import register_postprocessor
from bench.segment.base import PostProcessor, renumber
from bench.segment.convert import NEAREST_OFFSETS, long_range_offsets
from bench.segment.validate import validate_affinities, validate_offsets


@register_postprocessor
class Mws(PostProcessor):
    """Mutex watershed; fixed parameters ``offsets`` (default: the CAD teacher's 12 offsets),
    ``strides`` (sub-sampling of the long-range repulsive edges, default CAD's ``(1, 10, 10)``),
    ``randomize_strides`` (keep each long-range edge with probability 1 / prod(strides), fixed
    seed) and ``nearest_repulsion`` (see the module docstring); swept parameter ``bias``."""

    name = "mws"
    #: shown by ``python -m bench list``
    description = (
        "elf mutex watershed on long-range affinities (needs > 3 channels); sweep: bias"
    )
    parameter = "bias"
    default_value = 0.5
    default_values = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
    cheap_sweep = False

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return dict(
            offsets=None, strides=(1, 10, 10), randomize_strides=False, nearest_repulsion=0.1
        )

    def offsets(self, n_channels: int) -> list[list[int]]:
        """The offsets for ``n_channels`` channels, checked."""
        if n_channels <= 3:
            raise ValueError(
                f"mutex watershed needs long-range affinities (repulsive edges), but affs has "
                f"only {n_channels} channels: use waterz or lmc for nearest-neighbour affinities, "
                "or a method that predicts long-range ones (e.g. the 12-channel 3D teacher, "
                "offsets bench.segment.convert.long_range_offsets())"
            )
        offsets = self.params["offsets"]
        if offsets is None:
            if n_channels != 12:
                raise ValueError(
                    f"affs has {n_channels} channels; pass offsets=[(dz, dy, dx), ...] (one per "
                    "channel): the default offsets are the CAD teacher's 12"
                )
            offsets = long_range_offsets()
        offsets = validate_offsets(offsets, n_channels)
        if offsets[:3] != NEAREST_OFFSETS:
            raise ValueError(
                f"the first three offsets must be the nearest neighbours {NEAREST_OFFSETS} "
                f"(attractive channels), got {offsets[:3]}"
            )
        return offsets

    def sweep(
        self, affs: np.ndarray, values: Sequence[float] | None = None
    ) -> list[tuple[float, np.ndarray]]:
        values = self._values(values)
        affs = validate_affinities(affs)
        offsets = self.offsets(affs.shape[0])
        strides = [int(s) for s in self.params["strides"]]
        if len(strides) != 3 or min(strides) < 1:
            raise ValueError(f"mws strides must be three positive ints, got {strides}")
        if not 0.0 <= float(self.params["nearest_repulsion"]) <= 1.0:
            raise ValueError(
                f"mws nearest_repulsion must be in [0, 1], got {self.params['nearest_repulsion']}"
            )
        results = []
        for bias in progress.bar(values, desc="mws sweep", unit="value"):
            if not 0.0 <= bias <= 1.0:
                raise ValueError(f"mws bias must be in [0, 1], got {bias}")
            results.append((bias, renumber(self._run(affs, offsets, strides, bias))))
        return results

    def _run(
        self, affs: np.ndarray, offsets: list[list[int]], strides: list[int], bias: float
    ) -> np.ndarray:
        import bioimage_cpp as bic

        # channels: nearest attractive (A), nearest repulsive (nearest_repulsion * (1 - A),
        # never sub-sampled), long-range repulsive (1 - A shifted by the bias). Long-range edges
        # left out by the sub-sampling get weight -1, which sorts them after every other edge,
        # where they can no longer change anything (a test checks that this equals elf's
        # sub-sampled mutex watershed)
        repulsive = np.clip(1.0 - affs[3:] + (bias - 0.5), 0.0, 1.0)
        if self.params["randomize_strides"]:
            left_out = np.random.default_rng(0).random(affs.shape[1:]) >= 1.0 / np.prod(strides)
        else:
            left_out = np.ones(affs.shape[1:], dtype=bool)
            left_out[:: strides[0], :: strides[1], :: strides[2]] = False
        repulsive[:, left_out] = -1.0
        channels, all_offsets = [affs[:3]], [*NEAREST_OFFSETS]
        strength = float(self.params["nearest_repulsion"])
        if strength > 0:
            channels.append(strength * (1.0 - affs[:3]))
            all_offsets += NEAREST_OFFSETS
        channels.append(repulsive)
        all_offsets += offsets[3:]
        weights = np.concatenate(channels).astype(np.float32, copy=False)
        labels = bic.segmentation.mutex_watershed(
            weights, all_offsets, number_of_attractive_channels=3
        )
        return absorb_singletons(labels, affs) if strength > 0 else labels


def absorb_singletons(labels: np.ndarray, affs: np.ndarray) -> np.ndarray:
    """Give every one-voxel segment to a neighbouring segment, flooding a boundary map.

    The weak nearest-neighbour repulsion leaves voxels whose every affinity is near 0 (membrane)
    on their own, where the plain algorithm would have merged them into some neighbour as a last
    resort; this does that merge without the risk of joining two objects through them. The
    flooding follows ``1 - mean(A_z, A_y, A_x)`` from the other segments (mahotas watershed).
    """
    import mahotas

    from bench.segment.fragments import boundary_from_affinities

    sizes = np.bincount(labels.ravel().astype(np.int64))
    alone = sizes[labels.astype(np.int64)] == 1
    if not alone.any() or alone.all():
        return labels
    markers = np.where(alone, 0, labels).astype(np.int64)
    surface = np.ascontiguousarray(boundary_from_affinities(affs, "3d"), dtype=np.float32)
    return mahotas.cwatershed(surface, markers).astype(np.uint64)
