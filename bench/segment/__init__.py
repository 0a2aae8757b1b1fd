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

from bench.segment.apply import create_postprocessor, segment, sweep, timed_segment
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
