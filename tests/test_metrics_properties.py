"""Properties of the metrics, checked with hypothesis on small random label volumes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import metrics

SHAPES = st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6))


@st.composite
def label_pairs(draw, max_label=6):
    shape = draw(SHAPES)
    elems = st.integers(0, max_label)
    gt = draw(arrays(np.uint64, shape, elements=elems))
    seg = draw(arrays(np.uint64, shape, elements=elems))
    # at least one gt voxel must survive ignoring label 0
    gt.flat[0] = draw(st.integers(1, max_label))
    return gt, seg


def _permute(labels, seed, keep_zero):
    """Relabel with a random injective map onto large ids (label 0 kept when asked)."""
    ids = np.unique(labels)
    rng = np.random.default_rng(seed)
    new = rng.choice(2**40, size=len(ids), replace=False).astype(np.uint64) + np.uint64(2**60)
    if keep_zero:
        new[ids == 0] = 0
    return new[np.searchsorted(ids, labels)]


SETTINGS = settings(max_examples=60, deadline=None)
CONVENTIONS = metrics.CONVENTIONS


@SETTINGS
@given(label_pairs())
def test_voi_of_self_is_zero(pair):
    gt, _ = pair
    for conv in CONVENTIONS:
        r = metrics.evaluate(gt, gt, convention=conv)
        assert r["voi_split"] == 0 and r["voi_merge"] == 0


@SETTINGS
@given(label_pairs(), st.integers(0, 2**32 - 1))
def test_relabelling_changes_nothing(pair, seed):
    gt, seg = pair
    ref = metrics.evaluate(gt, seg)
    # gt keeps 0 (the ignored label); seg may be relabelled freely under the skimage convention
    moved = metrics.evaluate(_permute(gt, seed, True), _permute(seg, seed + 1, False))
    assert moved == pytest.approx(ref, abs=1e-12)
    for conv in ("cremi", "gala"):  # these give seg 0 a meaning: keep it
        if conv == "gala" and not seg[gt != 0].any():
            continue  # gala drops seg 0: nothing left to score
        ref = metrics.evaluate(gt, seg, convention=conv)
        moved = metrics.evaluate(_permute(gt, seed, True), _permute(seg, seed + 1, True),
                                 convention=conv)
        assert moved == pytest.approx(ref, abs=1e-12)


@SETTINGS
@given(label_pairs())
def test_swapping_gt_and_seg_swaps_split_and_merge(pair):
    gt, seg = pair
    seg = seg + np.uint64(1)  # nothing ignored on either side, so the swap is exact
    for conv in ("skimage", "waterz"):
        a = metrics.evaluate(gt, seg, ignore_gt=(), convention=conv)
        b = metrics.evaluate(seg, gt, ignore_gt=(), convention=conv)
        assert a["voi_split"] == pytest.approx(b["voi_merge"], abs=1e-12)
        assert a["voi_merge"] == pytest.approx(b["voi_split"], abs=1e-12)
        assert a["rand_precision"] == pytest.approx(b["rand_recall"], abs=1e-12)
        assert a["arand"] == pytest.approx(b["arand"], abs=1e-12)


@SETTINGS
@given(label_pairs())
def test_scores_in_range_and_paths_agree(pair):
    gt, seg = pair
    for conv in CONVENTIONS:
        try:
            r = metrics.evaluate(gt, seg, convention=conv)
        except ValueError:  # gala with only seg-0 voxels left: nothing to score
            assert conv == "gala"
            continue
        assert 0.0 <= r["arand"] <= 1.0
        assert 0.0 <= r["rand_precision"] <= 1.0 and 0.0 <= r["rand_recall"] <= 1.0
        assert r["voi_split"] >= 0 and r["voi_merge"] >= 0
    numba_table = metrics.overlap_table(gt, seg, use_numba=True)
    numpy_table = metrics.overlap_table(gt, seg, use_numba=False)
    np.testing.assert_array_equal(numba_table.to_sparse().toarray(),
                                  numpy_table.to_sparse().toarray())
