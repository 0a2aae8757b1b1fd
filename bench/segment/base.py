"""What every post-processor (affinities -> segmentation) provides.

A post-processor has one sweep parameter (``parameter``: its name, ``default_value``, and
``default_values`` for a sweep). :meth:`PostProcessor.sweep` returns one segmentation per value;
subclasses override it when the values can share work (waterz: one agglomeration pass; lmc: one
graph, one multicut per value). Results are uint64 ``(Z, Y, X)``, ids renumbered to 1..N in
order of first appearance, 0 only where the method leaves voxels unassigned.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import fastremap
import numpy as np


def renumber(labels: np.ndarray) -> np.ndarray:
    """Consecutive ids 1..N (0 kept), uint64, always a fresh array."""
    out, _ = fastremap.renumber(np.array(labels, dtype=np.uint64, copy=True), preserve_zero=True)
    return out.astype(np.uint64, copy=False)


class PostProcessor:
    """Base class; configure with keyword parameters, then call :meth:`segment` or :meth:`sweep`."""

    name: ClassVar[str] = ""
    #: name of the swept parameter (e.g. "threshold")
    parameter: ClassVar[str] = ""
    #: value used by :meth:`segment` when none is given
    default_value: ClassVar[float] = 0.5
    #: values used by :meth:`sweep` when none are given
    default_values: ClassVar[tuple[float, ...]] = ()
    #: whether :meth:`sweep` shares work across values (else it costs one run per value)
    cheap_sweep: ClassVar[bool] = False
    #: fewest validation sections the parameter choice needs (checked before training)
    min_val_sections: ClassVar[int] = 1

    def __init__(self, **params: Any):
        unknown = set(params) - set(self.defaults()) - {self.parameter}
        if unknown:
            raise TypeError(
                f"post-processor {self.name!r} got unknown parameter(s) {sorted(unknown)}; "
                f"valid: {sorted({self.parameter, *self.defaults()})}"
            )
        self.params: dict[str, Any] = {**self.defaults(), **params}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Default values of the fixed (non-swept) parameters."""
        return {}

    def value(self) -> float:
        """The swept parameter's value for a single run."""
        return float(self.params.get(self.parameter, self.default_value))

    def segment(self, affs: np.ndarray) -> np.ndarray:
        """One segmentation at :meth:`value`."""
        ((_, labels),) = self.sweep(affs, [self.value()])
        return labels

    def sweep(
        self, affs: np.ndarray, values: Sequence[float] | None = None
    ) -> list[tuple[float, np.ndarray]]:
        """``[(value, labels), ...]`` in the order of ``values`` (default ``default_values``)."""
        raise NotImplementedError

    def _values(self, values: Sequence[float] | None) -> list[float]:
        values = list(self.default_values if values is None else values)
        if not values:
            raise ValueError(f"{self.name}: no {self.parameter} values to sweep")
        return [float(v) for v in values]
