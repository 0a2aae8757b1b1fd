"""Learned agglomeration: an edge classifier on region-adjacency-graph features (gala-style).

Recipe (after Nunez-Iglesias et al. 2014, "gala", and Beier et al. 2017, the learned multicut):

1. fragments: seeded watershed of the affinities (:func:`bench.segment.watershed_fragments`),
   one 3D watershed for near-isotropic data, per section for anisotropic data (the same rule
   as the classical filter bank: coarsest / finest resolution above 2 means per section);
2. region adjacency graph of the fragments (elf / bioimage-cpp);
3. edge features (:func:`edge_features`): statistics of ``1 - affinity`` over the affinity
   links crossing the edge and of the raw intensity along the edge (mean, median, std, min,
   max, 5/10/25/75/90/95 % quantiles, link count), region sizes and mean intensities of both
   sides (min, max, |difference|), and whether the edge joins two sections;
4. edge labels from ground truth (elf ``compute_edge_labels``: fragments take the label they
   overlap most; edges touching a fragment mapped to background 0 are left out of training);
5. a scikit-learn random forest predicting P(cut) per edge (:class:`EdgeModel`);
6. ``gala``: agglomeration in order of predicted merge probability: the edge with the lowest
   P(cut) merges first, the merged edge's P(cut) is the link-count-weighted mean of the edges
   it combines, and merging stops at ``threshold`` (one pass gives every threshold);
   ``lmc-rf``: a multicut with costs ``log((1 - p) / p) + log((1 - beta) / beta)`` weighted by
   edge size, from the same classifier's probabilities.

Where the classifier is fitted (:func:`select_learned`): on the **validation** split, cross-fitted
over z blocks. For each of ``n_folds`` contiguous z blocks, a classifier fitted on the other
blocks segments that block at every swept value; the fold scores (voxel-weighted) choose the
value, so no score comes from data the classifier was fitted on. The classifier used on test is
then fitted on all of validation. Why not the train split: a method's train-split affinities
are in-sample (the pixel forest and the networks have seen those voxels) and are sharper than
its affinities on unseen data, so an edge classifier fitted on them learns the wrong calibration.
Test labels are never an input here.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench import progress
from bench.registries import register_postprocessor
from bench.segment.base import PostProcessor, renumber
from bench.segment.convert import NEAREST_OFFSETS
from bench.segment.fragments import watershed_fragments
from bench.segment.selection import CURVE_KEYS, SelectionResult
from bench.segment.validate import validate_affinities

#: coarsest / finest resolution above which fragments are per section (as the filter bank)
ANISOTROPY_LIMIT = 2.0


def fragments_mode(resolution_nm: Sequence[float] | None) -> str:
    """``"3d"`` for near-isotropic resolutions, ``"2d"`` (per section) otherwise or unknown."""
    if resolution_nm is None:
        return "2d"
    res = [float(r) for r in resolution_nm]
    return "3d" if max(res) / min(res) <= ANISOTROPY_LIMIT else "2d"


@dataclass
class EdgeGraph:
    """Fragments, their graph and the per-edge features (everything that does not depend on
    the classifier or the swept parameter)."""

    fragments: np.ndarray
    rag: Any
    features: np.ndarray
    #: number of affinity links crossing each edge (its size)
    sizes: np.ndarray

    @property
    def uv_ids(self) -> np.ndarray:
        return self.rag.uv_ids()


def _fragments(affs: np.ndarray, mode: str, params: dict[str, Any]) -> np.ndarray:
    return watershed_fragments(
        affs, mode=mode, threshold=params["ws_threshold"], sigma_seeds=params["sigma_seeds"],
        min_size=params["min_size"],
    )


def edge_features(rag: Any, fragments: np.ndarray, affs: np.ndarray,
                  raw: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``(features (E, F) float64, sizes (E,))`` of the module's step 3."""
    from elf.segmentation.features import compute_affinity_features, compute_boundary_features

    boundary = np.ascontiguousarray(1.0 - affs[:3], dtype=np.float32)
    aff_feats = compute_affinity_features(rag, fragments, boundary, NEAREST_OFFSETS, n_threads=1)
    uv = rag.uv_ids()
    u, v = uv[:, 0], uv[:, 1]
    n_nodes = int(rag.number_of_nodes)
    flat = fragments.ravel()
    size = np.bincount(flat, minlength=n_nodes).astype(np.float64)
    safe = np.maximum(size, 1.0)
    z_mean = np.bincount(flat, weights=np.repeat(np.arange(fragments.shape[0]),
                                                 fragments[0].size), minlength=n_nodes) / safe
    node_b = np.bincount(flat, weights=boundary[1:].mean(axis=0).ravel(),
                         minlength=n_nodes) / safe
    columns = [aff_feats, np.log1p(np.minimum(size[u], size[v]))[:, None],
               np.log1p(np.maximum(size[u], size[v]))[:, None],
               (np.abs(z_mean[u] - z_mean[v]) > 0.5)[:, None],
               np.minimum(node_b[u], node_b[v])[:, None], np.maximum(node_b[u], node_b[v])[:, None]]
    if raw is not None:
        raw_f = np.asarray(raw, dtype=np.float32) / 255.0
        columns.append(compute_boundary_features(rag, fragments, raw_f, n_threads=1))
        node_raw = np.bincount(flat, weights=raw_f.ravel(), minlength=n_nodes) / safe
        columns += [np.minimum(node_raw[u], node_raw[v])[:, None],
                    np.maximum(node_raw[u], node_raw[v])[:, None],
                    np.abs(node_raw[u] - node_raw[v])[:, None]]
    features = np.nan_to_num(np.concatenate(columns, axis=1).astype(np.float64))
    return features, aff_feats[:, -1].astype(np.float64)


