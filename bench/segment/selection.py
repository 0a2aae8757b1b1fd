"""Choose a post-processor's parameter on a validation split, to be frozen for test.

The official CAD scripts pick the waterz threshold with the best VOI on the test sections, which
inflates scores. Here the sweep runs on validation affinities against validation labels, the
value with the lowest VOI (split + merge; ties broken by ARAND, then by the smaller value) is
kept (or, with ``criterion="nerl"``, the highest normalised expected run length; ties broken by
VOI, then by the smaller value), and :meth:`SelectionResult.apply` segments test affinities
with that frozen value.

A best value at the edge of the default grid says the optimum may lie beyond it (waterz
thresholds of 0.1 were common on the leaderboard), so the grid is then extended once past that
edge, halving the distance to the end of (0, 1) twice (0.1 -> 0.05, 0.025; 0.9 -> 0.95,
0.975), and the choice is made over the whole curve. Explicit ``values`` are swept as given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench import progress
from bench.segment.apply import segment, sweep

CURVE_KEYS = ("voi_split", "voi_merge", "voi", "arand")
#: scores the curve also keeps when the scorer returns them (``criterion="nerl"`` needs nerl)
OPTIONAL_CURVE_KEYS = ("nerl", "erl_nm", "n_merges", "n_splits")
CRITERIA = ("voi", "nerl")


def _default_evaluate() -> Callable[..., dict[str, float]]:
    try:
        from metrics import evaluate
    except ImportError as exc:
        raise ImportError(
            "select_parameter needs metrics.evaluate(gt, seg) (the project's metrics package); "
            "pass evaluate=... to use another scorer"
        ) from exc
    return evaluate


@dataclass
class SelectionResult:
    """The frozen choice and the whole validation curve.

    ``curve`` is a list of ``{"value", "voi_split", "voi_merge", "voi", "arand"}`` dicts in sweep
    order, by value when the grid was extended (plain floats, JSON-ready); ``stats`` holds the
    sweep's throughput and peak memory (and ``extended_with``, the added values, if any).
    """

    method: str
    parameter: str
    best_value: float
    best_scores: dict[str, float]
    curve: list[dict[str, float]]
    params: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)

    def apply(self, affs: np.ndarray, **overrides: Any) -> np.ndarray:
        """Segment (test) affinities with the frozen value and the same fixed parameters."""
        params = {**self.params, **overrides, self.parameter: self.best_value}
        return segment(affs, self.method, **params)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (fixed parameters that are arrays are left out)."""
        simple = {
            k: v
            for k, v in self.params.items()
            if isinstance(v, (int, float, str, bool, type(None)))
        }
        return dict(
            method=self.method,
            parameter=self.parameter,
            best_value=self.best_value,
            best_scores=self.best_scores,
            curve=self.curve,
            params=simple,
            stats=self.stats,
        )


def select_parameter(
    val_affs: np.ndarray,
    val_gt: np.ndarray,
    method: str = "waterz",
    values: Sequence[float] | None = None,
    *,
    evaluate: Callable[..., dict[str, float]] | None = None,
    criterion: str = "voi",
    **params: Any,
) -> SelectionResult:
    """Sweep ``method`` on validation affinities and pick the value with the lowest VOI (or the
    highest NERL).

    Parameters
    ----------
    val_affs
        Validation affinities ``(C, Z, Y, X)`` in [0, 1].
    val_gt
        Validation labels ``(Z, Y, X)``; 0 is ignored by the metrics.
    method
        Registered post-processor name (``waterz``, ``lmc``, ``mws``).
    values
        Values of the method's swept parameter; its ``default_values`` when ``None``.
    evaluate
        ``evaluate(gt, seg) -> dict`` with keys ``voi_split``, ``voi_merge``, ``voi``,
        ``arand``; ``metrics.evaluate`` by default. With ``criterion="nerl"`` it must also
        return ``nerl`` (e.g. ``metrics.evaluate`` merged with ``metrics.skeleton_scores``).
    criterion
        ``"voi"`` (lowest VOI, ties by ARAND) or ``"nerl"`` (highest NERL, ties by VOI).
    **params
        Fixed parameters of the post-processor (e.g. ``fragments``, ``offsets``).
    """
    if val_gt.shape != val_affs.shape[1:]:
        raise ValueError(
            f"val_gt shape {val_gt.shape} does not match the affinities' spatial shape "
            f"{val_affs.shape[1:]}"
        )
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    evaluate = evaluate or _default_evaluate()

    def scored(grid: Sequence[float] | None) -> tuple[list[dict[str, float]], dict[str, Any]]:
        results, grid_stats = sweep(val_affs, method, grid, return_stats=True, **params)
        rows = []
        for value, labels in progress.bar(results, desc=f"{method} sweep: score",
                                          unit="value"):
            scores = evaluate(val_gt, labels)
            if criterion == "nerl" and "nerl" not in scores:
                raise ValueError("criterion='nerl' needs an evaluate(gt, seg) that returns "
                                 "'nerl' (see metrics.skeleton_scores)")
            extra = {k: float(scores[k]) for k in OPTIONAL_CURVE_KEYS if k in scores}
            rows.append({"value": float(value), **{k: float(scores[k]) for k in CURVE_KEYS},
                         **extra})
        return rows, grid_stats

    def best_of(rows: list[dict[str, float]]) -> dict[str, float]:
        if criterion == "nerl":  # NaN (no skeleton length) never wins
            return min(rows, key=lambda row: (-np.nan_to_num(row["nerl"], nan=-1.0),
                                              row["voi"], row["value"]))
        return min(rows, key=lambda row: (row["voi"], row["arand"], row["value"]))

    curve, stats = scored(values)
    if values is None and len(curve) > 1:
        beyond = _beyond_edge(best_of(curve)["value"], [row["value"] for row in curve])
        if beyond:
            extra, extra_stats = scored(beyond)
            curve = sorted(curve + extra, key=lambda row: row["value"])
            stats = {**stats, "extended_with": beyond, "extension_seconds":
                     extra_stats.get("seconds")}
    best = best_of(curve)
    return SelectionResult(
        method=method,
        parameter=parameter_name(method),
        best_value=best["value"],
        best_scores={k: best[k] for k in (*CURVE_KEYS, *OPTIONAL_CURVE_KEYS) if k in best},
        curve=curve,
        params=dict(params),
        stats={**stats, "criterion": criterion},
    )


def _beyond_edge(best: float, grid: Sequence[float]) -> list[float]:
    """Two values past the grid's edge when ``best`` lies on it, else none (see the module)."""
    low, high = min(grid), max(grid)
    if best == low and low > 0.0:
        return [round(low / 4, 6), round(low / 2, 6)]
    if best == high and high < 1.0:
        return [round(high + (1 - high) / 2, 6), round(high + 3 * (1 - high) / 4, 6)]
    return []


def parameter_name(method: str) -> str:
    """Name of the parameter a post-processor sweeps (e.g. ``"threshold"`` for waterz)."""
    from bench.registries import POSTPROCESSORS

    return POSTPROCESSORS.get(method).factory.parameter
