"""Segmentation metrics: VOI, adapted Rand and CREMI score from one overlap table; expected run
length (ERL, NERL) and split/merge counts along ground-truth skeletons (:mod:`metrics.skeleton`).

Ground truth first; VOI split = H(seg|gt), merge = H(gt|seg), in bits. See
:mod:`metrics.scores` for the exact definitions and the ``convention=`` adapters.
"""

from metrics.affinity import affinity_scores
from metrics.border import border_mask
from metrics.evaluate import evaluate
from metrics.per_label import voi_by_gt_label
from metrics.scores import (
    CONVENTIONS,
    RandScores,
    arand,
    cremi_score,
    rand_scores,
    scores,
    voi,
)
from metrics.skeleton import (
    SkeletonParams,
    Skeletons,
    skeleton_errors,
    skeleton_scores,
    skeletonize,
)
from metrics.spec import METRICS, Metric, register_metric, unregister_metric
from metrics.table import OverlapTable, from_entries, overlap_table
from metrics.timing import ThroughputResult, measure, track

__all__ = [
    "CONVENTIONS",
    "METRICS",
    "Metric",
    "OverlapTable",
    "RandScores",
    "SkeletonParams",
    "Skeletons",
    "ThroughputResult",
    "affinity_scores",
    "arand",
    "border_mask",
    "cremi_score",
    "evaluate",
    "from_entries",
    "measure",
    "overlap_table",
    "rand_scores",
    "register_metric",
    "scores",
    "skeleton_errors",
    "skeleton_scores",
    "skeletonize",
    "track",
    "unregister_metric",
    "voi",
    "voi_by_gt_label",
]
