"""Score a test segmentation into the columns of a leaderboard row, in one pass over the voxels.

:func:`score_segmentation` reads the volume section by section (lazy arrays slab by slab) and
builds each section's overlap table once; every other table is a sum of those (exact: counts are
integers and :func:`metrics.from_entries` puts entries in canonical order, so a summed table is
the one a direct pass would build):

- each test sub-volume ("slab", :func:`slab_bounds`) sums its sections' tables: the slab
  scores and the overlap-table entries behind the bootstrap interval and the report's paired
  comparisons (``overlap_tables.npz``);
- the whole test volume sums the slabs' tables: the row's scores
  (:func:`metrics.spec.table_scores`), and the table :mod:`bench.neuron_errors` splits VOI
  by neuron with.

Which scores each level keeps comes from :data:`metrics.spec.METRICS` (``per_section``,
``per_slab``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.atomic import atomic_path

__all__ = ["ENTRY_COLUMNS", "SegmentationScores", "score_segmentation", "slab_bounds",
           "slab_scores", "write_tables"]

#: the columns of the per-slab overlap-table entries
ENTRY_COLUMNS = ("slab", "gt", "seg", "count")


@dataclass
class SegmentationScores:
    """The scores of one test segmentation (:func:`score_segmentation`)."""

    #: the whole-volume scores of the table metrics of :data:`metrics.spec.METRICS`
    scores: dict[str, float]
    #: the bootstrap interval of the whole-volume VOI: ``voi_ci_low``, ``voi_ci_high``,
    #: ``voi_ci_method`` (NaN bounds when no slab has a labelled voxel)
    interval: dict[str, Any]
    #: per test section with a labelled voxel, its ``per_section`` scores
    per_section: list[dict[str, float]]
    #: per slab with a labelled voxel, ``z0``, ``z1`` and its ``per_slab`` scores
    slabs: list[dict[str, float]]
    #: the slabs' overlap-table entries (a DataFrame of :data:`ENTRY_COLUMNS`)
    entries: Any
    #: the whole test volume's :class:`~metrics.table.OverlapTable`
    table: Any

    @property
    def row(self) -> dict[str, Any]:
        """The row's score columns: :attr:`scores` then :attr:`interval`."""
        return {**self.scores, **self.interval}


def slab_bounds(n_sections: int, slab: int) -> list[tuple[int, int]]:
    """Consecutive ``slab``-section sub-volumes partitioning ``[0, n_sections)``; the remainder
    joins the last one (so every test voxel is in exactly one slab)."""
    starts = list(range(0, max(n_sections - slab, 0) + 1, slab)) or [0]
    ends = starts[1:] + [n_sections]
    return list(zip(starts, ends, strict=True))


def _sum(tables: list) -> Any:
    """One table of several tables of disjoint voxels (a single one is returned as is)."""
    from metrics.table import from_entries

    if len(tables) == 1:
        return tables[0]
    if not tables:  # an empty volume
        empty = np.zeros(0, np.uint64)
        return from_entries(empty, empty, np.zeros(0, np.int64), 0)
    return from_entries(
        np.concatenate([t.gt_ids[t.rows] for t in tables]),
        np.concatenate([t.seg_ids[t.cols] for t in tables]),
        np.concatenate([t.counts for t in tables]),
        sum(t.n_total for t in tables), tables[0].ignore_gt, tables[0].ignore_seg,
    )


def _pick(table, keys: list[str]) -> dict[str, float]:
    """``keys`` of the table's scores (registered table metrics computed only if asked)."""
    from metrics.scores import scores
    from metrics.spec import METRICS, table_scores

    base = scores(table)
    if any(k not in base for k in keys):
        base = table_scores(table, base)
    return {k: float(base[k]) for k in keys if METRICS[k].source == "table"}


