"""The post-processing stage: each post-processor's parameter chosen on the validation split,
then frozen to segment the test split.

Three kinds of post-processor: unlearned ones sweep their parameter by VOI (or NERL, with
``--select nerl``); learned ones fit an edge classifier cross-fitted on validation z blocks
first (:mod:`bench.segment.learned`); mutex watershed (``mws``) needs the method's long-range
affinities, and is skipped for a method without them. No test label is read here.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.pipeline.spec import RunSpec
from bench.registry import POSTPROCESSORS

__all__ = ["Segmented", "segment_test"]

log = logging.getLogger(__name__)


@dataclass
class Segmented:
    """One post-processor's test segmentation and how its parameter was chosen."""

    postprocess: str
    #: :class:`bench.segment.Selection`: the chosen value and the validation curve
    selection: Any
    param_name: str
    seg: np.ndarray
    #: seconds to segment the test split with the chosen parameter
    seconds: float


def _nerl_evaluate(val_gt, skeletons):
    """The validation sweep's scores when it selects by NERL: VOI and skeleton scores."""
    import metrics

    def evaluate(gt, seg):
        return {**metrics.evaluate(gt, seg), **metrics.skeleton_scores(skeletons, seg)}

    return evaluate


def segment_test(method, spec: RunSpec, affs: dict[str, Any], val, test_raw: np.ndarray, *,
                 val_skeletons=None) -> list[Segmented]:
    """Segment the test split with every post-processor of ``spec``.

    Parameters
    ----------
    method
        The trained method (its long-range affinities, for ``mws``).
    affs
        ``val`` and ``test`` affinities (:func:`bench.pipeline.stages.predict`).
    val
        The loaded validation :class:`~bench.data.types.Volume` (labels used for the sweep).
    test_raw
        The test split's raw image (for ``mws`` and the learned post-processors' features).
    val_skeletons
        The validation skeletons, needed when ``spec.select == "nerl"``.
    """
    from bench import segment

    val_evaluate = None
    if spec.select == "nerl":
        val_evaluate = _nerl_evaluate(val.labels, val_skeletons)
    out = []
    for pp in spec.postprocess:
        val_affs, test_affs = affs["val"], affs["test"]
        params: dict[str, Any] = {}
        if pp == "mws":
            try:
                val_affs, offsets = method.predict_long_range(val.raw)
            except NotImplementedError as exc:
                log.warning("skipping %s for %s: %s", pp, spec.method, exc)
                continue
            test_affs, _ = method.predict_long_range(test_raw)
            params["offsets"] = offsets
        log.info("%s: sweeping on validation", pp)
        if getattr(POSTPROCESSORS.get(pp).factory, "learned", False):
            if spec.select != "voi":
                log.warning("%s chooses its threshold by VOI over cross-fitted validation "
                            "folds (--select %s applies to the unlearned post-processors)",
                            pp, spec.select)
            # edge classifier cross-fitted on validation z blocks (bench.segment.learned)
            selection = segment.select_learned(
                val_affs, val.labels, pp, raw=val.raw, resolution_nm=val.resolution_nm,
                seed=spec.seed,
            )
            params.update(selection.params, raw=test_raw)
        else:
            selection = segment.select_parameter(val_affs, val.labels, pp,
                                                 evaluate=val_evaluate,
                                                 criterion=spec.select, **params)
        param_name = segment.parameter_name(pp)
        t0 = time.perf_counter()
        seg = segment.segment(test_affs, pp, **{**params, param_name: selection.best_value})
        out.append(Segmented(pp, selection, param_name, seg, time.perf_counter() - t0))
    return out
