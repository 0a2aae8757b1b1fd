"""Golden layers of the regression check: exact where the computation is deterministic.

``python -m bench check`` runs, in order (``--layer NAME`` for one):

==========  ===========================================================================
``protocol`` the benchmark's definition, read without running anything: every dataset's split,
            every method x profile resolved recipe, every post-processor's parameters and grid,
            the metric specification, compared **exactly** (:mod:`bench.goldens.protocol_layer`)
``eval``    committed affinity volumes through every post-processor with fixed parameters,
            the threshold selection, every score, the phantom, the affinity convention and
            the results store: compared **exactly** (:mod:`bench.goldens.eval_layer`)
``infer``   every registered method with seeded weights predicts a committed crop; the
            affinities are compared at a measured tolerance (:mod:`bench.goldens.infer_layer`)
``train``   every method trains a few steps from a fixed initialisation with every random
            stream seeded; loss values and a parameter checksum at a measured tolerance
            (:mod:`bench.goldens.train_layer`)
``e2e``     the smoke benchmark against the seed spread of ``results/baseline.json``
            (:mod:`bench.check`)
==========  ===========================================================================

Each golden layer computes a flat mapping ``quantity -> value`` (numbers, strings or lists of
numbers) and compares it with ``<goldens>/<layer>.json``. The first quantity that differs is
reported with both values; ``python -m bench check --update --layer NAME`` rewrites that layer's
goldens on purpose (docs/check.md says when).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.results import write_json

#: where the committed goldens and their inputs live (relative to the repository root)
DEFAULT_GOLDENS = Path("results/goldens")
#: the golden layers in the order the check runs them (e2e runs last, from bench.check)
GOLDEN_LAYERS = ("protocol", "eval", "infer", "train")
LAYERS = (*GOLDEN_LAYERS, "e2e")


def with_goldens(registry: Any) -> list[str]:
    """The names of ``registry`` (methods or post-processors) the golden layers cover: the
    built-in ones, and outside ones whose class declares ``golden_layers = True`` (a method
    built on this project's network bases that commits goldens for itself)."""
    return [n for n in registry.names() if _declares_goldens(registry, n)]


def without_goldens(registry: Any) -> list[str]:
    """The other names: outside entries (an entry point package, a notebook's method) that the
    golden layers leave out; their goldens cannot be in this repository."""
    return [n for n in registry.names() if not _declares_goldens(registry, n)]


def _declares_goldens(registry: Any, name: str) -> bool:
    declared = getattr(registry.get(name).cls, "golden_layers", None)
    return bool(declared) if declared is not None else registry.is_builtin(name)


@dataclass
class Difference:
    """The first quantity of a layer that differs from its golden."""

    layer: str
    quantity: str
    golden: Any
    current: Any
    tolerance: Any = 0.0
    relative: bool = False

    def __str__(self) -> str:
        kind = "relative tolerance" if self.relative else "tolerance"
        tol = "exact" if self.tolerance == 0 else f"{kind} {self.tolerance}"
        return (f"layer {self.layer} FAILED: {self.quantity}: golden {_short(self.golden)}, "
                f"current {_short(self.current)} ({tol}); if the change is deliberate, rewrite "
                f"the goldens with `python -m bench check --update --layer {self.layer}`")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


Tolerance = float | list[float]


def _first_difference(golden: Any, current: Any, tol: Tolerance, relative: bool,
                      where: str = "") -> tuple[str, Any, Any] | None:
    """``None`` when ``current`` matches ``golden``; else ``(index, golden element, current
    element)`` of the first differing element. Numbers match within ``tol`` (absolute, or
    relative to the golden value); a list ``tol`` holds one tolerance per element of a list."""
    if isinstance(golden, list) and isinstance(current, list):
        if len(golden) != len(current):
            return where, f"{len(golden)} values", f"{len(current)} values"
        for i, (g, c) in enumerate(zip(golden, current, strict=True)):
            t = tol[min(i, len(tol) - 1)] if isinstance(tol, list) else tol
            d = _first_difference(g, c, t, relative, f"{where}[{i}]")
            if d is not None:
                return d
        return None
    numbers = (int, float)
    if isinstance(golden, numbers) and isinstance(current, numbers) \
            and not isinstance(golden, bool) and not isinstance(current, bool):
        if golden == current or (math.isnan(golden) and math.isnan(current)):
            return None  # equal infinities too (inf - inf is NaN)
        t = float(tol[0] if isinstance(tol, list) else tol)
        if relative:
            t *= abs(golden)
        return None if abs(golden - current) <= t else (where, golden, current)
    return None if golden == current else (where, golden, current)


def compare_goldens(layer: str, golden: dict[str, Any], current: dict[str, Any],
                    tolerance: Callable[[str], Tolerance] = lambda q: 0.0,
                    relative: bool = False) -> Difference | None:
    """The first quantity (in the golden file's order) that differs, or ``None``."""
    for quantity in [*golden, *(q for q in current if q not in golden)]:
        if quantity not in current:
            return Difference(layer, quantity, golden[quantity], "(not computed)")
        if quantity not in golden:
            return Difference(layer, quantity, "(no golden)", current[quantity])
        tol = tolerance(quantity)
        d = _first_difference(golden[quantity], current[quantity], tol, relative)
        if d is not None:
            return Difference(layer, quantity + d[0], d[1], d[2], tol, relative)
    return None


def layer_module(name: str):
    """The module computing golden layer ``name``."""
    import importlib

    if name not in GOLDEN_LAYERS:
        raise ValueError(f"--layer: expected one of {', '.join(LAYERS)}, got {name!r}")
    return importlib.import_module(f"bench.goldens.{name}_layer")


def golden_path(goldens: Path, layer: str) -> Path:
    return Path(goldens) / f"{layer}.json"


def run_layer(name: str, goldens: Path = DEFAULT_GOLDENS, *, update: bool = False
              ) -> tuple[Difference | None, str]:
    """Compute layer ``name`` and compare it (or, with ``update``, write its goldens).

    Returns the first difference (None when it passes) and a one-line summary.
    """
    module = layer_module(name)
    goldens = Path(goldens)
    path = golden_path(goldens, name)
    if not update and not path.is_file():
        raise FileNotFoundError(f"goldens {path} not found; write them with `python -m bench "
                                f"check --update --layer {name}`")
    current = module.compute(goldens, update=update)
    outside = "".join(f"\n  {n}: no goldens: outside {what}" for n, what in module.outside())
    if update:
        write_json(path, current)
        return None, f"layer {name}: {len(current)} goldens written to {path}" + outside
    golden = json.loads(path.read_text())
    diff = compare_goldens(name, golden, current, module.tolerance,
                           getattr(module, "RELATIVE", False))
    if diff is None:
        return None, f"layer {name}: {len(golden)} quantities match ({module.RULE})" + outside
    return diff, str(diff) + outside
