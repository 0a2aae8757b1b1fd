"""Label -> target conversions and weight maps (CAD_SPEC.md sections 4-5), hand-computed."""

import numpy as np
import pytest
import torch

from bench.affinity import LONG_RANGE_OFFSETS, affinities_from_labels, fill_nearest_borders
from bench.affinity.embedding import TEACHER_OFFSETS
from bench.train.targets import (
    long_range_targets,
    pair_targets,
    seg_widen_border,
    weight_binary_ratio,
    weight_binary_ratio_per_channel,
)


def test_long_range_offsets_match_the_teacher_channels():
    assert LONG_RANGE_OFFSETS == TEACHER_OFFSETS
    assert LONG_RANGE_OFFSETS[9] == (-4, 0, 0) and LONG_RANGE_OFFSETS[11] == (0, 0, -27)


def test_affinities_from_labels_hand_computed_with_both_pads():
    seg = np.array([[[1, 1, 2], [0, 2, 2]], [[1, 1, 2], [3, 2, 2]]], np.uint64)  # (2, 2, 3)
    aff = affinities_from_labels(seg, pad="")
    # z: section 1 vs section 0; 0 where either is background
    np.testing.assert_array_equal(aff[0, 1], [[1, 1, 1], [0, 1, 1]])
    # y: row 1 vs row 0
    np.testing.assert_array_equal(aff[1, :, 1], [[0, 0, 1], [0, 0, 1]])
    # x: column c vs column c-1
    np.testing.assert_array_equal(aff[2, :, :, 1:], [[[1, 0], [0, 1]], [[1, 0], [0, 1]]])
    # pad='': the entries without predecessor stay 0
    assert aff[0, 0].sum() == 0 and aff[1, :, 0].sum() == 0 and aff[2, :, :, 0].sum() == 0
    rep = affinities_from_labels(seg, pad="replicate")
    np.testing.assert_array_equal(rep[0, 0], seg[0] > 0)
    np.testing.assert_array_equal(rep[1, :, 0], seg[:, 0] > 0)
    np.testing.assert_array_equal(rep[2, :, :, 0], seg[:, :, 0] > 0)
    np.testing.assert_array_equal(rep[:, 1:, 1:, 1:], aff[:, 1:, 1:, 1:])
    assert aff.dtype == np.float32 and aff.shape == (3, 2, 2, 3)


def test_affinities_from_labels_long_range_and_errors():
    seg = np.ones((5, 4, 4), np.uint32)
    seg[2] = 7
    aff = affinities_from_labels(seg, [(-2, 0, 0), (0, 0, -3)], pad="")
    np.testing.assert_array_equal(aff[0, 2:, 0, 0], [0, 1, 0])  # z=2 (7) vs 0; z=3 vs 1; z=4 vs 2
    assert aff[1, :, :, :3].sum() == 0 and aff[1, :, :, 3].all()
    with pytest.raises(ValueError, match="replicate"):
        affinities_from_labels(seg, [(-2, 0, 0)], pad="replicate")
    # a positive offset looks forward: the mirror image of the negative one
    fwd = affinities_from_labels(seg, [(2, 0, 0)])
    np.testing.assert_array_equal(fwd[0, :-2], aff[0, 2:])
    assert fwd[0, -2:].sum() == 0
    with pytest.raises(ValueError, match=r"\(Z, Y, X\)"):
        affinities_from_labels(seg[0])


def test_fill_nearest_borders_copies_the_adjacent_plane_in_numpy_and_torch():
    affs = np.arange(3 * 3 * 4 * 5, dtype=np.float32).reshape(3, 3, 4, 5)
    filled = fill_nearest_borders(affs.copy(), [(-1, 0, 0), (0, -1, 0), (0, 0, -1)])
    np.testing.assert_array_equal(filled[0, 0], affs[0, 1])
    np.testing.assert_array_equal(filled[1, :, 0], affs[1, :, 1])
    np.testing.assert_array_equal(filled[2, :, :, 0], affs[2, :, :, 1])
    np.testing.assert_array_equal(filled[:, 1:, 1:, 1:], affs[:, 1:, 1:, 1:])
    # a batched tensor, and a long-range channel that is left alone
    t = torch.from_numpy(affs[None, :2].copy())
    fill_nearest_borders(t, [(0, 0, -1), (-3, 0, 0)])
    np.testing.assert_array_equal(t[0, 0, :, :, 0].numpy(), affs[0, :, :, 1])
    np.testing.assert_array_equal(t[0, 1].numpy(), affs[1])