def build_graph(affs: np.ndarray, raw: np.ndarray | None, mode: str,
                params: dict[str, Any]) -> EdgeGraph:
    """Steps 1-3 of the recipe on one volume."""
    from elf.segmentation.features import compute_rag

    affs = validate_affinities(affs)
    if raw is not None and np.shape(raw) != affs.shape[1:]:
        raise ValueError(f"raw {np.shape(raw)} does not match the affinities' spatial shape "
                         f"{affs.shape[1:]}")
    fragments = _fragments(affs, mode, params)
    rag = compute_rag(fragments, n_threads=1)
    features, sizes = edge_features(rag, fragments, affs, raw)
    return EdgeGraph(fragments, rag, features, sizes)


@dataclass
class EdgeModel:
    """A fitted edge classifier and the settings its features were computed with."""

    forest: Any
    mode: str
    use_raw: bool
    params: dict[str, Any] = field(default_factory=dict)
    n_training_edges: int = 0

    def cut_probability(self, graph: EdgeGraph) -> np.ndarray:
        if graph.features.shape[0] == 0:
            return np.zeros(0)
        proba = self.forest.predict_proba(graph.features)
        classes = list(self.forest.classes_)
        return proba[:, classes.index(1)] if 1 in classes else np.zeros(len(proba))


