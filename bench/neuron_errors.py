"""Per-neuron error analysis of one test segmentation: which ground-truth neurons carry the
VOI split/merge terms and the skeleton errors, and where to look at them.

``neuron_errors`` joins :func:`metrics.voi_by_gt_label` (voxel view) with
:func:`metrics.skeleton_errors` (run-length view) into one record per gt neuron;
``worst_errors`` picks the few a person should look at first; ``error_crops`` cuts a small
section of raw, ground truth and segmentation around each for the report.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: rows kept per ranking key in :func:`worst_errors`
TOP_PER_KEY = 4
#: half-width in voxels (y, x) of a crop around an error
CROP_HALF = 48


def neuron_errors(gt: np.ndarray, seg: np.ndarray, skeletons, table=None
                  ) -> list[dict[str, Any]]:
    """One record per gt neuron (label != 0), sorted by lost run length, then VOI.

    Fields: ``label``, ``n_voxels``, ``voi_split`` and ``voi_merge`` (its terms of the volume's
    VOI, bits), ``length_nm``, ``run_nm``, ``lost_erl_nm``, ``n_segments``, ``merged_with``
    (see :func:`metrics.skeleton_errors`; zero/empty for neurons too small to skeletonise),
    ``error`` (``split``, ``merge``, ``split+merge`` or ``-`` on the skeleton) and ``position``,
    a ``(z, y, x)`` voxel to look at: the merge, else the split, else a skeleton node, else the
    neuron's first voxel. ``table``: the overlap table of ``gt`` and ``seg``, if already built.
    """
    import metrics

    terms = metrics.voi_by_gt_label(metrics.overlap_table(gt, seg) if table is None else table)
    sk = {e["label"]: e for e in metrics.skeleton_errors(skeletons, seg)}
    first_node = {}
    for k, label in enumerate(skeletons.labels.tolist()):
        idx = np.flatnonzero(skeletons.node_skeleton == k)
        if len(idx):
            first_node[label] = skeletons.nodes[idx[len(idx) // 2]].tolist()
    # the first voxel of every label, for neurons without a skeleton (one sort, not one scan each)
    flat_ids, flat_first = np.unique(np.asarray(gt).ravel(), return_index=True)
    first_voxel = dict(zip(flat_ids.tolist(), flat_first.tolist(), strict=True))
    out = []
    for label, n_vox, split, merge in zip(terms["gt_ids"].tolist(), terms["n_voxels"].tolist(),
                                          terms["split"].tolist(), terms["merge"].tolist(),
                                          strict=True):
        e = sk.get(label, {})
        kinds = [k for k, bad in (("split", e.get("n_segments", 0) > 1),
                                  ("merge", bool(e.get("merged_with")))) if bad]
        position = e.get("merge_at") or e.get("split_at") or first_node.get(label)
        if position is None:
            position = np.unravel_index(first_voxel[label], gt.shape)
        out.append({
            "label": int(label), "n_voxels": int(n_vox), "voi_split": split, "voi_merge": merge,
            "length_nm": e.get("length_nm", 0.0), "run_nm": e.get("run_nm", 0.0),
            "lost_erl_nm": e.get("lost_erl_nm", 0.0), "n_segments": e.get("n_segments", 0),
            "merged_with": e.get("merged_with", []), "error": "+".join(kinds) or "-",
            "position": [int(v) for v in position],
        })
    out.sort(key=lambda r: (-r["lost_erl_nm"], -(r["voi_split"] + r["voi_merge"])))
    return out


def worst_errors(records: list[dict[str, Any]], top: int = TOP_PER_KEY) -> list[dict[str, Any]]:
    """The ``top`` neurons by each of lost run length, VOI split and VOI merge (no repeats),
    ordered by lost run length then VOI; neurons without any error are left out."""
    chosen: dict[int, dict[str, Any]] = {}
    for key in ("lost_erl_nm", "voi_split", "voi_merge"):
        ranked = sorted((r for r in records if r[key] > 1e-12), key=lambda r: -r[key])
        for r in ranked[:top]:
            chosen.setdefault(r["label"], r)
    return sorted(chosen.values(),
                  key=lambda r: (-r["lost_erl_nm"], -(r["voi_split"] + r["voi_merge"])))


def error_crops(raw: np.ndarray, gt: np.ndarray, seg: np.ndarray, position,
                half: int = CROP_HALF) -> dict[str, np.ndarray]:
    """One section of raw, gt and seg around ``position``; near an edge the window moves
    inside the volume rather than shrinking."""
    z, y, x = (int(v) for v in position)
    _, ny, nx = gt.shape
    y0 = min(max(0, y - half), max(0, ny - 2 * half))
    x0 = min(max(0, x - half), max(0, nx - 2 * half))
    sl = (z, slice(y0, y0 + 2 * half), slice(x0, x0 + 2 * half))
    return {"raw": np.asarray(raw[sl]), "gt": np.asarray(gt[sl]), "seg": np.asarray(seg[sl]),
            "origin": np.array([z, y0, x0], dtype=np.int64)}


def analyse(test, seg: np.ndarray, skeletons, crops_group=None, table=None) -> dict[str, Any]:
    """Skeleton scores and per-neuron errors of one test segmentation.

    ``test`` is the loaded test :class:`~bench.data.types.Volume`. When ``crops_group`` (an
    open h5py group) is given, a crop around each of the worst errors is written into it as
    ``<i>/raw``, ``<i>/gt``, ``<i>/seg`` (``<i>`` the error's rank), with ``origin`` as an
    attribute. Returns ``scores`` (:func:`metrics.skeleton_scores`), ``neurons`` (every record
    of :func:`neuron_errors`) and ``worst`` (:func:`worst_errors`). ``table``: the overlap
    table of the test labels and ``seg``, if already built.
    """
    import metrics

    scores = metrics.skeleton_scores(skeletons, seg)
    neurons = neuron_errors(test.labels, seg, skeletons, table)
    worst = worst_errors(neurons)
    if crops_group is not None:
        for i, r in enumerate(worst):
            crop = error_crops(test.raw, test.labels, seg, r["position"])
            g = crops_group.create_group(str(i))
            for key in ("raw", "gt", "seg"):
                g.create_dataset(key, data=crop[key], compression="gzip", compression_opts=1)
            g.attrs["origin"] = crop["origin"]
            g.attrs["label"] = r["label"]
    return {"scores": scores, "neurons": neurons, "worst": worst}