def test_seg_widen_border_hand_computed():
    sec = np.array([[1, 1, 1, 2], [1, 1, 1, 2], [1, 1, 1, 2], [0, 0, 0, 0]], np.uint64)
    out = seg_widen_border(sec[None])[0]
    # columns 2 and 3 touch both ids within a 3x3 window; background never counts
    expected = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]], np.uint64)
    np.testing.assert_array_equal(out, expected)
    # reflect padding (no edge repeat) and a single id next to background: unchanged
    lone = np.zeros((1, 4, 4), np.uint64)
    lone[0, 1:3, 1:3] = 5
    np.testing.assert_array_equal(seg_widen_border(lone), lone)
    # per section: ids differing only across z are not borders
    stack = np.stack([np.full((3, 3), 1), np.full((3, 3), 2)]).astype(np.uint64)
    np.testing.assert_array_equal(seg_widen_border(stack), stack)


def test_weight_binary_ratio_branches():
    np.testing.assert_array_equal(weight_binary_ratio(np.ones((2, 3))), np.ones((2, 3)))
    np.testing.assert_array_equal(weight_binary_ratio(np.zeros(4)), np.ones(4))
    # f = 0.75 > 0.5: positives 1, negatives 3
    np.testing.assert_allclose(weight_binary_ratio(np.array([1, 1, 1, 0])), [1, 1, 1, 3])
    # f = 0.25: positives 3, negatives 1
    np.testing.assert_allclose(weight_binary_ratio(np.array([1, 0, 0, 0])), [3, 1, 1, 1])
    # f = 0.5 takes the "else" branch: both 1
    np.testing.assert_allclose(weight_binary_ratio(np.array([1, 0])), [1, 1])
    # f clipped to 0.05 -> positives 19
    t = np.zeros(100)
    t[0] = 1
    w = weight_binary_ratio(t)
    assert w[0] == pytest.approx(19.0) and w[1] == 1.0
    # clipped to 0.99 -> negatives 99
    t = np.ones(1000)
    t[0] = 0
    assert weight_binary_ratio(t)[0] == pytest.approx(99.0)


def test_weights_per_channel_vs_one_ratio():
    t = np.stack([np.array([1, 1, 1, 0]), np.array([1, 0, 0, 0])])
    np.testing.assert_allclose(weight_binary_ratio_per_channel(t), [[1, 1, 1, 3], [3, 1, 1, 1]])
    np.testing.assert_allclose(weight_binary_ratio(t), np.ones((2, 4)))  # f = 0.5 overall


def test_long_range_and_pair_targets():
    rng = np.random.default_rng(0)
    seg = rng.integers(0, 3, (6, 30, 30)).astype(np.uint64)
    t, w = long_range_targets(seg)
    assert t.shape == w.shape == (12, 6, 30, 30)
    np.testing.assert_array_equal(t, affinities_from_labels(seg, LONG_RANGE_OFFSETS, pad=""))
    np.testing.assert_array_equal(w, weight_binary_ratio(t))  # one ratio, borders included
    assert t[9, :4].sum() == 0 and t[10, :, :27].sum() == 0
    tp, wp = pair_targets(seg[:2])
    np.testing.assert_array_equal(tp, affinities_from_labels(seg[:2], pad="replicate")[:, 1])
    np.testing.assert_array_equal(wp, weight_binary_ratio_per_channel(tp))


def test_long_range_per_channel_weights_use_valid_voxels_only():
    rng = np.random.default_rng(1)
    seg = rng.integers(0, 3, (6, 30, 30)).astype(np.uint64)
    t, w = long_range_targets(seg, weights="per_channel")
    np.testing.assert_array_equal(t, long_range_targets(seg)[0])
    assert w[0, 0].sum() == 0 and w[10, :, :27].sum() == 0  # borders: no partner, weight 0
    np.testing.assert_array_equal(w[1, :, 1:], weight_binary_ratio(t[1, :, 1:]))
    np.testing.assert_array_equal(w[9, 4:], weight_binary_ratio(t[9, 4:]))
    with pytest.raises(ValueError, match="weights"):
        long_range_targets(seg, weights="local")
