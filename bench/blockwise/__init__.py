"""Blockwise processing of volumes larger than memory, on Dask, resumable.

"What a block computes" (:mod:`bench.blockwise.predict`, :mod:`bench.blockwise.segment`: pure
read-with-context -> compute -> write-own-chunks tasks) is separate from "which engine runs the
blocks" (:mod:`bench.blockwise.engine`: Dask threads or processes locally, a
``dask.distributed`` scheduler for a cluster, with per-block done markers for resume).
Conventions: raw ``(Z, Y, X)`` uint8; affinities float32 ``(3, Z, Y, X)``, channel order
(z, y, x), value at v = affinity of v to ``v - e_axis``; labels uint64. See docs/scale.md.
"""

from bench.blockwise.blocks import Block, as_context, make_blocks
from bench.blockwise.chain import (
    LazyArray,
    evaluate_blockwise,
    predict_blockwise,
    run_blockwise,
    segment_blockwise,
)
from bench.blockwise.engine import RunStats, run_blocks
from bench.blockwise.predict import (
    INTENSITY_PREDICTOR,
    BlockPredictor,
    PredictTask,
    intensity_affinities,
    predictor_for_method,
)
from bench.blockwise.segment import AgglomerateTask, EdgesTask, RelabelTask, stitch

__all__ = [
    "INTENSITY_PREDICTOR",
    "AgglomerateTask",
    "Block",
    "BlockPredictor",
    "EdgesTask",
        "LazyArray",
    "PredictTask",
    "RelabelTask",
    "RunStats",
    "as_context",
    "evaluate_blockwise",
    "intensity_affinities",
    "make_blocks",
    "predict_blockwise",
    "predictor_for_method",
    "run_blockwise",
    "run_blocks",
    "segment_blockwise",
    "stitch",
]
