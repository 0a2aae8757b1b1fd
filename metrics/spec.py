"""The one specification of the benchmark's scores: key, direction, format, label, source.

Every place that lists scores derives its list from :data:`METRICS`: the results database's
columns (``bench.results``), the leaderboard tables (``bench.text_tables``, ``bench.report``),
the rows written by a run or by ``bench score`` (``bench.pipeline``) and the regression check
(``bench.check``).

Adding a score
--------------
Register it once, where its computation lives::

    from metrics.spec import Metric, register_metric

    register_metric(Metric(
        key="n_objects_ratio", label="objs", better="lower",
        description="segments per ground-truth object",
        compute=lambda table: len(table.seg_ids) / max(len(table.gt_ids), 1),
    ))

``compute`` takes the test segmentation's :class:`~metrics.table.OverlapTable` (built once per
segmentation, see :func:`table_scores`); its value lands in every new leaderboard row, a new
column of the results database (added to an existing database when it is opened), the text,
Markdown and HTML tables, and, with ``checked=True``, the end-to-end regression check. A module
that registers a score must be imported before the run (a method's or a plug-in's module, or
``metrics`` itself for a built-in one), or be named in the ``emseg_bench.metrics`` entry-point
group of an installed package (``key = "pkg.module:metric"``: a :class:`Metric` whose key is
the entry point's name, a function returning one, or a module that registers it on import); a
broken one is logged and skipped (:mod:`emseg_registry`).

The built-in scores have ``compute=None``: :func:`metrics.scores.scores` computes the
overlap-table ones together (they share entropies and pair sums) and
:func:`metrics.skeleton.skeleton_scores` the skeleton ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Literal

from emseg_registry import DuplicateName, Registry
from metrics.table import OverlapTable

__all__ = ["METRICS", "Metric", "checked_metrics", "leaderboard_metrics", "register_metric",
           "table_scores", "unregister_metric"]


@dataclass(frozen=True)
class Metric:
    """One score of a leaderboard row.

    Attributes
    ----------
    key : str
        The row key and database column (an identifier).
    label : str
        Short column header of the leaderboard tables.
    description : str
        One line: what the score measures, with its unit.
    better : {"lower", "higher"}
        Which direction is better (the check flags changes in either direction).
    fmt : str
        ``str.format`` pattern of one row's value in the tables.
    mean_fmt : str or None
        Pattern of a mean over seeds in the report (default ``fmt``).
    sql_type : {"REAL", "INTEGER"}
        The database column's type.
    source : {"table", "skeleton"}
        Computed from the overlap table of the segmentation, or from the ground-truth skeletons.
    compute : callable or None
        ``compute(table) -> float`` for a ``"table"`` score registered from outside; None for
        the built-in ones (module docstring).
    leaderboard : bool
        Shown in the leaderboard tables (stored in the database either way).
    order : float
        Position among the scores in the tables (ascending); registration order breaks ties.
    per_section, per_slab : bool
        Also kept for each test section / sub-volume in ``metrics.json``'s details.
    checked : bool
        Compared by ``python -m bench check`` against the baseline's seed spread.
    bounds : (float, float)
        The score's range; the check never lets a limit pass its ends.
    merged_is_worst : bool
        The all-merged segmentation (one segment) scores at the bad end of the useful range:
        the check refuses a baseline whose limit reaches that score (else it reaches
        ``bounds`` only).
    """

    key: str
    label: str
    description: str
    better: Literal["lower", "higher"] = "lower"
    fmt: str = "{:.3f}"
    mean_fmt: str | None = None
    sql_type: Literal["REAL", "INTEGER"] = "REAL"
    source: Literal["table", "skeleton"] = "table"
    compute: Callable[[OverlapTable], float] | None = None
    leaderboard: bool = True
    order: float = float("inf")
    per_section: bool = False
    per_slab: bool = False
    checked: bool = False
    bounds: tuple[float, float] = (0.0, float("inf"))
    merged_is_worst: bool = False

    def __post_init__(self) -> None:
        if not self.key.isidentifier():
            raise ValueError(f"metric key {self.key!r}: expected an identifier (a column name)")
        if self.better not in ("lower", "higher"):
            raise ValueError(f"metric {self.key!r}: better={self.better!r}, expected 'lower' "
                             "or 'higher'")
        if self.source not in ("table", "skeleton"):
            raise ValueError(f"metric {self.key!r}: source={self.source!r}, expected 'table' "
                             "or 'skeleton'")
        if self.sql_type not in ("REAL", "INTEGER"):
            raise ValueError(f"metric {self.key!r}: sql_type={self.sql_type!r}, expected "
                             "'REAL' or 'INTEGER'")

    @property
    def lower_is_better(self) -> bool:
        return self.better == "lower"


def _register_entry_point(registry: Registry[Metric], ep: metadata.EntryPoint,
                          obj: Any) -> None:
    if not isinstance(obj, Metric) and callable(obj) and not registry.has(ep.name):
        obj = obj()  # a function returning the metric (or registering it)
    if isinstance(obj, Metric):
        if obj.key != ep.name:
            raise ValueError(f"entry point {ep.name!r} names metric {obj.key!r}")
        if not registry.has(obj.key):  # else its module registered it on import
            register_metric(obj)
    if not registry.has(ep.name):
        raise ValueError(f"it did not register a metric named {ep.name!r}")


#: key -> Metric, in registration order (the database's column order); reads like a mapping
#: (``METRICS[key]``, ``key in METRICS``, ``.items()``) and loads the ``emseg_bench.metrics``
#: entry points on the first lookup
METRICS: Registry[Metric] = Registry("metric", "emseg_bench.metrics",
                                     register_entry_point=_register_entry_point)
#: the keys registered by this module; later ones are appended to the database's columns
BUILTIN: tuple[str, ...] = ()


def register_metric(metric: Metric) -> Metric:
    """Add ``metric`` to :data:`METRICS` (module docstring); a key already taken is refused
    (:class:`~emseg_registry.DuplicateName`, a ``ValueError``)."""
    if METRICS.has(metric.key):
        raise DuplicateName(f"metric {metric.key!r} is registered already")
    if metric.source == "table" and metric.compute is None and BUILTIN:
        raise ValueError(f"metric {metric.key!r}: give compute(table) -> float")
    return METRICS.register(metric.key, metric)


def unregister_metric(key: str) -> None:
    """Remove a metric registered with :func:`register_metric` (the built-in ones stay)."""
    if key in BUILTIN:
        raise ValueError(f"metric {key!r} is built in and cannot be removed")
    if METRICS.has(key):
        METRICS.unregister(key)


def leaderboard_metrics() -> list[Metric]:
    """The metrics the tables show, in their column order."""
    shown = [m for m in METRICS.values() if m.leaderboard]
    return sorted(shown, key=lambda m: m.order)  # stable: ties keep registration order


def checked_metrics() -> list[Metric]:
    """The metrics ``python -m bench check`` compares, in registration order."""
    return [m for m in METRICS.values() if m.checked]


def table_scores(table: OverlapTable, base: dict[str, float | int]) -> dict[str, float | int]:
    """``base`` (:func:`metrics.scores.scores` of ``table``) plus every registered metric that
    computes itself from the table."""
    extra = {m.key: float(m.compute(table)) for m in METRICS.values()
             if m.source == "table" and m.compute is not None}
    return {**base, **extra}


for _m in (
    # the database's column order; ``order`` is the tables' column order
    Metric("voi_split", "split", "VOI split H(seg|gt): false splits, bits", order=1,
           per_section=True),
    Metric("voi_merge", "merge", "VOI merge H(gt|seg): false merges, bits", order=2,
           per_section=True),
    Metric("voi", "VOI", "variation of information, split + merge, bits", order=0,
           per_section=True, per_slab=True, checked=True, merged_is_worst=True),
    Metric("arand", "ARAND", "adapted Rand error, 1 - F-score of Rand precision and recall",
           order=3, per_section=True, per_slab=True, checked=True, bounds=(0.0, 1.0),
           merged_is_worst=True),
    Metric("cremi_score", "CREMI", "CREMI score sqrt(VOI * ARAND)", order=4),
    Metric("erl_nm", "ERL nm", "expected run length along ground-truth skeletons, nm",
           better="higher", fmt="{:.0f}", source="skeleton", leaderboard=False),
    Metric("nerl", "NERL", "expected run length / skeleton length (1 = perfect)",
           better="higher", source="skeleton", order=5, bounds=(0.0, 1.0)),
    Metric("n_merges", "#merges", "ground-truth skeletons merged with another", fmt="{}",
           mean_fmt="{:.4g}", sql_type="INTEGER", source="skeleton", order=7),
    Metric("n_splits", "#splits", "splits along ground-truth skeletons", fmt="{}",
           mean_fmt="{:.4g}", sql_type="INTEGER", source="skeleton", order=6),
):
    register_metric(_m)
BUILTIN = tuple(METRICS.registered_now())
del _m
