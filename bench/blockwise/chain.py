"""Blockwise prediction, segmentation and evaluation of volumes larger than memory.

:func:`run_blockwise` is the whole chain (what ``python -m bench run --blockwise`` calls):
raw (zarr / HDF5 / any lazy array) -> affinities -> per-block agglomeration -> face stitching
-> final labels, all written to one zarr group whose chunks are the blocks:

- ``affinities``: float32 ``(3, Z, Y, X)``, chunks ``(3, *block_shape)``;
- ``segments_local``: uint64 ``(Z, Y, X)``, per-block segments with block-offset ids;
- ``segmentation``: uint64 ``(Z, Y, X)``, final consecutive ids (0 never used).

Done markers live in ``work_dir`` (default: ``<out_zarr>.blockwise`` next to the group, so the
zarr hierarchy holds only arrays). A rerun with the same parameters skips finished blocks; a
rerun with different parameters is refused (``overwrite=True`` starts again).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from bench.blockwise.blocks import as_context, as_triple, make_blocks
from bench.blockwise.engine import RunStats, run_blocks
from bench.blockwise.predict import BlockPredictor, PredictTask, predictor_for_method
from bench.blockwise.segment import AgglomerateTask, EdgesTask, RelabelTask, stitch

AFFINITIES = "affinities"
SEGMENTS_LOCAL = "segments_local"
SEGMENTATION = "segmentation"
#: default y/x halo of the per-block agglomeration (pixels)
SEGMENT_HALO_YX = 16
#: default z halo of the per-block agglomeration (sections): context for its merge decisions
SEGMENT_HALO_Z = 2


class LazyArray:
    """A picklable reference to an array in an HDF5 or zarr file, opened on first use in each
    process (h5py datasets themselves cannot be sent to other processes)."""

    def __init__(self, path: str | Path, key: str | None = None):
        from metrics.io import open_array

        self.path = str(path)
        self.key = key
        arr, _ = open_array(self.path, key)  # fail early, with the loader's clear messages
        self.shape = tuple(int(s) for s in arr.shape)
        self.dtype = np.dtype(arr.dtype)
        self.ndim = len(self.shape)
        self._array: Any = None

    def _open(self) -> Any:
        if self._array is None:
            from metrics.io import open_array

            self._array, _ = open_array(self.path, self.key)
        return self._array

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(self._open()[key])

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_array": None}


def _open_raw(raw: Any, raw_key: str | None) -> Any:
    if isinstance(raw, (str, Path)):
        from metrics.io import split_spec

        path, keys = split_spec(raw)  # "file.h5:volumes/raw", the project's one spec parser
        if len(keys) > 1:
            raise ValueError(f"raw: {str(raw)!r} names {len(keys)} keys; expected FILE[:KEY]")
        if raw_key is None and keys:
            raw_key = keys[0] or None
        raw = LazyArray(path, raw_key)
    shape = tuple(getattr(raw, "shape", ()))
    if len(shape) != 3 or np.dtype(getattr(raw, "dtype", object)) != np.uint8:
        raise ValueError(
            f"raw: expected a (Z, Y, X) uint8 array or file, got shape {shape} dtype "
            f"{getattr(raw, 'dtype', type(raw).__name__)}"
        )
    return raw


def _zarr_array(group: Any, name: str, shape: tuple, chunks: tuple, dtype: Any) -> Any:
    """The group's array ``name``, created if absent; an existing one must match exactly."""
    if name in group:
        arr = group[name]
        if tuple(arr.shape) != shape or tuple(arr.chunks) != chunks or arr.dtype != dtype:
            raise ValueError(
                f"{group.store_path}/{name}: exists with shape {arr.shape}, chunks {arr.chunks}, "
                f"dtype {arr.dtype}; expected {shape}, {chunks}, {np.dtype(dtype)} (use "
                "overwrite=True or another output)"
            )
        return arr
    return group.create_array(name, shape=shape, chunks=chunks, dtype=dtype, fill_value=0)


