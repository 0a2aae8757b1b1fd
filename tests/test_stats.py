"""bench.stats on hand-computed cases: intervals of the printed number, paired verdicts, ranks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import metrics
from bench import stats
from bench.pipeline import slab_bounds, slab_scores


def _volume(seed: int, z: int = 12, size: int = 24) -> np.ndarray:
    """A small gt volume of blocky objects that run through several sections."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.indices((z, size, size))
    labels = (zz // 5) * 100 + (yy // 6) * 10 + (xx // 6) + 1
    return (labels * (rng.random(labels.shape) > 0.05)).astype(np.uint64)


def _tables(gt: np.ndarray, seg: np.ndarray) -> stats.SlabTables:
    return stats.slab_tables(slab_scores(gt, seg, 4)[1])


def _merged(gt: np.ndarray, pairs: int) -> np.ndarray:
    """Merge every ``pairs`` consecutive gt labels into one segment."""
    return ((gt + pairs - 1) // pairs).astype(np.uint64)


def test_slabs_partition_the_volume_and_remainder_joins_the_last():
    assert slab_bounds(8, 4) == [(0, 4), (4, 8)]
    assert slab_bounds(10, 4) == [(0, 4), (4, 10)]
    assert slab_bounds(3, 4) == [(0, 3)]


def test_whole_volume_voi_from_slab_tables_equals_evaluate():
    gt = _volume(0)
    seg = _merged(gt, 3)
    assert float(_tables(gt, seg).voi()) == pytest.approx(metrics.evaluate(gt, seg)["voi"],
                                                          abs=1e-12)


@pytest.mark.parametrize("pairs", [1, 2, 7])
def test_single_run_interval_contains_its_estimate(pairs):
    gt = _volume(1)
    seg = _merged(gt, pairs)
    voi = metrics.evaluate(gt, seg)["voi"]
    lo, hi = stats.voi_interval(_tables(gt, seg), seed=0)
    assert lo <= voi <= hi
    if pairs > 1:  # an imperfect segmentation varies across sub-volumes
        assert hi > lo


def test_summarize_gives_mean_std_and_t_interval_over_seeds():
    board = pd.DataFrame({"dataset": "d", "method": "m", "postprocess": "waterz",
                          "voi": [1.0, 2.0, 3.0]})
    row = stats.summarize(board).iloc[0]
    assert (row["n_seeds"], row["mean"], row["std"]) == (3, 2.0, 1.0)
    half = 4.302652729911275 / np.sqrt(3)  # t(0.975, 2 degrees of freedom) * std / sqrt(n)
    assert row["ci_low"] == pytest.approx(2.0 - half)
    assert row["ci_high"] == pytest.approx(2.0 + half)
    single = stats.summarize(board.iloc[:1]).iloc[0]
    assert single["n_seeds"] == 1 and np.isnan(single["std"]) and np.isnan(single["ci_low"])


def test_a_known_difference_is_significant():
    # method a: perfect on every seed (VOI 0); method b merges pairs of objects (VOI > 0)
    a = {s: _tables(_volume(s), _volume(s)) for s in range(3)}
    b = {s: _tables(_volume(s), _merged(_volume(s), 2)) for s in range(3)}
    result = stats.compare(a, b)
    expected = -np.mean([float(b[s].voi()) for s in range(3)])
    assert result["delta"] == pytest.approx(expected)
    assert result["ci_high"] < 0 and result["p_value"] < 0.01
    table = stats.pairwise({"a": a, "b": b})
    assert bool(table.loc[0, "significant"]) and table.loc[0, "n_seeds"] == 3


def test_identical_methods_are_not_significantly_different():
    a = {s: _tables(_volume(s), _merged(_volume(s), 2)) for s in range(3)}
    result = stats.compare(a, dict(a))
    assert result["delta"] == 0.0 and result["p_value"] == 1.0
    assert result["ci_low"] == 0.0 == result["ci_high"]
    assert not stats.pairwise({"a": a, "b": dict(a)})["significant"].any()


def test_compare_needs_common_seeds():
    a = {0: _tables(_volume(0), _volume(0))}
    with pytest.raises(ValueError, match="no seed"):
        stats.compare(a, {1: a[0]})


def test_holm_adjustment_by_hand():
    # sorted: 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> monotone: 0.03, 0.06, 0.06
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    # 0.5*2 = 1.0 caps, and the larger p-value may not fall below it
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_methods_without_significant_difference_share_a_rank():
    means = pd.Series({"a": 0.5, "b": 0.9, "c": 1.0})
    comparisons = pd.DataFrame([
        {"method_a": "a", "method_b": "b", "delta": -0.4, "significant": True},
        {"method_a": "a", "method_b": "c", "delta": -0.5, "significant": True},
        {"method_a": "b", "method_b": "c", "delta": -0.1, "significant": False},
    ])
    assert stats.rank(means, comparisons).to_dict() == {"a": 1, "b": 2, "c": 2}
    nothing = comparisons.assign(significant=False)
    assert stats.rank(means, nothing).to_dict() == {"a": 1, "b": 1, "c": 1}
