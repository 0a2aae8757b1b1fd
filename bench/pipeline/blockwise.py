"""The test stage for volumes beyond memory (``--blockwise``): the waterz threshold chosen on
the in-memory validation split, then the test split predicted, segmented and scored block by
block into ``run_dir/test.zarr`` (resumable: finished blocks are skipped on ``--resume``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.pipeline.record import make_row, write_results
from bench.pipeline.scoring import score_segmentation
from bench.pipeline.spec import RunSpec
from bench.pipeline.stages import check_affinities, row_base

__all__ = ["blockwise_test", "blockwise_throughput"]


def blockwise_test(method, dataset, spec: RunSpec, run_dir: Path,
                   train_summary: dict[str, Any], device: str, t_start: float
                   ) -> list[dict[str, Any]]:
    """The blockwise test stage (module docstring); returns the one waterz row."""
    from bench import segment
    from bench.blockwise import run_blockwise

    if spec.postprocess != ["waterz"]:
        raise ValueError(
            f"--blockwise supports --postprocess waterz only, got {','.join(spec.postprocess)}"
        )
    val = dataset.split("val").load()
    val_affs = method.predict(np.asarray(val.raw))
    check_affinities(val_affs, val.shape, method.name)
    selection = segment.select_parameter(val_affs, val.labels, "waterz")
    test = dataset.split("test")
    out = run_blockwise(
        method, test.raw, run_dir / "test.zarr", block_shape=tuple(spec.block_shape),
        workers=spec.workers, scheduler_address=spec.scheduler_address,
        threshold=selection.best_value,
    )
    import zarr

    seg = zarr.open_group(str(run_dir / "test.zarr"), mode="r")["segmentation"]
    # one pass over the lazy volumes, slab by slab
    scored = score_segmentation(seg, test.labels, slab_sections=spec.slab_sections,
                                seed=spec.seed, per_section=False)
    infer_tput, pp_tput = blockwise_throughput(out)
    row = make_row(row_base(method, dataset, spec, run_dir, train_summary, device),
                   "waterz", "threshold", selection.best_value, scored,
                   timings={"infer_voxels_per_s": infer_tput,
                            "postprocess_voxels_per_s": pp_tput}, t_start=t_start)
    write_results(run_dir, [row], {"waterz": {"validation_curve": selection.curve,
                                              "blockwise": out, "slabs": scored.slabs}},
                  {"waterz": scored.entries})
    return [row]


def blockwise_throughput(out: dict[str, Any]) -> tuple[float | None, float | None]:
    """Inference and post-processing voxels/s of a blockwise call, from the blocks computed in
    this process only: a resumed run is timed on the work it did, never on the whole volume
    (blocks an earlier attempt finished cost it nothing). None when a stage did no work here."""
    seconds, voxels = out["seconds"], out["voxels_run"]
    infer = (voxels["predict"] / seconds["predict"]
             if voxels.get("predict") and seconds["predict"] > 0 else None)
    segment_passes = [k for k in seconds if k != "predict"]
    if not segment_passes or not all(voxels.get(k) for k in segment_passes):
        return infer, None
    # seconds per voxel add up over the passes of the chain
    return infer, 1.0 / sum(seconds[k] / voxels[k] for k in segment_passes)
