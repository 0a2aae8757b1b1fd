"""The evaluation stage of a run: post-process (:mod:`bench.pipeline.sweep`), score
(:func:`bench.pipeline.scoring.score_segmentation`), record (:mod:`bench.pipeline.record`).

Test labels are read only after every test segmentation exists (``tests/test_learned.py``
proves it): learned post-processors fit their classifiers on validation labels only.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from bench.atomic import atomic_path
from bench.pipeline.record import make_row, write_results
from bench.pipeline.scoring import score_segmentation
from bench.pipeline.spec import RunSpec
from bench.pipeline.stages import row_base
from bench.pipeline.sweep import segment_test

__all__ = ["postprocess_and_score"]

log = logging.getLogger(__name__)


def postprocess_and_score(
    method, dataset, spec: RunSpec, run_dir: Path, affs: dict[str, Any],
    train_summary: dict[str, Any], device: str, t_start: float,
) -> list[dict[str, Any]]:
    """Segment test with every post-processor (parameters chosen on validation), score each
    segmentation, write ``segmentation.h5``, the overlap tables, ``neuron_errors.json`` and
    ``metrics.json``; returns the rows."""
    from bench import neuron_errors
    from bench.skeletons import cached_skeletons

    val = dataset.split("val").load()
    test = dataset.split("test")
    test_raw = np.asarray(test.raw[...])
    common = row_base(method, dataset, spec, run_dir, train_summary, device)
    common["infer_voxels_per_s"] = affs["infer_voxels_per_s"]
    # ground-truth skeletons are cached beside the database (<results>/cache/skeletons)
    skeleton_cache = run_dir.parents[1] / "cache" / "skeletons"
    tag = f"{dataset.name}-{dataset.split_hash()}"
    val_skeletons = None
    if spec.select == "nerl":
        val_skeletons = cached_skeletons(val.labels, dataset.resolution_nm, skeleton_cache,
                                         name=f"{tag}-val")
    segmented = segment_test(method, spec, affs, val, test_raw, val_skeletons=val_skeletons)

    test_gt = np.asarray(test.labels[...])  # first read of test labels: scoring starts here
    test = dataclasses.replace(test, raw=test_raw, labels=test_gt)
    test_skeletons = cached_skeletons(test_gt, dataset.resolution_nm, skeleton_cache,
                                      name=f"{tag}-test")
    rows, details, neurons, entries = [], {}, {}, {}
    with atomic_path(run_dir / "segmentation.h5") as tmp, h5py.File(tmp, "w") as seg_out:
        # a few test sections for the report's image panels (raw | ground truth | methods)
        panel_z = np.unique(np.linspace(0, test_gt.shape[0] - 1, 3).round().astype(int))
        seg_out["panels/z"] = panel_z
        seg_out["panels/raw"] = test_raw[panel_z]
        seg_out["panels/gt"] = test_gt[panel_z]
        for s in segmented:
            scored = score_segmentation(s.seg, test_gt, slab_sections=spec.slab_sections,
                                        seed=spec.seed)
            entries[s.postprocess] = scored.entries
            seg_out.create_dataset(s.postprocess, data=s.seg, compression="gzip",
                                   compression_opts=1)
            analysis = neuron_errors.analyse(test, s.seg, test_skeletons,
                                             seg_out.create_group(f"errors/{s.postprocess}"),
                                             table=scored.table)
            neurons[s.postprocess] = analysis["neurons"]
            row = make_row(common, s.postprocess, s.param_name, s.selection.best_value, scored,
                           skeleton=analysis["scores"],
                           timings={"postprocess_voxels_per_s": test_gt.size / s.seconds},
                           t_start=t_start)
            rows.append(row)
            details[s.postprocess] = {
                "validation_curve": s.selection.curve,
                "per_section": scored.per_section,
                "slabs": scored.slabs,
                "selected_by": spec.select,
                "skeleton": analysis["scores"],
                "worst_errors": analysis["worst"],
            }
            log.info("%s: %s=%.3g test VOI %.3f (split %.3f merge %.3f) ARAND %.3f NERL %.3f "
                     "(%d splits, %d merges)", s.postprocess, s.param_name,
                     s.selection.best_value, row["voi"], row["voi_split"], row["voi_merge"],
                     row["arand"], row["nerl"], row["n_splits"], row["n_merges"])
    write_results(run_dir, rows, details, entries, neurons={
        "resolution_nm": list(dataset.resolution_nm), "skeleton_params": test_skeletons.params,
        "neurons": neurons,
    })
    return rows