def _entries(tables: list[tuple[int, Any]]):
    import pandas as pd

    frames = [pd.DataFrame({"slab": z0, "gt": t.gt_ids[t.rows], "seg": t.seg_ids[t.cols],
                            "count": t.counts}) for z0, t in tables]
    if not frames:
        return pd.DataFrame({c: np.zeros(0, np.int64) for c in ENTRY_COLUMNS})
    return pd.concat(frames, ignore_index=True)


@dataclass
class _Tables:
    sections: list[dict[str, float]]
    slabs: list[dict[str, float]]
    #: (z0, table) of each slab with a labelled voxel
    slab_tables: list[tuple[int, Any]]
    whole: Any


def _tables(seg: Any, gt: Any, slab_sections: int, per_section: bool) -> _Tables:
    """Every section's table (one pass), summed into slabs and the whole volume."""
    from metrics.spec import METRICS
    from metrics.table import overlap_table

    section_keys = [k for k, m in METRICS.items() if m.per_section]
    slab_keys = [k for k, m in METRICS.items() if m.per_slab]
    sections, slabs, kept, every = [], [], [], []
    for z0, z1 in slab_bounds(gt.shape[0], slab_sections):
        g, s = np.asarray(gt[z0:z1]), np.asarray(seg[z0:z1])
        tables = [overlap_table(g[i:i + 1], s[i:i + 1]) for i in range(z1 - z0)]
        if per_section:
            sections += [_pick(t, section_keys) for t in tables if t.n_counted]
        table = _sum(tables)
        every.append(table)
        if table.n_counted == 0:  # nothing to score (all boundary/background)
            continue
        slabs.append({"z0": z0, "z1": z1, **_pick(table, slab_keys)})
        kept.append((z0, table))
    return _Tables(sections, slabs, kept, _sum(every))


def score_segmentation(seg: Any, gt: Any, *, slab_sections: int = 4, seed: int = 0,
                       per_section: bool = True) -> SegmentationScores:
    """Score a test segmentation against its ground truth into a row's score columns.

    Parameters
    ----------
    seg, gt : integer array-like (Z, Y, X)
        The segmentation and ground truth; numpy, or lazy (zarr, HDF5: one slab in memory).
    slab_sections : int
        Sections per sub-volume of the bootstrap interval (``RunSpec.slab_sections``).
    seed : int
        Seed of the bootstrap interval of the whole-volume VOI.
    per_section : bool
        Keep the per-section scores (the tables are built either way).

    Returns
    -------
    SegmentationScores
        Raises ``ValueError`` (:mod:`metrics.scores`) when no voxel is labelled.
    """
    from bench import stats
    from metrics.spec import METRICS

    t = _tables(seg, gt, slab_sections, per_section)
    scores = _pick(t.whole, [k for k, m in METRICS.items() if m.source == "table"])
    entries = _entries(t.slab_tables)
    # an interval of the whole-volume VOI itself: resample slabs, re-sum their tables
    ci = (stats.voi_interval(stats.slab_tables(entries), seed=seed)
          if len(t.slabs) else (float("nan"), float("nan")))
    interval = {"voi_ci_low": ci[0], "voi_ci_high": ci[1],
                "voi_ci_method": stats.VOI_INTERVAL_METHOD}
    return SegmentationScores(scores, interval, t.sections, t.slabs, entries, t.whole)


def slab_scores(gt: Any, seg: Any, slab: int) -> tuple[list[dict[str, float]], Any]:
    """Each slab's scores and the slabs' overlap-table entries (no whole-volume score, no
    interval): what the report's tests and the evaluation goldens build runs from."""
    t = _tables(seg, gt, slab, per_section=False)
    return t.slabs, _entries(t.slab_tables)


def write_tables(path: Path, tables: dict[str, Any]) -> None:
    """Each post-processor's per-slab overlap tables, for the paired comparisons of the report
    (written before metrics.json, so a finished run always has them)."""
    arrays = {f"{pp}/{col}": entries[col].to_numpy() for pp, entries in tables.items()
              for col in ENTRY_COLUMNS}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
