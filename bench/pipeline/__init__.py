"""One benchmark run: dataset split -> train -> predict -> post-process -> evaluate -> record.

The stages write their results into the run directory as they finish, so that
``python -m bench run --resume RUN_ID`` skips what is already done:

====================  ===============================================================
``config.yaml``       the resolved run specification (written first)
``environment.json``  versions, device, git commit
``train/``            the method's own checkpoints and training log (it resumes from them)
``model.pt``          the trained weights (the training stage is done once it exists)
``predictions.h5``    validation and test affinities, ``{split}/affs``
``segmentation.h5``   test segmentations, one dataset per post-processor
``metrics.json``      the leaderboard rows, the validation sweep curves, per-section scores
====================  ===============================================================

Beside ``metrics.json``, ``neuron_errors.json`` holds every ground-truth neuron's VOI split/merge
terms and skeleton errors (:mod:`bench.neuron_errors`).

Thresholds and other post-processing parameters are chosen on the validation split and then
frozen for the test split; the row records the chosen value.

The package, by stage:

=====================================  =======================================================
:mod:`bench.pipeline.spec`             :class:`RunSpec`, :func:`prepare` (checks before work)
:mod:`bench.pipeline.stages`           train, predict, the columns a run's rows share
:mod:`bench.pipeline.sweep`            post-processing: parameters chosen on validation
:mod:`bench.pipeline.scoring`          :func:`score_segmentation`: a test segmentation's scores
:mod:`bench.pipeline.record`           a row from its parts; the run's result files
:mod:`bench.pipeline.evaluate`         post-process, score and record (the in-memory test)
:mod:`bench.pipeline.blockwise`        the same for volumes beyond memory (``--blockwise``)
:mod:`bench.pipeline.runner`           :func:`run`: the stages in order, under the run lock
=====================================  =======================================================
"""

from bench.pipeline.runner import run
from bench.pipeline.scoring import (
    SegmentationScores,
    score_segmentation,
    slab_bounds,
    slab_scores,
    write_tables,
)
from bench.pipeline.spec import (
    RunOutcome,
    RunSpec,
    TrainingStopped,
    load_spec,
    new_run_id,
    prepare,
)

__all__ = ["RunOutcome", "RunSpec", "SegmentationScores", "TrainingStopped", "load_spec",
           "new_run_id", "prepare", "run", "score_segmentation", "slab_bounds", "slab_scores",
           "write_tables"]