def fit_edge_model(volumes: Sequence[tuple[np.ndarray, np.ndarray | None, np.ndarray]],
                   *, mode: str, params: dict[str, Any], seed: int = 0,
                   n_estimators: int = 100) -> EdgeModel:
    """Fit the edge forest on ``[(affs, raw or None, labels), ...]`` (labelled, never test)."""
    from elf.segmentation.learning import compute_edge_labels
    from sklearn.ensemble import RandomForestClassifier

    xs, ys = [], []
    use_raw = all(raw is not None for _, raw, _ in volumes)
    for affs, raw, labels in volumes:
        if np.shape(labels) != affs.shape[1:]:
            raise ValueError(f"labels {np.shape(labels)} do not match the affinities' spatial "
                             f"shape {affs.shape[1:]}")
        graph = build_graph(affs, raw if use_raw else None, mode, params)
        if graph.features.shape[0] == 0:
            continue
        y, keep = compute_edge_labels(graph.rag, graph.fragments, np.asarray(labels),
                                      ignore_label=0, n_threads=1)
        xs.append(graph.features[keep])
        ys.append(y[keep])
    if not xs or sum(len(y) for y in ys) == 0:
        raise ValueError("learned agglomeration: the labelled volumes give no usable edges to "
                         "train the edge classifier on (too few fragments or all background)")
    forest = RandomForestClassifier(n_estimators=n_estimators, min_samples_leaf=2,
                                    random_state=seed, n_jobs=1)
    x, y = np.concatenate(xs), np.concatenate(ys)
    forest.fit(x, y)
    return EdgeModel(forest, mode, use_raw, dict(params), int(len(y)))


# -- agglomeration ---------------------------------------------------------------------------
def agglomerate(n_nodes: int, uv_ids: np.ndarray, p_cut: np.ndarray, sizes: np.ndarray,
                thresholds: Sequence[float]) -> list[np.ndarray]:
    """Node labels (one array per threshold, in the given order) of step 6 of the recipe.

    Merges pop from a heap by the current P(cut) of the edge between two regions; when two
    regions merge, their edges to a common neighbour combine into one whose P(cut) is the
    size-weighted mean. The result at ``t`` is the state before the first edge with P(cut) >= t.
    """
    parent = np.arange(n_nodes)

    def find(a: int) -> int:
        root = a
        while parent[root] != root:
            root = parent[root]
        while parent[a] != root:  # path compression
            parent[a], a = root, parent[a]
        return root

    # adjacency: region -> {neighbour: [sum of p * size, size]}
    adj: list[dict[int, list[float]]] = [{} for _ in range(n_nodes)]
    heap: list[tuple[float, int, int]] = []
    for (a, b), p, s in zip(uv_ids.tolist(), p_cut.tolist(), sizes.tolist(), strict=True):
        s = max(float(s), 1.0)
        adj[a][b] = [p * s, s]
        adj[b][a] = adj[a][b]
        heap.append((p, a, b))
    heapq.heapify(heap)
    order = sorted(range(len(thresholds)), key=lambda i: thresholds[i])
    results: list[np.ndarray | None] = [None] * len(thresholds)
    for i in order:
        t = thresholds[i]
        while heap and heap[0][0] < t:
            p, a, b = heapq.heappop(heap)
            if find(a) != a or find(b) != b or b not in adj[a]:
                continue  # stale: a side merged away, or the edge was combined
            ps, s = adj[a][b]
            if abs(ps / s - p) > 1e-12:
                continue  # stale: the combined edge was re-pushed with its new P(cut)
            # merge the region with fewer neighbours into the other
            if len(adj[a]) < len(adj[b]):
                a, b = b, a
            parent[b] = a
            del adj[a][b]
            for c, (cps, cs) in adj[b].items():
                if c == a:
                    continue
                del adj[c][b]
                if c in adj[a]:
                    entry = adj[a][c]
                    entry[0] += cps
                    entry[1] += cs
                else:
                    entry = [cps, cs]
                    adj[a][c] = entry
                    adj[c][a] = entry
                heapq.heappush(heap, (entry[0] / entry[1], min(a, c), max(a, c)))
            adj[b] = {}
        results[i] = np.array([find(n) for n in range(n_nodes)], dtype=np.uint64)
    return results  # type: ignore[return-value]