def _check_params(work_dir: Path, params: dict[str, Any]) -> None:
    """Refuse to resume from markers written with other parameters."""
    path = work_dir / "params.json"
    text = json.dumps(params, sort_keys=True, default=str)
    if path.is_file():
        old = path.read_text()
        if old != text:
            raise ValueError(
                f"{work_dir}: holds a blockwise run with other parameters ({old}); now {text}. "
                "Use overwrite=True or another output"
            )
        return
    work_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _engine_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: kwargs[k] for k in ("workers", "scheduler", "scheduler_address", "retries")}


def predict_blockwise(
    predictor: BlockPredictor,
    raw: Any,
    group: Any,
    *,
    block_shape: tuple[int, int, int],
    work_dir: Path,
    **engine: Any,
) -> RunStats:
    """Affinities of ``raw`` into ``group["affinities"]``, one block at a time (resumable)."""
    shape = tuple(int(s) for s in raw.shape)
    out = _zarr_array(group, AFFINITIES, (predictor.out_channels, *shape),
                      (predictor.out_channels, *block_shape), np.float32)
    blocks = make_blocks(shape, block_shape, predictor.context)
    return run_blocks(PredictTask(raw, out, predictor), blocks, done_dir=work_dir / "predict",
                      keep_results=False, desc="predict blocks", **engine)


def segment_blockwise(
    affs: Any,
    group: Any,
    *,
    block_shape: tuple[int, int, int],
    work_dir: Path,
    threshold: float = 0.5,
    halo: Any = (SEGMENT_HALO_Z, SEGMENT_HALO_YX, SEGMENT_HALO_YX),
    waterz_params: dict[str, Any] | None = None,
    **engine: Any,
) -> dict[str, RunStats]:
    """Per-block agglomeration, face stitching and relabelling of ``affs`` (``(C, Z, Y, X)``)
    into ``group["segments_local"]`` and ``group["segmentation"]`` (resumable)."""
    shape = tuple(int(s) for s in affs.shape[1:])
    capacity = int(np.prod(block_shape))
    local = _zarr_array(group, SEGMENTS_LOCAL, shape, tuple(block_shape), np.uint64)
    final = _zarr_array(group, SEGMENTATION, shape, tuple(block_shape), np.uint64)
    blocks = make_blocks(shape, block_shape, as_context(halo))
    stats = {}
    stats["agglomerate"] = run_blocks(
        AgglomerateTask(affs, local, threshold=threshold, capacity=capacity,
                        waterz_params=waterz_params),
        blocks, done_dir=work_dir / "agglomerate", desc="agglomerate blocks", **engine)
    stats["faces"] = run_blocks(EdgesTask(local, affs), blocks,
                                done_dir=work_dir / "faces-hist", desc="stitch faces", **engine)
    n_per_block = {k: int(r["n"]) for k, r in stats["agglomerate"].results.items()}
    edges = [stats["faces"].results[b.id] for b in blocks]
    lut, starts = stitch(n_per_block, edges, threshold=threshold, capacity=capacity)
    lut_path = work_dir / "lut.npy"
    # the stitch is cheap and deterministic: recomputed on every run, written atomically
    tmp = work_dir / "lut.tmp.npy"
    np.save(tmp, lut)
    tmp.replace(lut_path)
    stats["relabel"] = run_blocks(RelabelTask(local, final, lut_path, starts, capacity), blocks,
                                  done_dir=work_dir / "relabel", keep_results=False,
                                  desc="relabel blocks", **engine)
    return stats


