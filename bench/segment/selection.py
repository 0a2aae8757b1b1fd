"""Choose a post-processor's parameter on a validation split, to be frozen for test.

The official CAD scripts pick the waterz threshold with the best VOI on the test sections, which
inflates scores. Here the sweep runs on validation affinities against validation labels, the
value with the lowest VOI (split + merge; ties broken by ARAND, then by the smaller value) is
kept, and :meth:`SelectionResult.apply` segments test affinities with that frozen value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

CURVE_KEYS = ("voi_split", "voi_merge", "voi", "arand")


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
    order (plain floats, JSON-ready); ``stats`` holds the sweep's throughput and peak memory.
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
        from bench.segment import segment

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
    **params: Any,
) -> SelectionResult:
    """Sweep ``method`` on validation affinities and pick the value with the lowest VOI.

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
        ``arand``; ``metrics.evaluate`` by default.
    **params
        Fixed parameters of the post-processor (e.g. ``fragments``, ``offsets``).
    """
    from bench.segment import sweep

    if val_gt.shape != val_affs.shape[1:]:
        raise ValueError(
            f"val_gt shape {val_gt.shape} does not match the affinities' spatial shape "
            f"{val_affs.shape[1:]}"
        )
    evaluate = evaluate or _default_evaluate()
    results, stats = sweep(val_affs, method, values, return_stats=True, **params)
    curve = []
    for value, labels in results:
        scores = evaluate(val_gt, labels)
        curve.append({"value": float(value), **{k: float(scores[k]) for k in CURVE_KEYS}})
    best = min(curve, key=lambda row: (row["voi"], row["arand"], row["value"]))
    return SelectionResult(
        method=method,
        parameter=parameter_name(method),
        best_value=best["value"],
        best_scores={k: best[k] for k in CURVE_KEYS},
        curve=curve,
        params=dict(params),
        stats=stats,
    )


def parameter_name(method: str) -> str:
    """Name of the parameter a post-processor sweeps (e.g. ``"threshold"`` for waterz)."""
    from bench.registry import POSTPROCESSORS

    return POSTPROCESSORS.get(method).factory.parameter
