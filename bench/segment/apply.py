"""Segment affinities with a registered post-processor: one result (:func:`segment`) or one
per value of its swept parameter (:func:`sweep`), with throughput and memory measured.

Apart from the package's ``__init__`` so that :mod:`bench.segment.selection` can call these
without importing the package that imports it (an import cycle).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.registries import POSTPROCESSORS
from bench.segment.base import PostProcessor
from bench.segment.timing import measure


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
        (``peak_rss_mb``, ``peak_increase_mb``; see :mod:`bench.segment.timing`).
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