class _Learned(PostProcessor):
    """Shared parameters and graph building of the learned post-processors.

    Fixed parameters: ``model`` (an :class:`EdgeModel`, required: fitted by
    :func:`select_learned` or :func:`fit_edge_model`), ``raw`` (the volume's raw intensities;
    required when the model was fitted with raw features), and the fragment settings
    ``ws_threshold``, ``sigma_seeds``, ``min_size`` (used by :func:`select_learned`; a fitted
    model carries its own).
    """

    #: the harness fits these on labelled validation data before sweeping (bench.pipeline)
    learned = True
    cheap_sweep = True
    #: cross-fitting holds out one of two z blocks of validation (select_learned's n_folds)
    min_val_sections = 2

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return dict(model=None, raw=None, ws_threshold=0.5, sigma_seeds=0.0, min_size=20)

    def graph(self, affs: np.ndarray) -> tuple[EdgeModel, EdgeGraph, np.ndarray]:
        model = self.params["model"]
        if not isinstance(model, EdgeModel):
            raise ValueError(
                f"{self.name} needs a fitted edge classifier (model=EdgeModel); fit one on "
                "labelled non-test data with bench.segment.learned.select_learned"
            )
        raw = self.params["raw"]
        if model.use_raw and raw is None:
            raise ValueError(f"{self.name}: the edge classifier uses raw features; pass raw=")
        graph = build_graph(affs, raw if model.use_raw else None, model.mode, model.params)
        return model, graph, model.cut_probability(graph)


@register_postprocessor
class Gala(_Learned):
    """gala-style learned agglomeration; swept parameter ``threshold`` on P(cut)."""

    name = "gala"
    #: shown by ``python -m bench list``
    description = (
        "learned agglomeration: RAG edge random forest fitted on validation "
        "(cross-fitted), merge by predicted probability; sweep: threshold"
    )
    parameter = "threshold"
    default_value = 0.5
    default_values = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

    def sweep(self, affs: np.ndarray, values: Sequence[float] | None = None
              ) -> list[tuple[float, np.ndarray]]:
        values = self._values(values)
        _, graph, p_cut = self.graph(affs)
        n_nodes = int(graph.rag.number_of_nodes)
        labels = agglomerate(n_nodes, graph.uv_ids, p_cut, graph.sizes, values)
        return [(v, renumber(lab[graph.fragments])) for v, lab in zip(values, labels, strict=True)]


@register_postprocessor
class LearnedMulticut(_Learned):
    """Multicut of the fragments with costs from the edge classifier; swept ``beta``."""

    name = "lmc-rf"
    #: shown by ``python -m bench list``
    description = (
        "learned multicut: costs from the gala edge random forest (fitted on validation, "
        "cross-fitted) and edge sizes; sweep: beta"
    )
    parameter = "beta"
    default_value = 0.5
    default_values = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

    def sweep(self, affs: np.ndarray, values: Sequence[float] | None = None
              ) -> list[tuple[float, np.ndarray]]:
        from elf.segmentation import multicut as mc

        values = self._values(values)
        for v in values:
            if not 0.0 < v < 1.0:
                raise ValueError(f"lmc-rf beta (boundary bias) must be in (0, 1), got {v}")
        _, graph, p_cut = self.graph(affs)
        out = []
        for beta in progress.bar(values, desc="lmc-rf sweep: solve", unit="value"):
            if graph.rag.number_of_edges == 0:
                out.append((beta, renumber(graph.fragments)))
                continue
            # keep probabilities off 0 and 1, where the log-odds costs are infinite
            p = np.clip(p_cut, 1e-3, 1 - 1e-3)
            costs = mc.transform_probabilities_to_costs(p, beta=beta, edge_sizes=graph.sizes)
            nodes = np.asarray(mc.multicut_kernighan_lin(graph.rag, costs), dtype=np.uint64)
            out.append((beta, renumber(nodes[graph.fragments])))
        return out