def run_blockwise(
    method: Any,
    raw: Any,
    out_zarr: str | Path,
    *,
    block_shape: int | tuple[int, int, int],
    workers: int = 1,
    scheduler_address: Any = None,
    scheduler: str = "threads",
    raw_key: str | None = None,
    context: Any = None,
    segment: bool = True,
    threshold: float = 0.5,
    segment_halo: Any = (SEGMENT_HALO_Z, SEGMENT_HALO_YX, SEGMENT_HALO_YX),
    waterz_params: dict[str, Any] | None = None,
    retries: int = 0,
    work_dir: str | Path | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Predict (and segment) a volume block by block into a zarr group; resumable.

    Parameters
    ----------
    method
        A :class:`bench.method.Method` (its ``predict`` runs per block with the context of
        :func:`bench.blockwise.predict.predictor_for_method`) or a
        :class:`bench.blockwise.predict.BlockPredictor`.
    raw
        ``(Z, Y, X)`` uint8: an array (numpy, zarr, h5py, :class:`bench.data.SyntheticArray`) or
        a path to an HDF5/zarr file (``raw_key`` names the array; ``"file.h5:key"`` also works).
    out_zarr
        Output zarr group (created if absent).
    block_shape
        Block (= output chunk) size ``(z, y, x)``. For 2D section-pair methods, whole sections
        in y/x give results identical to whole-volume prediction.
    workers, scheduler, scheduler_address, retries
        See :func:`bench.blockwise.engine.run_blocks`; a ``scheduler_address`` runs every block
        on that Dask cluster (workers must see ``raw`` and ``out_zarr`` at the same paths).
    context
        Override the predictor's context.
    segment, threshold, segment_halo, waterz_params
        Also run :func:`segment_blockwise` at this waterz threshold.
    work_dir
        Done markers (default ``<out_zarr>.blockwise``).
    overwrite
        Discard previous outputs and markers instead of resuming.

    Returns
    -------
    dict
        ``out_zarr``, ``shape``, ``n_blocks``, per-pass ``seconds`` and ``skipped`` blocks, and
        ``voxels_per_s`` over the whole call.
    """
    import time

    import zarr

    t0 = time.perf_counter()
    bs = as_triple("block_shape", block_shape)
    raw = _open_raw(raw, raw_key)
    predictor = predictor_for_method(method, context)
    out_zarr = Path(out_zarr)
    work = Path(work_dir) if work_dir is not None else Path(str(out_zarr) + ".blockwise")
    if overwrite:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(out_zarr, ignore_errors=True)
    params = {"predictor": predictor.name, "context": predictor.context, "shape": raw.shape,
              "block_shape": bs, "segment": segment, "threshold": threshold,
              "segment_halo": as_context(segment_halo), "waterz_params": waterz_params or {}}
    _check_params(work, params)
    group = zarr.open_group(str(out_zarr), mode="a")
    engine = _engine_kwargs(dict(workers=workers, scheduler=scheduler,
                                 scheduler_address=scheduler_address, retries=retries))
    passes: dict[str, RunStats] = {
        "predict": predict_blockwise(predictor, raw, group, block_shape=bs, work_dir=work,
                                     **engine)
    }
    if segment:
        passes.update(segment_blockwise(
            group[AFFINITIES], group, block_shape=bs, work_dir=work, threshold=threshold,
            halo=segment_halo, waterz_params=waterz_params, **engine))
    seconds = time.perf_counter() - t0
    return {
        "out_zarr": str(out_zarr),
        "shape": tuple(raw.shape),
        "block_shape": bs,
        "n_blocks": passes["predict"].n_blocks,
        "seconds": {k: s.seconds for k, s in passes.items()},
        "skipped": {k: s.n_skipped for k, s in passes.items()},
        # voxels computed in this call per pass: with ``seconds``, an honest throughput of a
        # resumed run (blocks finished by an earlier attempt cost this call nothing)
        "voxels_run": {k: s.voxels_run for k, s in passes.items()},
        "total_seconds": seconds,
        # whole-chain throughput only for a call that computed every block itself
        "voxels_per_s": (float(np.prod(raw.shape)) / seconds
                         if seconds > 0 and not any(s.n_skipped for s in passes.values())
                         else float("nan")),
    }


def evaluate_blockwise(gt: Any, seg: Any, **kwargs: Any) -> dict[str, float | int]:
    """VOI, ARAND and CREMI score of a (lazy) segmentation against a (lazy) ground truth.

    ``gt`` and ``seg`` may be zarr/HDF5 arrays of any size: :func:`metrics.overlap_table` reads
    them block by block along z (memory: one block plus the table). ``kwargs`` go to it
    (``ignore_gt``, ``border_nm``, ``resolution``, ``block_voxels``...).
    """
    from metrics import overlap_table, scores

    return scores(overlap_table(gt, seg, **kwargs))
