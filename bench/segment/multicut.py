"""Multicut of watershed fragments through elf + bioimage-cpp ("LMC" in the CAD paper).

The CAD recipe (docs/cad.md section 7), which is a plain multicut despite its name:

1. boundary ``max(1 - A_y, 1 - A_x)``;
2. per-section distance-transform watershed (elf, threshold 0.25, sigma_seeds 2), whose
   fragments are then split where the affinities separate their voxels
   (:func:`bench.segment.refine.split_fragments`; ``refine_fragments=False`` skips this);
3. region adjacency graph of those fragments;
4. edge probability = mean of ``1 - affinity`` over the affinity links crossing the edge
   (``compute_affinity_features`` on the z/y/x nearest-neighbour offsets, column 0);
5. edge sizes = boundary length (``compute_boundary_mean_and_length``, column 1);
6. costs = ``log((1 - p) / p) + log((1 - beta) / beta)``, weighted by edge size
   (``transform_probabilities_to_costs``); positive costs attract, negative ones repel;
7. multicut (GAEC warm start + Kernighan-Lin by default).

The swept parameter is the boundary bias ``beta``: higher values cut more (more splits). Steps
1-5 do not depend on ``beta``, so :meth:`Lmc.sweep` computes them once and re-solves only step 7.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench import progress
from bench.registries import register_postprocessor
from bench.segment.base import PostProcessor, renumber
from bench.segment.convert import NEAREST_OFFSETS
from bench.segment.refine import split_fragments
from bench.segment.validate import validate_affinities, validate_fragments

SOLVERS = ("kernighan-lin", "gaec", "greedy-fixation", "decomposition")


@dataclass
class MulticutProblem:
    """What a multicut needs besides ``beta``: fragments, graph, edge probabilities and sizes."""

    fragments: np.ndarray
    rag: Any
    edge_probabilities: np.ndarray
    edge_sizes: np.ndarray


def lmc_fragments(
    affs: np.ndarray,
    *,
    threshold: float = 0.25,
    sigma_seeds: float = 2.0,
    sigma_weights: float = 2.0,
    min_size: int = 100,
    refine: bool = True,
) -> np.ndarray:
    """Per-section distance-transform watershed of ``max(1 - A_y, 1 - A_x)`` (elf), uint64.

    Defaults are CAD's (elf's defaults apart from threshold and sigma_seeds). ``sigma_weights``
    smooths the boundary before flooding; with it, watershed lines may fall anywhere in a
    boundary band, so thin objects lose edge voxels to their neighbours (0 disables it).
    ``refine`` gives those voxels back (:func:`bench.segment.refine.split_fragments`).
    """
    from elf.segmentation.watershed import distance_transform_watershed, stacked_watershed

    boundary = np.maximum(1.0 - affs[1], 1.0 - affs[2]).astype(np.float32)
    frags, _ = stacked_watershed(
        boundary,
        ws_function=distance_transform_watershed,
        threshold=threshold,
        sigma_seeds=sigma_seeds,
        sigma_weights=sigma_weights,
        min_size=min_size,
        n_threads=1,
    )
    if refine:
        return split_fragments(frags, affs, mode="2d")
    return frags.astype(np.uint64, copy=False)


def build_problem(
    affs: np.ndarray, fragments: np.ndarray | None = None, **fragment_kwargs: Any
) -> MulticutProblem:
    """Steps 1-5 of the recipe: everything that does not depend on ``beta``."""
    from elf.segmentation.features import (
        compute_affinity_features,
        compute_boundary_mean_and_length,
        compute_rag,
    )

    if fragments is None:
        fragments = lmc_fragments(affs, **fragment_kwargs)
    rag = compute_rag(fragments, n_threads=1)
    boundary_probs = np.ascontiguousarray(1.0 - affs[:3], dtype=np.float32)
    # elf >= 0.9 takes the segmentation explicitly; offsets are negative (link v to v - e)
    features = compute_affinity_features(
        rag, fragments, boundary_probs, NEAREST_OFFSETS, n_threads=1
    )
    boundary = np.maximum(boundary_probs[1], boundary_probs[2])
    sizes = compute_boundary_mean_and_length(rag, fragments, boundary, n_threads=1)[:, 1]
    return MulticutProblem(fragments, rag, features[:, 0].astype(np.float64), sizes)


def solve(problem: MulticutProblem, beta: float, solver: str = "kernighan-lin") -> np.ndarray:
    """Step 6-7: costs at boundary bias ``beta``, multicut, fragments relabelled by the result."""
    from elf.segmentation import multicut as mc

    if not 0.0 < beta < 1.0:
        raise ValueError(f"lmc beta (boundary bias) must be in (0, 1), got {beta}")
    if problem.rag.number_of_edges == 0:
        return renumber(problem.fragments)
    costs = mc.transform_probabilities_to_costs(
        problem.edge_probabilities, beta=beta, edge_sizes=problem.edge_sizes
    )
    functions = {
        "kernighan-lin": mc.multicut_kernighan_lin,
        "gaec": mc.multicut_gaec,
        "greedy-fixation": mc.multicut_greedy_fixation,
        "decomposition": mc.multicut_decomposition,
    }
    node_labels = np.asarray(functions[solver](problem.rag, costs), dtype=np.uint64)
    # node ids of the RAG are the fragment ids (0..max), so a lookup relabels the volume
    return renumber(node_labels[problem.fragments])


@register_postprocessor
class Lmc(PostProcessor):
    """Multicut ("LMC") of per-section watershed fragments; swept parameter ``beta``.

    Fixed parameters: ``solver`` (one of :data:`SOLVERS`), ``fragments`` (precomputed
    ``(Z, Y, X)``, used as given; else elf's watershed with ``ws_threshold``, ``sigma_seeds``,
    ``sigma_weights``, ``min_size``, ``refine_fragments``; see :func:`lmc_fragments`).
    """

    name = "lmc"
    #: shown by ``python -m bench list``
    description = (
        "elf multicut of distance-transform watershed fragments (CAD 'LMC'); sweep: beta"
    )
    parameter = "beta"
    default_value = 0.5
    default_values = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    cheap_sweep = True

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return dict(
            solver="kernighan-lin",
            fragments=None,
            ws_threshold=0.25,
            sigma_seeds=2.0,
            sigma_weights=2.0,
            min_size=100,
            refine_fragments=True,
        )

    def problem(self, affs: np.ndarray) -> MulticutProblem:
        """The beta-independent part, for reuse across betas."""
        p = self.params
        if p["solver"] not in SOLVERS:
            raise ValueError(f"lmc solver must be one of {SOLVERS}, got {p['solver']!r}")
        fragments = None
        if p["fragments"] is not None:
            fragments = validate_fragments(p["fragments"], affs.shape[1:])
        return build_problem(
            affs,
            fragments,
            threshold=p["ws_threshold"],
            sigma_seeds=p["sigma_seeds"],
            sigma_weights=p["sigma_weights"],
            min_size=p["min_size"],
            refine=p["refine_fragments"],
        )

    def sweep(
        self, affs: np.ndarray, values: Sequence[float] | None = None
    ) -> list[tuple[float, np.ndarray]]:
        values = self._values(values)
        for v in values:
            if not 0.0 < v < 1.0:
                raise ValueError(f"lmc beta (boundary bias) must be in (0, 1), got {v}")
        affs = validate_affinities(affs)
        problem = self.problem(affs)
        return [(v, solve(problem, v, self.params["solver"]))
                for v in progress.bar(values, desc="lmc sweep: solve", unit="value")]