# -- fitting and selection on validation ------------------------------------------------------
def _folds(depth: int, n_folds: int) -> list[tuple[int, int]]:
    if n_folds < 2:
        raise ValueError(f"cross-fitting needs n_folds >= 2, got {n_folds}")
    if depth < n_folds:
        raise ValueError(f"cross-fitting needs at least {n_folds} validation sections, got "
                         f"{depth}")
    edges = np.linspace(0, depth, n_folds + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def select_learned(
    val_affs: np.ndarray,
    val_gt: np.ndarray,
    method: str = "gala",
    values: Sequence[float] | None = None,
    *,
    raw: np.ndarray | None = None,
    resolution_nm: Sequence[float] | None = None,
    n_folds: int = 2,
    seed: int = 0,
    n_estimators: int = 100,
    evaluate: Callable[..., dict[str, float]] | None = None,
    **params: Any,
) -> SelectionResult:
    """Choose the swept value by z-block cross-fitting on validation, then fit on all of it.

    Returns a :class:`SelectionResult` whose ``params`` hold the final ``model`` (fitted on all
    of validation), ready for ``segment(test_affs, method, model=..., raw=test_raw, ...)``;
    ``stats`` records the folds and training edge counts.
    """
    from bench.registries import POSTPROCESSORS
    from bench.segment.selection import _default_evaluate

    factory = POSTPROCESSORS.get(method).factory
    if not getattr(factory, "learned", False):
        raise ValueError(f"post-processor {method!r} is not learned; use select_parameter")
    if np.shape(val_gt) != val_affs.shape[1:]:
        raise ValueError(f"val_gt shape {np.shape(val_gt)} does not match the affinities' "
                         f"spatial shape {val_affs.shape[1:]}")
    evaluate = evaluate or _default_evaluate()
    # the fragment settings only: the model is what this function fits, raw is per volume
    settings = {k: v for k, v in {**factory.defaults(), **params}.items()
                if k not in ("model", "raw")}
    mode = fragments_mode(resolution_nm)
    values = list(factory.default_values if values is None else values)
    val_gt = np.asarray(val_gt)
    raw = None if raw is None else np.asarray(raw)

    def piece(a: int, b: int):
        return val_affs[:, a:b], None if raw is None else raw[a:b], val_gt[a:b]

    folds = _folds(val_gt.shape[0], n_folds)
    totals = {v: dict.fromkeys(CURVE_KEYS, 0.0) for v in values}
    weight = 0.0
    fold_stats = []
    # each fold: fit the edge forest on the other folds, sweep and score this one; then the
    # final fit on all of validation
    shown = progress.bar(total=len(folds) + 1, desc=f"{method} fit", unit="fit")
    for k, (a, b) in enumerate(folds):
        others = [piece(c, d) for j, (c, d) in enumerate(folds) if j != k]
        model = fit_edge_model(others, mode=mode, params=settings, seed=seed,
                               n_estimators=n_estimators)
        affs_k, raw_k, gt_k = piece(a, b)
        results = factory(model=model, raw=raw_k).sweep(affs_k, values)
        w = float(np.count_nonzero(gt_k))
        for value, labels in results:
            scores = evaluate(gt_k, labels)
            for key in CURVE_KEYS:
                totals[value][key] += w * float(scores[key])
        weight += w
        fold_stats.append({"sections": [a, b], "training_edges": model.n_training_edges})
        shown.update(1)
    curve = [{"value": float(v), **{k: totals[v][k] / max(weight, 1.0) for k in CURVE_KEYS}}
             for v in values]
    best = min(curve, key=lambda row: (row["voi"], row["arand"], row["value"]))
    final = fit_edge_model([piece(0, val_gt.shape[0])], mode=mode, params=settings, seed=seed,
                           n_estimators=n_estimators)
    shown.update(1)
    shown.close()
    return SelectionResult(
        method=method,
        parameter=factory.parameter,
        best_value=best["value"],
        best_scores={k: best[k] for k in CURVE_KEYS},
        curve=curve,
        params={"model": final},
        stats={"cross_fit_folds": fold_stats, "fragments_mode": mode,
               "final_training_edges": final.n_training_edges},
    )
