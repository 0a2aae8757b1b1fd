"""Skeleton-based scores on dense ground truth: expected run length (ERL), normalised ERL (NERL),
and counts of split and merge errors along ground-truth skeletons.

VOI and ARAND count voxels, so one false merge joining two long axons costs little VOI yet
ruins a connectome. The skeleton scores measure what a proofreader faces instead. The ground
truth is skeletonised once (:func:`skeletonize`, TEASAR through ``kimimaro``, resolution-aware);
a segmentation is then scored by the segment id found under each skeleton node
(:func:`skeleton_scores`, :func:`skeleton_errors`).

Arrays are ``(Z, Y, X)`` and ``resolution`` is ``(z, y, x)`` in nm, as everywhere in the project.
kimimaro names its axes x, y, z (Fortran order); this module hands it the transposed view and the
reversed resolution, and turns its vertices back into ``(z, y, x)`` voxel indices, so callers never
see its order.

References
----------
- M. Januszewski et al., "High-precision automated reconstruction of neurons with flood-filling
  networks", Nature Methods 15 (2018): expected run length, the expected error-free length of
  neurite found from a random point on a ground-truth skeleton.
- funlib.evaluate (Funke lab), ``expected_run_length``: the per-segment formulation used here
  (edges whose two nodes carry the same, non-merging segment id are correct; ERL is the
  length-weighted mean over skeletons of sum(correct length per segment ** 2) / skeleton length),
  and its ``merge_thres`` option (later versions) to ignore small merges.
- NISB benchmark and PyTorch Connectomics v2: normalised ERL, ERL divided by the ERL of the
  ground truth itself, so 1 is perfect whatever the volume's size.
- M. Sato, I. Bitter et al., "TEASAR: tree-structure extraction algorithm for accurate and
  robust skeletons", Pacific Graphics 2000; as implemented by kimimaro (W. Silversmith et al.,
  seung-lab).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from metrics._validate import check_block_values, check_label_array, check_resolution

#: bump when the skeletonisation or its parameters change meaning (invalidates caches)
SKELETON_VERSION = 1


@dataclass(frozen=True)
class SkeletonParams:
    """TEASAR parameters (kimimaro's), recorded with every result.

    Attributes
    ----------
    scale, const_nm : float
        Invalidation ball radius around a traced path: ``scale * DBF + const_nm``, where DBF is
        the distance to the object's boundary in nm. Larger values give fewer, coarser branches.
        kimimaro's defaults (1.5, 300 nm).
    pdrf_scale, pdrf_exponent : float, int
        Weight of the distance-to-boundary field in the path cost (kimimaro's defaults).
    dust_voxels : int
        Objects (connected components of a label) smaller than this are not skeletonised and so
        carry no run length. 100 voxels keeps the slivers a dense label volume has at its borders
        out of ERL.
    """

    scale: float = 1.5
    const_nm: float = 300.0
    pdrf_scale: float = 100000.0
    pdrf_exponent: int = 4
    dust_voxels: int = 100

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "version": SKELETON_VERSION}


@dataclass
class Skeletons:
    """The skeletons of every ground-truth label, as flat arrays.

    Attributes
    ----------
    labels : ndarray of uint64, (K,)
        The ground-truth label of each skeleton (sorted).
    nodes : ndarray of int64, (N, 3)
        Node positions as ``(z, y, x)`` voxel indices (every node lies inside its label).
    node_skeleton : ndarray of int64, (N,)
        Index into ``labels`` of each node's skeleton.
    edges : ndarray of int64, (E, 2)
        Pairs of node indices; both nodes of an edge belong to the same skeleton.
    resolution : tuple of 3 floats
        ``(z, y, x)`` voxel size in nm that lengths are measured with.
    shape : tuple of 3 ints
        Shape of the volume the skeletons were traced in.
    params : dict
        :meth:`SkeletonParams.as_dict` of the parameters used.
    """

    labels: np.ndarray
    nodes: np.ndarray
    node_skeleton: np.ndarray
    edges: np.ndarray
    resolution: tuple[float, float, float]
    shape: tuple[int, int, int]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def edge_lengths_nm(self) -> np.ndarray:
        """Euclidean length of each edge in nm."""
        d = (self.nodes[self.edges[:, 0]] - self.nodes[self.edges[:, 1]]).astype(np.float64)
        return np.sqrt(((d * np.asarray(self.resolution)) ** 2).sum(axis=1))

    @property
    def edge_skeleton(self) -> np.ndarray:
        return self.node_skeleton[self.edges[:, 0]]

    @property
    def lengths_nm(self) -> np.ndarray:
        """Total length of each skeleton in nm (aligned with ``labels``)."""
        return np.bincount(self.edge_skeleton, weights=self.edge_lengths_nm,
                           minlength=len(self.labels))

    def save(self, path: str | Path) -> None:
        """Write to ``path`` (``.npz``). Not atomic: callers write to a temporary name."""
        with open(path, "wb") as f:
            np.savez_compressed(
                f, labels=self.labels, nodes=self.nodes, node_skeleton=self.node_skeleton,
                edges=self.edges, resolution=np.asarray(self.resolution, dtype=np.float64),
                shape=np.asarray(self.shape, dtype=np.int64),
                params=np.asarray(json.dumps(self.params)),
            )

    @classmethod
    def load(cls, path: str | Path) -> Skeletons:
        with np.load(path, allow_pickle=False) as z:
            return cls(
                labels=z["labels"], nodes=z["nodes"], node_skeleton=z["node_skeleton"],
                edges=z["edges"], resolution=tuple(float(v) for v in z["resolution"]),
                shape=tuple(int(v) for v in z["shape"]), params=json.loads(str(z["params"])),
            )


def cache_key(gt: np.ndarray, resolution, params: SkeletonParams | None = None) -> str:
    """A short hash of the ground-truth voxels, the resolution and the parameters: skeletons
    computed for one key are valid for every later request with the same key."""
    params = params or SkeletonParams()
    gt = np.ascontiguousarray(gt)
    h = hashlib.sha256()
    h.update(json.dumps({"shape": list(gt.shape), "dtype": str(gt.dtype),
                         "resolution": [float(r) for r in resolution],
                         "params": params.as_dict()}, sort_keys=True).encode())
    h.update(memoryview(gt).cast("B"))
    return h.hexdigest()[:16]


def skeletonize(
    gt: Any,
    resolution=(1.0, 1.0, 1.0),
    *,
    params: SkeletonParams | None = None,
    parallel: int = 1,
    progress: bool = False,
) -> Skeletons:
    """Skeletonise every non-zero label of a dense ground truth (TEASAR, via kimimaro).

    Parameters
    ----------
    gt : integer array, (Z, Y, X)
        Dense ground-truth labels; 0 is background/boundary and gets no skeleton.
    resolution : 3 floats
        ``(z, y, x)`` voxel size in nm. Used for the invalidation radii and all lengths.
    params : SkeletonParams, optional
        TEASAR parameters; the defaults are recorded in ``Skeletons.params``.
    parallel : int
        kimimaro worker processes (1: deterministic, in this process).
    progress : bool
        kimimaro's progress bar (one step per label) on stderr.

    Returns
    -------
    Skeletons
        One skeleton per label with at least ``params.dust_voxels`` voxels (a label split into
        several components gets one skeleton with several components).
    """
    import kimimaro

    params = params or SkeletonParams()
    check_label_array("gt", gt)
    gt = np.asarray(gt)
    check_block_values("gt", gt)
    if gt.ndim != 3:
        raise ValueError(f"gt: expected a (Z, Y, X) label volume, got shape {gt.shape}")
    resolution = check_resolution(resolution)
    # kimimaro reads axis 0 as x; the transposed view is (X, Y, Z) without a copy
    found = kimimaro.skeletonize(
        gt.T,
        teasar_params={"scale": params.scale, "const": params.const_nm,
                       "pdrf_scale": params.pdrf_scale, "pdrf_exponent": params.pdrf_exponent},
        anisotropy=resolution[::-1],
        dust_threshold=params.dust_voxels,
        progress=progress,
        parallel=parallel,
        fix_branching=True,
        fix_borders=True,
    )
    labels = np.array(sorted(int(k) for k in found), dtype=np.uint64)
    nodes, owner, edges, offset = [], [], [], 0
    scale = np.asarray(resolution[::-1])
    for k, label in enumerate(labels):
        sk = found[int(label)]
        # vertices are (x, y, z) in nm at voxel centres: back to (z, y, x) indices
        idx = np.rint(np.asarray(sk.vertices, dtype=np.float64) / scale).astype(np.int64)[:, ::-1]
        nodes.append(idx)
        owner.append(np.full(len(idx), k, dtype=np.int64))
        edges.append(np.asarray(sk.edges, dtype=np.int64).reshape(-1, 2) + offset)
        offset += len(idx)
    return Skeletons(
        labels=labels,
        nodes=np.concatenate(nodes) if nodes else np.zeros((0, 3), np.int64),
        node_skeleton=np.concatenate(owner) if owner else np.zeros(0, np.int64),
        edges=np.concatenate(edges) if edges else np.zeros((0, 2), np.int64),
        resolution=resolution,
        shape=tuple(int(s) for s in gt.shape),
        params=params.as_dict(),
    )


@dataclass
class _Evaluation:
    """Per-skeleton and per-(skeleton, segment) results of one segmentation."""

    skeletons: Skeletons
    node_segment: np.ndarray  # (N,) segment id under each node
    pair_skeleton: np.ndarray  # (P,) distinct (skeleton, segment) pairs with segment != 0
    pair_segment: np.ndarray
    pair_nodes: np.ndarray  # nodes of the skeleton in the segment
    pair_counted: np.ndarray  # pair takes part in merge detection (enough nodes)
    pair_merging: np.ndarray  # counted pair whose segment is counted for > 1 skeleton
    correct_nm: np.ndarray  # (K, ) sum over segments of correct length ** 2, per skeleton
    lengths_nm: np.ndarray  # (K,)


def _evaluate(skeletons: Skeletons, seg: Any, ignore_merges_below: int) -> _Evaluation:
    if tuple(seg.shape) != tuple(skeletons.shape):
        raise ValueError(
            f"seg has shape {tuple(seg.shape)} but the skeletons were traced in a volume of shape "
            f"{tuple(skeletons.shape)}: pass the segmentation of the same (Z, Y, X) region"
        )
    if ignore_merges_below < 1:
        raise ValueError(f"ignore_merges_below must be >= 1 node, got {ignore_merges_below}")
    sk = skeletons
    n = sk.nodes
    check_label_array("seg", seg)
    seg_arr = np.asarray(seg)
    node_segment = seg_arr[n[:, 0], n[:, 1], n[:, 2]].astype(np.uint64) if len(n) else (
        np.zeros(0, np.uint64))

    # distinct (skeleton, segment) pairs over nodes, background segment 0 excluded
    keep = node_segment != 0
    pairs, pair_nodes = np.unique(
        np.stack([sk.node_skeleton[keep].astype(np.uint64), node_segment[keep]], axis=1),
        axis=0, return_counts=True,
    ) if keep.any() else (np.zeros((0, 2), np.uint64), np.zeros(0, np.int64))
    pair_skeleton = pairs[:, 0].astype(np.int64)
    pair_segment = pairs[:, 1]
    # a segment merges skeletons when it holds >= ignore_merges_below nodes of each of >= 2
    counted = pair_nodes >= ignore_merges_below
    seg_ids, n_skel = np.unique(pair_segment[counted], return_counts=True)
    merging_ids = seg_ids[n_skel > 1]
    pair_merging = counted & np.isin(pair_segment, merging_ids)

    # correct edges: both nodes in the same non-zero segment, and that segment is not a merge
    # for this skeleton; their length is summed per (skeleton, segment)
    e = sk.edges
    lengths = sk.edge_lengths_nm
    su, sv = node_segment[e[:, 0]], node_segment[e[:, 1]]
    edge_skel = sk.edge_skeleton
    ok = (su == sv) & (su != 0)
    correct_sq = np.zeros(len(sk.labels))
    if ok.any() and len(pairs):
        # pair index of each correct edge (pairs are sorted by (skeleton, segment))
        key = np.stack([edge_skel[ok].astype(np.uint64), su[ok]], axis=1)
        idx = _row_index(pairs, key)
        good = ~pair_merging[idx]
        per_pair = np.bincount(idx[good], weights=lengths[ok][good], minlength=len(pairs))
        correct_sq = np.bincount(pair_skeleton, weights=per_pair ** 2, minlength=len(sk.labels))
    return _Evaluation(sk, node_segment, pair_skeleton, pair_segment, pair_nodes, counted,
                       pair_merging, correct_sq, sk.lengths_nm)


def _row_index(sorted_rows: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Index of each of ``rows`` in the lexicographically sorted, distinct ``sorted_rows``."""
    view = np.dtype([("a", np.uint64), ("b", np.uint64)])
    table = np.ascontiguousarray(sorted_rows, dtype=np.uint64).view(view).ravel()
    keys = np.ascontiguousarray(rows, dtype=np.uint64).view(view).ravel()
    return np.searchsorted(table, keys)


def _as_skeletons(gt_or_skeletons: Any, resolution, params) -> Skeletons:
    if isinstance(gt_or_skeletons, Skeletons):
        return gt_or_skeletons
    if resolution is None:
        raise ValueError("skeleton scores need resolution=(z, y, x) in nm for a label volume")
    return skeletonize(gt_or_skeletons, resolution, params=params)


def skeleton_scores(
    gt: Any,
    seg: Any,
    *,
    resolution=None,
    params: SkeletonParams | None = None,
    ignore_merges_below: int = 1,
) -> dict[str, float | int]:
    """Expected run length, NERL, and skeleton split/merge counts of ``seg``.

    Parameters
    ----------
    gt : integer array (Z, Y, X) or Skeletons
        Dense ground truth (skeletonised here with ``params`` at ``resolution``), or its
        skeletons from :func:`skeletonize` (skeletonise once, score many segmentations).
    seg : integer array (Z, Y, X)
        The segmentation; segment 0 is "no segment" (nodes there are unassigned).
    resolution : 3 floats, optional
        ``(z, y, x)`` nm; required when ``gt`` is a label volume.
    params : SkeletonParams, optional
        Skeletonisation parameters when ``gt`` is a label volume.
    ignore_merges_below : int
        A segment merges two skeletons only if it holds at least this many nodes of each
        (NISB's variant that forgives tiny merges; funlib's ``merge_thres`` is this minus one).
        1 (default) counts every merge.

    Returns
    -------
    dict
        ``erl_nm``
            Expected run length in nm. For skeleton k of length L_k, an edge is *correct* when
            both its nodes carry the same segment s != 0 and s does not merge k with another
            skeleton; c_ks is the length of k's correct edges in s. Then
            ``ERL = sum_k (L_k / L) * sum_s c_ks**2 / L_k = sum_k sum_s c_ks**2 / L`` with
            L = sum_k L_k: the expected length of the correctly reconstructed run that holds a
            point drawn uniformly along all skeletons. Edges between two segments (a split),
            touching segment 0, or inside a merging segment contribute zero length. Notes: the
            run length is summed per segment, so two stretches of one skeleton in the same
            segment count as one run (as in funlib); only the edges inside a merging segment
            are zeroed, not the whole merged skeleton (funlib's later rule; its first release
            zeroed every edge of a skeleton that touched a merge).
        ``max_erl_nm``
            ERL of the ground truth itself, ``sum_k L_k**2 / L`` (every skeleton one run).
        ``nerl``
            ``erl_nm / max_erl_nm``, in [0, 1]; 1 is perfect (NaN without skeleton length).
        ``n_merges``
            Sum over segments of (skeletons it merges - 1): merging two neurites is one merge.
        ``n_splits``
            Sum over skeletons of (distinct non-zero segments on its nodes - 1): cutting a
            neurite into k pieces is k - 1 splits.
        ``n_skeletons``, ``skeleton_length_nm``
            Number of skeletons and their total length L.
        ``n_merged_skeletons``, ``n_split_skeletons``
            Skeletons involved in at least one merge / with at least one split.
        ``n_omitted_nodes``
            Nodes that fall on segment 0.
    """
    ev = _evaluate(_as_skeletons(gt, resolution, params), seg, ignore_merges_below)
    total = float(ev.lengths_nm.sum())
    erl = float(ev.correct_nm.sum() / total) if total > 0 else float("nan")
    max_erl = float((ev.lengths_nm ** 2).sum() / total) if total > 0 else float("nan")
    merged_segments, n_per_segment = np.unique(ev.pair_segment[ev.pair_merging],
                                               return_counts=True)
    n_segments = np.bincount(ev.pair_skeleton, minlength=len(ev.skeletons.labels))
    return {
        "erl_nm": erl,
        "max_erl_nm": max_erl,
        "nerl": erl / max_erl if max_erl > 0 else float("nan"),
        "n_merges": int((n_per_segment - 1).sum()),
        "n_splits": int(np.maximum(n_segments - 1, 0).sum()),
        "n_skeletons": int(len(ev.skeletons.labels)),
        "skeleton_length_nm": total,
        "n_merged_skeletons": int(len(np.unique(ev.pair_skeleton[ev.pair_merging]))),
        "n_split_skeletons": int((n_segments > 1).sum()),
        "n_omitted_nodes": int((ev.node_segment == 0).sum()),
        "ignore_merges_below": int(ignore_merges_below),
    }


def skeleton_errors(
    gt: Any,
    seg: Any,
    *,
    resolution=None,
    params: SkeletonParams | None = None,
    ignore_merges_below: int = 1,
) -> list[dict[str, Any]]:
    """Per ground-truth neuron: its skeleton's run length, what it lost, and where.

    Same arguments and definitions as :func:`skeleton_scores`. Returns one dict per skeleton,
    in label order: ``label``, ``length_nm``, ``run_nm`` (its own expected run,
    ``sum_s c_ks**2 / L_k``), ``lost_erl_nm`` (what it costs the volume's ERL,
    ``(L_k**2 - sum_s c_ks**2) / L``), ``n_segments`` (distinct non-zero segments on it),
    ``merged_with`` (ground-truth labels sharing a merging segment with it), ``merge_segments``
    (those segments' ids), ``split_at`` and ``merge_at`` (``(z, y, x)`` voxel of the first edge
    between two segments / of the first node in a merging segment, or ``None``).
    """
    ev = _evaluate(_as_skeletons(gt, resolution, params), seg, ignore_merges_below)
    sk = ev.skeletons
    n_skel = len(sk.labels)
    total = float(ev.lengths_nm.sum())
    node_seg, e = ev.node_segment, sk.edges

    def first_per_skeleton(owner: np.ndarray, where: np.ndarray) -> dict[int, int]:
        """Skeleton -> the first index in ``where`` (sorted) whose owner it is."""
        ks, first = np.unique(owner[where], return_index=True)
        return dict(zip(ks.tolist(), where[first].tolist(), strict=True))

    split_edges = np.flatnonzero(node_seg[e[:, 0]] != node_seg[e[:, 1]])
    first_split = first_per_skeleton(sk.edge_skeleton, split_edges)
    # nodes lying in a segment that merges their skeleton with another one
    in_pair = np.flatnonzero(node_seg != 0)
    pair_of_node = _row_index(
        np.stack([ev.pair_skeleton.astype(np.uint64), ev.pair_segment], axis=1),
        np.stack([sk.node_skeleton[in_pair].astype(np.uint64), node_seg[in_pair]], axis=1))
    merge_nodes = in_pair[ev.pair_merging[pair_of_node]] if len(in_pair) else in_pair
    first_merge = first_per_skeleton(sk.node_skeleton, merge_nodes)
    merged_k, merged_s = ev.pair_skeleton[ev.pair_merging], ev.pair_segment[ev.pair_merging]
    by_segment: dict[int, list[int]] = {}
    by_skeleton: dict[int, list[int]] = {}
    for k, s_id in zip(merged_k.tolist(), merged_s.tolist(), strict=True):
        by_segment.setdefault(s_id, []).append(k)
        by_skeleton.setdefault(k, []).append(s_id)
    n_segments = np.bincount(ev.pair_skeleton, minlength=n_skel)
    out = []
    for k, label in enumerate(sk.labels.tolist()):
        length = float(ev.lengths_nm[k])
        segs = sorted(by_skeleton.get(k, []))
        partners = sorted({int(sk.labels[j]) for s_id in segs for j in by_segment[s_id]
                           if j != k})
        out.append({
            "label": int(label),
            "length_nm": length,
            "run_nm": float(ev.correct_nm[k] / length) if length > 0 else 0.0,
            "lost_erl_nm": float((length ** 2 - ev.correct_nm[k]) / total) if total > 0 else 0.0,
            "n_segments": int(n_segments[k]),
            "merged_with": partners,
            "merge_segments": [int(s_id) for s_id in segs],
            "split_at": (sk.nodes[e[first_split[k], 0]].tolist() if k in first_split else None),
            "merge_at": (sk.nodes[first_merge[k]].tolist() if k in first_merge else None),
        })
    return out
