"""VOI split and merge terms per ground-truth label: which neurons the errors sit on.

``voi_split = H(seg|gt)`` and ``voi_merge = H(gt|seg)`` are sums over the overlap table's entries
(see :func:`metrics.scores.voi`); grouping the entries by their gt label splits each total into
one non-negative term per gt label, and the terms sum to the totals exactly.
"""

from __future__ import annotations

import numpy as np

from metrics.table import OverlapTable


def voi_by_gt_label(table: OverlapTable) -> dict[str, np.ndarray]:
    """Per gt label, its share of VOI split and VOI merge (bits), ``skimage`` convention.

    For gt label g with n_g counted voxels, n_gs of them in segment s (n_s counted voxels),
    and N counted voxels in all:

    - ``split[g] = -sum_s (n_gs / N) log2(n_gs / n_g)``: g spread over several segments;
    - ``merge[g] = -sum_s (n_gs / N) log2(n_gs / n_s)``: g sharing segments with other labels.

    Returns
    -------
    dict
        ``gt_ids`` (uint64), ``n_voxels`` (int64), ``split`` and ``merge`` (float64), aligned;
        ``split.sum()`` and ``merge.sum()`` equal :func:`metrics.scores.voi`'s two values.
    """
    c = table.counts.astype(np.float64)
    n = c.sum()
    if n == 0:
        raise ValueError("VOI per label of an empty overlap table (every voxel was ignored)")
    a = table.gt_sizes[table.rows]
    b = table.seg_sizes[table.cols]
    k = len(table.gt_ids)
    split = np.bincount(table.rows, weights=-(c * np.log2(c / a)) / n, minlength=k)
    merge = np.bincount(table.rows, weights=-(c * np.log2(c / b)) / n, minlength=k)
    return {
        "gt_ids": table.gt_ids,
        "n_voxels": table.gt_sizes.astype(np.int64),
        "split": np.maximum(split, 0.0),
        "merge": np.maximum(merge, 0.0),
    }
