"""The record stage: a leaderboard row from its parts, and the run's result files.

A row's columns are those of :data:`bench.results.COLUMNS`: the run's shared columns
(:func:`bench.pipeline.stages.row_base`), the post-processor and its chosen parameter, the
scores (:data:`metrics.spec.METRICS`: overlap-table scores, then skeleton scores), the VOI
interval, then the timings.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.environment import peak_rss_mb
from bench.pipeline.scoring import SegmentationScores, write_tables
from bench.provenance import sign_files
from bench.results import OVERLAP_TABLES, write_json

__all__ = ["make_row", "skeleton_columns", "write_results"]


def skeleton_columns(skeleton_scores: dict[str, Any]) -> dict[str, Any]:
    """The skeleton scores of :data:`metrics.spec.METRICS` (``source="skeleton"``) out of
    :func:`metrics.skeleton_scores`' result."""
    from metrics.spec import METRICS

    return {k: skeleton_scores[k] for k, m in METRICS.items() if m.source == "skeleton"}


def make_row(common: dict[str, Any], postprocess: str, param_name: str, param_value: float,
             scored: SegmentationScores, *, skeleton: dict[str, Any] | None = None,
             timings: dict[str, Any], t_start: float) -> dict[str, Any]:
    """One leaderboard row: ``common`` (the run's shared columns), the post-processor and its
    parameter, ``scored``'s scores, the skeleton scores (when the run has them), the VOI
    interval, ``timings`` (throughputs), the end-to-end time since ``t_start`` and peak RSS."""
    return {
        **common,
        "postprocess": postprocess,
        "param_name": param_name,
        "param_value": float(param_value),
        **scored.scores,
        **(skeleton_columns(skeleton) if skeleton is not None else {}),
        **scored.interval,
        **timings,
        "end_to_end_seconds": time.perf_counter() - t_start,
        "peak_rss_mb": peak_rss_mb(),
    }


def write_results(run_dir: Path, rows: list[dict[str, Any]], details: dict[str, Any],
                  entries: dict[str, Any], neurons: dict[str, Any] | None = None) -> None:
    """The run's result files: the per-slab overlap tables first, then
    ``neuron_errors.json`` (when given), then ``metrics.json`` (so a run with metrics.json has
    the others)."""
    write_tables(run_dir / OVERLAP_TABLES, entries)
    if neurons is not None:
        write_json(run_dir / "neuron_errors.json", neurons)
    write_json(run_dir / "metrics.json", {"rows": rows, "details": details})
    # the result files join the run's signed record (bench.provenance), metrics.json last
    sign_files(run_dir, "segmentation.h5", OVERLAP_TABLES, "neuron_errors.json", "metrics.json")
