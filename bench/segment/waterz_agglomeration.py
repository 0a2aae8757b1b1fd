"""waterz agglomeration of watershed fragments (docs/cad.md section 7).

Fragments (per-section seeded watershed, :mod:`bench.segment.fragments`) are merged in order of
an edge score until the score exceeds a threshold. One agglomeration pass yields the
segmentations of all thresholds in increasing order, so a sweep costs about one run.

The CAD scoring function ``OneMinus<HistogramQuantileAffinity<RegionGraphType, 50, ScoreValue,
256>>`` (one minus the median boundary affinity, 256-bin histograms) with a 256-bin queue is
compiled into the waterz wheel. Other scoring functions are compiled on first use, which needs
``witty``, a C++ compiler and the boost headers; :func:`scoring_function_status` says whether that
can work here, and :class:`Waterz` raises a clear error when it cannot.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from bench.registries import register_postprocessor
from bench.segment.base import PostProcessor, renumber
from bench.segment.fragments import watershed_fragments
from bench.segment.validate import validate_affinities, validate_fragments

#: the scoring function of the CAD paper (median affinity, 256-bin histogram)
CAD_SCORING_FUNCTION = "OneMinus<HistogramQuantileAffinity<RegionGraphType, 50, ScoreValue, 256>>"
CAD_DISCRETIZE_QUEUE = 256


def _is_prebuilt(scoring_function: str, discretize_queue: int) -> bool:
    try:
        from waterz._agglomerate import _load_prebuilt
    except ImportError:  # a waterz without the prebuilt mechanism (< 0.10): everything compiles
        return False
    return _load_prebuilt(scoring_function, discretize_queue) is not None


def _boost_found() -> bool:
    try:
        from waterz._codegen import _boost_include_dirs

        if _boost_include_dirs():
            return True
    except ImportError:
        pass
    system_dirs = ("/usr/include", "/usr/local/include")
    return any((Path(d) / "boost" / "multi_array.hpp").is_file() for d in system_dirs)


def scoring_function_status(
    scoring_function: str, discretize_queue: int = CAD_DISCRETIZE_QUEUE
) -> tuple[bool, str]:
    """Whether waterz can run this scoring function here, and why (or why not).

    Returns ``(True, "prebuilt")`` for the variants shipped in the wheel, ``(True, "compilable")``
    when witty, a C++ compiler and the boost headers are all present, else ``(False, reason)``.
    """
    if _is_prebuilt(scoring_function, discretize_queue):
        return True, "prebuilt"
    missing = []
    try:
        import witty  # noqa: F401
    except ImportError:
        missing.append("the `witty` package (pip install witty)")
    if not any(shutil.which(c) for c in (os.environ.get("CXX", ""), "c++", "g++", "clang++") if c):
        missing.append("a C++ compiler (c++/g++/clang++ on PATH, or $CXX)")
    if not _boost_found():
        missing.append("the boost headers (e.g. apt install libboost-dev, or set BOOST_INCLUDEDIR)")
    if missing:
        return False, (
            f"waterz scoring function {scoring_function!r} with discretize_queue="
            f"{discretize_queue} is not prebuilt in the installed waterz wheel and compiling it "
            f"needs {', '.join(missing)}. Prebuilt: OneMinus<MeanAffinity<...>> and "
            "OneMinus<HistogramQuantileAffinity<RegionGraphType, Q, ScoreValue, 256>> for Q in "
            "10..95 step 5, with discretize_queue 0 or 256."
        )
    return True, "compilable"


@contextmanager
def _quiet_stdout(enabled: bool = True) -> Iterator[None]:
    """Silence waterz's C++ progress output (it writes to file descriptor 1 directly).

    Safe from many threads at once: a per-call ``dup``/``dup2`` pair is not (a second thread
    would save the already-silenced descriptor and restore *that*, closing stdout for good), so
    the first caller in redirects and the last one out restores.
    """
    if not enabled:
        yield
        return
    with _QUIET_LOCK:
        if _QUIET_STATE["depth"] == 0:
            sys.stdout.flush()
            try:
                saved = os.dup(1)
            except OSError:  # no real fd 1 (embedded interpreters): leave output alone
                saved = -1
            if saved >= 0:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.close(devnull)
            _QUIET_STATE["saved"] = saved
        _QUIET_STATE["depth"] += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _QUIET_STATE["depth"] -= 1
            if _QUIET_STATE["depth"] == 0 and _QUIET_STATE["saved"] >= 0:
                os.dup2(_QUIET_STATE["saved"], 1)
                os.close(_QUIET_STATE["saved"])


_QUIET_LOCK = threading.Lock()
_QUIET_STATE = {"depth": 0, "saved": -1}


@register_postprocessor
class Waterz(PostProcessor):
    """Per-section watershed fragments agglomerated by waterz; swept parameter ``threshold``.

    Fixed parameters: ``scoring_function`` and ``discretize_queue`` (CAD's by default),
    ``fragments`` (a precomputed ``(Z, Y, X)`` over-segmentation; computed from the affinities
    when ``None``, used as given otherwise), ``fragments_mode`` (``"2d"`` or ``"3d"``),
    ``fragments_threshold``, ``sigma_seeds``, ``min_size``, ``refine_fragments`` (passed to
    :func:`watershed_fragments` as ``refine``) and ``quiet``.
    """

    name = "waterz"
    #: shown by ``python -m bench list``
    description = (
        "watershed fragments + waterz agglomeration (median affinity, CAD); sweep: "
        "threshold"
    )
    parameter = "threshold"
    default_value = 0.5
    default_values = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    cheap_sweep = True

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return dict(
            scoring_function=CAD_SCORING_FUNCTION,
            discretize_queue=CAD_DISCRETIZE_QUEUE,
            fragments=None,
            fragments_mode="2d",
            fragments_threshold=0.5,
            sigma_seeds=0.0,
            min_size=0,
            refine_fragments=True,
            quiet=True,
        )

    def fragments(self, affs: np.ndarray) -> np.ndarray:
        """The fragments used: the given ones (checked) or computed from ``affs``."""
        p = self.params
        if p["fragments"] is not None:
            return validate_fragments(p["fragments"], affs.shape[1:])
        return watershed_fragments(
            affs,
            mode=p["fragments_mode"],
            threshold=p["fragments_threshold"],
            sigma_seeds=p["sigma_seeds"],
            min_size=p["min_size"],
            refine=p["refine_fragments"],
        )

    def sweep(
        self, affs: np.ndarray, values: Sequence[float] | None = None
    ) -> list[tuple[float, np.ndarray]]:
        values = self._values(values)
        affs = validate_affinities(affs)
        ok, reason = scoring_function_status(
            self.params["scoring_function"], self.params["discretize_queue"]
        )
        if not ok:
            raise RuntimeError(reason)
        import waterz

        # waterz writes the result into the fragments buffer: hand it a private copy
        fragments = np.array(self.fragments(affs), dtype=np.uint64, copy=True)
        nearest = np.ascontiguousarray(affs[:3])
        order = sorted(set(values))
        by_value: dict[float, np.ndarray] = {}
        with _quiet_stdout(self.params["quiet"]):
            results = waterz.agglomerate(
                nearest,
                order,
                fragments=fragments,
                scoring_function=self.params["scoring_function"],
                discretize_queue=self.params["discretize_queue"],
            )
            # every yield is the same buffer, overwritten by the next threshold: copy each one
            for value, labels in zip(order, results, strict=True):
                by_value[value] = renumber(labels)
        return [(v, by_value[v]) for v in values]
