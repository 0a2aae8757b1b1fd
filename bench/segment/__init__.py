"""Post-processing: affinities -> neuron segmentations.

Affinities are float32 ``(C, Z, Y, X)`` in [0, 1]; channels 0..2 are the nearest neighbours in
the order (z, y, x), the value at ``v`` being the affinity of ``v`` to ``v - e_axis``. Results
are uint64 ``(Z, Y, X)`` with consecutive ids.

Registered post-processors (``bench.registry.POSTPROCESSORS``):

- ``waterz``: per-section watershed fragments + waterz agglomeration (CAD); sweeps ``threshold``
  in one pass;
- ``lmc``: multicut of distance-transform watershed fragments (CAD's "LMC"); sweeps the boundary
  bias ``beta``, building the graph once;
- ``mws``: mutex watershed for long-range affinities; sweeps a repulsive ``bias``;
- ``gala`` and ``lmc-rf``: learned agglomeration and learned multicut with a random forest on
  region-adjacency-graph edge features, fitted on labelled validation data
  (:func:`select_learned`, see :mod:`bench.segment.learned`).

Use :func:`segment` for one result, :func:`sweep` for one per parameter value, and
:func:`select_parameter` to pick the value on validation data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.registry import POSTPROCESSORS
from bench.segment.base import PostProcessor
from bench.segment.convert import (
    NEAREST_OFFSETS,
    affinities_from_boundary,
    affinities_from_labels,
    long_range_offsets,
)
from bench.segment.fragments import watershed_fragments
from bench.segment.learned import Gala, LearnedMulticut, select_learned
from bench.segment.multicut import Lmc
from bench.segment.mutex import Mws
from bench.segment.selection import SelectionResult, parameter_name, select_parameter
from bench.segment.stats import measure
from bench.segment.validate import CLIP_TOLERANCE, validate_affinities
from bench.segment.waterz_agglomeration import (
    CAD_SCORING_FUNCTION,
    Waterz,
    scoring_function_status,
)

__all__ = [
    "CAD_SCORING_FUNCTION",
    "CLIP_TOLERANCE",
    "Gala",
    "LearnedMulticut",
    "NEAREST_OFFSETS",
    "Lmc",
    "Mws",
    "PostProcessor",
    "SelectionResult",
    "Waterz",
    "affinities_from_boundary",
    "affinities_from_labels",
    "long_range_offsets",
    "create_postprocessor",
    "parameter_name",
    "scoring_function_status",
    "segment",
    "select_learned",
    "select_parameter",
    "sweep",
    "timed_segment",
    "validate_affinities",
    "watershed_fragments",
]


def create_postprocessor(method: str, **params: Any) -> PostProcessor:
    """The registered post-processor ``method`` configured with ``params``."""
    if not isinstance(method, str):
        raise TypeError(f"method must be a post-processor name, got {type(method).__name__}")
    return POSTPROCESSORS.create(method, **params)


def _stats(method: str, affs: np.ndarray, n_values: int, measured: dict[str, Any]) -> dict:
    return {"method": method, "n_values": n_values, "shape": tuple(affs.shape[1:]), **measured}


def segment(
    affs: np.ndarray, method: str = "waterz", *, return_stats: bool = False, **params: Any
) -> np.ndarray | tuple[np.ndarray, dict[str, Any]]:
    """Segment affinities with a registered post-processor.

    Parameters
    ----------
    affs
        ``(C, Z, Y, X)`` float affinities in [0, 1] (values within ``CLIP_TOLERANCE`` outside
        are clipped; NaN, inf or values further out raise ``ValueError``).
    method
        ``"waterz"``, ``"lmc"`` or ``"mws"`` (see ``bench.registry.POSTPROCESSORS``).
    return_stats
        Also return a dict with ``seconds``, ``seconds_per_megavoxel`` and peak memory
        (``peak_rss_mb``, ``peak_increase_mb``; see :mod:`bench.segment.stats`).
    **params
        The swept parameter (``threshold``, ``beta``, ``bias``) and fixed ones.

    Returns
    -------
    labels, or (labels, stats)
        uint64 ``(Z, Y, X)``.
    """
    processor = create_postprocessor(method, **params)
    with measure(int(np.prod(np.shape(affs)[1:]))) as measured:
        labels = processor.segment(affs)
    if return_stats:
        return labels, _stats(method, affs, 1, measured)
    return labels


def timed_segment(
    affs: np.ndarray, method: str = "waterz", **params: Any
) -> tuple[np.ndarray, dict[str, Any]]:
    """``segment(..., return_stats=True)``: labels and their throughput / memory stats."""
    return segment(affs, method, return_stats=True, **params)  # type: ignore[return-value]


def sweep(
    affs: np.ndarray,
    method: str = "waterz",
    values: Sequence[float] | None = None,
    *,
    return_stats: bool = False,
    **params: Any,
) -> list[tuple[float, np.ndarray]] | tuple[list[tuple[float, np.ndarray]], dict[str, Any]]:
    """One segmentation per value of the method's swept parameter, sharing work where possible.

    ``values`` defaults to the method's ``default_values``; results come back as
    ``[(value, labels), ...]`` in the order of ``values``. waterz runs one agglomeration pass for
    all thresholds; lmc builds fragments, graph and features once and re-solves the multicut per
    ``beta``; mws runs once per value.
    """
    processor = create_postprocessor(method, **params)
    with measure(int(np.prod(np.shape(affs)[1:]))) as measured:
        results = processor.sweep(affs, values)
    if return_stats:
        return results, _stats(method, affs, len(results), measured)
    return results
