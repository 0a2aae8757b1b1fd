"""Mutex watershed through elf, for methods that predict long-range affinities.

Input: affinities ``(C, Z, Y, X)`` with one offset per channel; the first three channels must be
the nearest neighbours ``(-1,0,0), (0,-1,0), (0,0,-1)`` (attractive edges), the others
long-range (repulsive edges), e.g. the 12 channels of the CAD 3D teacher
(:func:`bench.segment.convert.cad_teacher_offsets`). elf wants boundary-like values (high =
cut) on every channel, so ``1 - affs`` is what it receives: attractive weight ``A``, repulsive
weight ``1 - A``.

Swept parameter ``bias`` shifts the repulsive weights to ``clip(1 - A + bias - 0.5, 0, 1)``:
0.5 is the unbiased mutex watershed, larger values split more. Each value is a separate run
(the algorithm has no shared state to reuse), so a sweep costs one run per value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.registry import register_postprocessor
from bench.segment.base import PostProcessor, renumber
from bench.segment.convert import NEAREST_OFFSETS, cad_teacher_offsets
from bench.segment.validate import validate_affinities, validate_offsets


@register_postprocessor(
    "mws", description="elf mutex watershed on long-range affinities (needs > 3 channels); "
    "sweep: bias"
)
class Mws(PostProcessor):
    """Mutex watershed; fixed parameters ``offsets`` (default: the CAD teacher's 12 offsets),
    ``strides`` (sub-sampling of the repulsive edges, default CAD's ``(1, 10, 10)``) and
    ``randomize_strides``; swept parameter ``bias``."""

    name = "mws"
    parameter = "bias"
    default_value = 0.5
    default_values = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
    cheap_sweep = False

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return dict(offsets=None, strides=(1, 10, 10), randomize_strides=False)

    def offsets(self, n_channels: int) -> list[list[int]]:
        """The offsets for ``n_channels`` channels, checked."""
        if n_channels <= 3:
            raise ValueError(
                f"mutex watershed needs long-range affinities (repulsive edges), but affs has "
                f"only {n_channels} channels: use waterz or lmc for nearest-neighbour affinities, "
                "or a method that predicts long-range ones (e.g. the 12-channel 3D teacher, "
                "offsets bench.segment.convert.cad_teacher_offsets())"
            )
        offsets = self.params["offsets"]
        if offsets is None:
            if n_channels != 12:
                raise ValueError(
                    f"affs has {n_channels} channels; pass offsets=[(dz, dy, dx), ...] (one per "
                    "channel): the default offsets are the CAD teacher's 12"
                )
            offsets = cad_teacher_offsets()
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
        from elf.segmentation.mutex_watershed import mutex_watershed

        values = self._values(values)
        affs = validate_affinities(affs)
        offsets = self.offsets(affs.shape[0])
        strides = [int(s) for s in self.params["strides"]]
        if len(strides) != 3 or min(strides) < 1:
            raise ValueError(f"mws strides must be three positive ints, got {strides}")
        results = []
        for bias in values:
            if not 0.0 <= bias <= 1.0:
                raise ValueError(f"mws bias must be in [0, 1], got {bias}")
            weights = 1.0 - affs  # fresh array: elf modifies its input in place
            if bias != 0.5:
                weights[3:] = np.clip(weights[3:] + (bias - 0.5), 0.0, 1.0)
            labels = mutex_watershed(
                weights, offsets, strides, randomize_strides=self.params["randomize_strides"]
            )
            results.append((bias, renumber(labels)))
        return results
