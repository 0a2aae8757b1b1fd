"""Ground-truth skeletons, computed once per (volume, split, parameters) and cached on disk.

Skeletonising a split's ground truth takes seconds to minutes; a validation sweep or a second
run on the same split must not pay it again. The cache file is named by the dataset split and a
hash of the labels' voxels, the resolution and the TEASAR parameters
(:func:`metrics.skeleton.cache_key`), so a changed volume, split or parameter gets its own file
and a stale one is never read.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from bench import progress
from bench.atomic import atomic_path
from bench.names import file_stem
from metrics.skeleton import SkeletonParams, Skeletons, cache_key, skeletonize

log = logging.getLogger(__name__)


def cached_skeletons(gt: np.ndarray, resolution, cache_dir: str | Path, *, name: str = "volume",
                     params: SkeletonParams | None = None) -> Skeletons:
    """The skeletons of ``gt``, read from ``cache_dir`` or computed and written there.

    ``name`` (e.g. ``"synthetic-test"``) only makes the file recognisable; the key is the hash.
    """
    params = params or SkeletonParams()
    gt = np.ascontiguousarray(gt)
    path = Path(cache_dir) / f"{file_stem(name)}-{cache_key(gt, resolution, params)}.npz"
    if path.exists():
        try:
            return Skeletons.load(path)
        except Exception as exc:  # a damaged cache entry is recomputed, not fatal
            log.warning("ignoring unreadable skeleton cache %s (%s)", path, exc)
    t0 = time.perf_counter()
    # kimimaro draws its own bar per label on a terminal; a log line says what waits otherwise
    log.info("skeletonising %s (%s voxels)", name, "x".join(map(str, gt.shape)))
    skeletons = skeletonize(gt, resolution, params=params, progress=progress.on_terminal())
    log.info("skeletonised %s: %d skeletons, %.0f nm, %.1f s -> %s", name,
             len(skeletons.labels), skeletons.lengths_nm.sum(), time.perf_counter() - t0, path)
    with atomic_path(path) as tmp:
        skeletons.save(tmp)
    return skeletons
