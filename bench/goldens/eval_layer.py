"""Evaluation goldens: everything after the network, compared exactly.

Input (``<goldens>/eval_inputs.npz``, committed, written once from the phantom when absent): a
16x64x64 crop of the synthetic phantom (seed 0) with its raw and labels, and affinities made
from the labels (Gaussian-blurred, with seeded noise), three nearest and twelve long-range
channels, stored as uint8 steps of 1/255 (a third of the size of float32 noise). Sections
0-5 play validation, 6-11 test. The crop is generated, not cut from a real fixture: the
fixtures in ``../shared/data`` may not be copied into the repository (their README).

Quantities (all exact):

* ``phantom``: SHA-256 of the smoke phantom (raw, labels) and its split hash;
* ``affinity/*``: SHA-256 of the label affinities (nearest, replicate pad, long range): the
  affinity convention every target and post-processor shares;
* ``<pp>/segmentation``: SHA-256 of each registered post-processor's test segmentation at a
  fixed parameter (ids renumbered by first appearance, so only the partition counts);
  ``<pp>/<score>``: VOI split, VOI merge, VOI, ARAND, CREMI score, ERL, NERL, skeleton splits
  and merges; ``<pp>/overlap``: the overlap table's size and count checksum;
* ``select/*``: the validation sweeps (curve and chosen value) of waterz (default grid) and of
  waterz, lmc and mws on a 0.05 grid;
* ``results/row``: a row through the results database and back; ``results/interval``: the
  slab bootstrap interval of VOI.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

RULE = "exact"
INPUTS = "eval_inputs.npz"
#: the fixed parameter each post-processor segments test with
FIXED = {"waterz": 0.3, "lmc": 0.5, "mws": 0.5, "gala": 0.5, "lmc-rf": 0.5}
#: the fine validation grid of the selection goldens
SELECT_GRID = [round(0.05 * k, 2) for k in range(1, 20)]
SCORES = ("voi_split", "voi_merge", "voi", "arand", "cremi_score")
SKELETON = ("erl_nm", "nerl", "n_splits", "n_merges")
#: the crop of the phantom and its resolution (z, y, x nm, as the synthetic dataset's)
SHAPE = (12, 48, 48)
RESOLUTION = (40.0, 4.0, 4.0)


def tolerance(quantity: str) -> float:
    return 0.0


def sha(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def canonical(seg: np.ndarray) -> np.ndarray:
    """Ids renumbered 1, 2, ... in raster order of first appearance (0 stays 0)."""
    flat = np.asarray(seg).ravel()
    ids, first, inverse = np.unique(flat, return_index=True, return_inverse=True)
    nonzero = ids != 0
    rank = np.zeros(len(ids), np.int64)
    # nonzero ids in order of first appearance get 1, 2, ...
    rank[nonzero] = np.argsort(np.argsort(first[nonzero])) + 1
    return rank[inverse].reshape(np.shape(seg)).astype(np.uint32)


def make_inputs() -> dict[str, np.ndarray]:
    """The committed input crop, generated from the phantom (seed 0)."""
    from scipy.ndimage import gaussian_filter

    from bench.affinity import LONG_RANGE_OFFSETS, affinities_from_labels
    from bench.data.synthetic import generate_synthetic

    vol = generate_synthetic(SHAPE, seed=0, workers=1)
    raw, labels = np.asarray(vol.raw[...]), np.asarray(vol.labels[...]).astype(np.uint32)
    rng = np.random.default_rng(20)

    def noisy(affs: np.ndarray) -> np.ndarray:
        out = np.stack([gaussian_filter(a.astype(np.float32), (0.5, 1.0, 1.0)) for a in affs])
        out = out + rng.normal(0.0, 0.15, out.shape).astype(np.float32)
        return np.round(np.clip(out, 0.0, 1.0) * 255).astype(np.uint8)

    return {"raw": np.asarray(raw, np.uint8), "labels": labels,
            "affs": noisy(affinities_from_labels(labels)),
            "affs_lr": noisy(affinities_from_labels(labels, LONG_RANGE_OFFSETS))}


def load_inputs(goldens: Path, *, create: bool) -> dict[str, np.ndarray]:
    path = Path(goldens) / INPUTS
    if not path.is_file():
        if not create:
            raise FileNotFoundError(f"{path} not found; write it with `python -m bench check "
                                    "--update --layer eval`")
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **make_inputs())
    with np.load(path, allow_pickle=False) as f:
        out = {k: f[k] for k in f.files}
    for k in ("affs", "affs_lr"):
        out[k] = out[k].astype(np.float32) / np.float32(255)
    return out


def _floats(d: dict[str, Any], keys) -> dict[str, Any]:
    return {k: (int(d[k]) if k.startswith("n_") else float(d[k])) for k in keys}


def compute(goldens: Path, *, update: bool = False) -> dict[str, Any]:
    import metrics
    from bench import segment, stats
    from bench.affinity import LONG_RANGE_OFFSETS, affinities_from_labels
    from bench.data import load_dataset
    from bench.goldens import with_goldens
    from bench.pipeline import slab_scores
    from bench.registry import POSTPROCESSORS

    out: dict[str, Any] = {}
    ds = load_dataset("synthetic", profile="smoke", seed=0)
    vol = ds.volumes[next(iter(ds.volumes))]
    out["phantom"] = [sha(np.asarray(vol.raw[...]), np.asarray(vol.labels[...])),
                      ds.split_hash()]

    inp = load_inputs(goldens, create=update)
    labels = inp["labels"]
    out["affinity/nearest"] = sha(affinities_from_labels(labels))
    out["affinity/replicate"] = sha(affinities_from_labels(labels, pad="replicate"))
    out["affinity/long_range"] = sha(affinities_from_labels(labels, LONG_RANGE_OFFSETS))

    half = labels.shape[0] // 2
    val, test = slice(0, half), slice(half, None)
    gt = labels[test].astype(np.uint64)
    skeletons = metrics.skeletonize(gt, RESOLUTION)
    segs = {}
    for pp in with_goldens(POSTPROCESSORS):
        param = segment.parameter_name(pp)
        affs = inp["affs_lr"] if pp == "mws" else inp["affs"]
        params: dict[str, Any] = {param: FIXED[pp]}
        if pp == "mws":
            params["offsets"] = list(LONG_RANGE_OFFSETS)
        if getattr(POSTPROCESSORS.get(pp).factory, "learned", False):
            sel = segment.select_learned(affs[:, val], labels[val], pp, [FIXED[pp]],
                                         raw=inp["raw"][val], resolution_nm=RESOLUTION,
                                         seed=0, n_estimators=10)
            params.update(sel.params, raw=inp["raw"][test])
        seg = np.asarray(segment.segment(affs[:, test], pp, **params))
        segs[pp] = seg
        out[f"{pp}/segmentation"] = sha(canonical(seg))
        scores = metrics.evaluate(gt, seg)
        for k, v in _floats(scores, SCORES).items():
            out[f"{pp}/{k}"] = v
        for k, v in _floats(metrics.skeleton_scores(skeletons, seg), SKELETON).items():
            out[f"{pp}/{k}"] = v
        table = metrics.overlap_table(gt, seg)
        out[f"{pp}/overlap"] = [int(table.n_counted), int(len(table.counts)),
                                sha(np.sort(np.asarray(table.counts, np.int64)))]

    # a grid fine enough that the lowest-VOI and lowest-ARAND values differ (waterz: 0.30 and
    # 0.25), so choosing by the wrong criterion shows; the default grid (with its extension
    # past an edge) for waterz as the pipeline runs it
    sel = segment.select_parameter(inp["affs"][:, val], labels[val], "waterz")
    out["select/waterz"] = [float(sel.best_value), *[float(c["voi"]) for c in sel.curve]]
    for pp in ("waterz", "lmc", "mws"):
        affs = inp["affs_lr"] if pp == "mws" else inp["affs"]
        params = {"offsets": list(LONG_RANGE_OFFSETS)} if pp == "mws" else {}
        sel = segment.select_parameter(affs[:, val], labels[val], pp, SELECT_GRID, **params)
        out[f"select/{pp}/fine"] = [float(sel.best_value),
                                    *[float(c["voi"]) for c in sel.curve]]

    out["results/row"] = _round_trip_row(out)
    _, entries = slab_scores(gt, segs["waterz"], 2)
    out["results/interval"] = [float(v) for v in
                               stats.voi_interval(stats.slab_tables(entries), seed=0)]
    return out


def _round_trip_row(scores: dict[str, Any]) -> list[Any]:
    """A row of the waterz scores written to a results database and read back."""
    from bench.results import COLUMNS, ResultsStore

    row: dict[str, Any] = {k: None for k in COLUMNS}
    row.update(run_id="golden-run", created="2026-01-01T00:00:00+00:00", method="golden",
               dataset="synthetic", split="test", postprocess="waterz", seed=0,
               param_name="threshold", param_value=FIXED["waterz"],
               **{k: scores[f"waterz/{k}"] for k in (*SCORES, *SKELETON)})
    with tempfile.TemporaryDirectory(prefix="bench-golden-") as tmp:
        store = ResultsStore(tmp)
        store.add_rows([row])
        back = store.rows()
    if len(back) != 1:
        return [f"{len(back)} rows read back"]
    return [back[0].get(k) for k in COLUMNS]


def outside() -> list[tuple[str, str]]:
    """The registered post-processors this layer leaves out (no goldens here), as (name, kind)."""
    from bench.goldens import without_goldens
    from bench.registry import POSTPROCESSORS

    return [(n, "post-processor") for n in without_goldens(POSTPROCESSORS)]
