"""metrics: hand-computed cases, conventions, border tolerance, chunked input, bad input."""

from __future__ import annotations

import math

import h5py
import numpy as np
import pytest

import metrics
from metrics import evaluate, overlap_table

LOG3 = math.log2(3)

# 4 counted voxels: gt object 2 is split across seg 1 and 2; seg 1 merges gt 1 and part of gt 2
GT4 = np.array([1, 1, 2, 2], dtype=np.uint64)
SEG4 = np.array([1, 1, 1, 2], dtype=np.uint64)
# the same plus a gt-0 voxel (ignored) and a gt-1 voxel that the segmentation labels 0
GT6 = np.array([1, 1, 2, 2, 0, 1], dtype=np.uint64)
SEG6 = np.array([1, 1, 1, 2, 1, 0], dtype=np.uint64)


def test_overlap_table_hand_computed():
    t = overlap_table(GT6, SEG6)
    assert t.n_total == 6 and t.n_counted == 5
    dense = t.to_sparse().toarray()
    assert list(t.gt_ids) == [1, 2] and list(t.seg_ids) == [0, 1, 2]
    np.testing.assert_array_equal(dense, [[1, 2, 0], [0, 1, 1]])
    np.testing.assert_array_equal(t.gt_sizes, [3, 2])
    np.testing.assert_array_equal(t.seg_sizes, [1, 3, 1])


@pytest.mark.parametrize("use_numba", [True, False])
def test_voi_and_rand_hand_computed(use_numba):
    t = overlap_table(GT4, SEG4, use_numba=use_numba)
    split, merge = metrics.voi(t)
    # H(seg|gt): gt 2 is cut in half (1 bit) for half the voxels
    assert split == pytest.approx(0.5, abs=1e-12)
    # H(gt|seg): seg 1 holds gt 1 and gt 2 as 2:1
    assert merge == pytest.approx(0.75 * LOG3 - 0.5, abs=1e-12)
    # pairs of distinct voxels: gt joins {01, 23}, seg joins {01, 02, 12}, both join {01}
    rs = metrics.rand_scores(t)
    assert rs.precision == pytest.approx(1 / 3) and rs.recall == pytest.approx(1 / 2)
    assert rs.arand == pytest.approx(1 - 2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    # waterz: sum c^2 = 6, sum a^2 = 8, sum b^2 = 10
    rw = metrics.rand_scores(t, convention="waterz")
    assert (rw.precision, rw.recall) == pytest.approx((0.6, 0.75))
    assert rw.arand == pytest.approx(1 / 3)
    r = evaluate(GT4, SEG4)
    assert r["cremi_score"] == pytest.approx(math.sqrt(0.75 * LOG3 * 0.6))
    assert r["n_voxels"] == 4


def test_conventions_hand_computed():
    t = overlap_table(GT6, SEG6)
    # skimage / waterz / cremi VOI over the 5 counted voxels (seg 0 is an ordinary label)
    for conv in ("skimage", "waterz", "cremi"):
        split, merge = metrics.voi(t, convention=conv)
        assert split == pytest.approx(0.6 * LOG3, abs=1e-12)
        assert merge == pytest.approx((3 * LOG3 - 2) / 5, abs=1e-12)
    # gala VOI also drops seg 0: back to the 4-voxel case
    assert metrics.voi(t, convention="gala") == pytest.approx((0.5, 0.75 * LOG3 - 0.5))
    # skimage: sum c^2 - N = 2, sum a^2 - N = 8, sum b^2 - N = 6
    assert tuple(metrics.rand_scores(t)) == pytest.approx((2 / 6, 2 / 8, 5 / 7))
    # waterz: 7, 13, 11
    assert tuple(metrics.rand_scores(t, convention="waterz")) == pytest.approx(
        (7 / 11, 7 / 13, 5 / 12)
    )
    # cremi/gala: sumA = 3^2 + 2^2, seg-0 voxel adds 1/n_total = 1/6 to sumAB and sumB
    for conv in ("cremi", "gala"):
        rs = metrics.rand_scores(t, convention=conv)
        assert rs.precision == pytest.approx(37 / 61)
        assert rs.recall == pytest.approx(37 / 78)
        assert rs.arand == pytest.approx(65 / 139)


def test_perfect_and_all_singletons():
    gt = np.arange(1, 9, dtype=np.uint64).reshape(2, 2, 2)
    r = evaluate(gt, gt)
    assert r["voi"] == 0 and r["arand"] == 0 and r["cremi_score"] == 0
    # every object is a single voxel: no pairs; the references give NaN, we give 1.0 / 0.0
    assert r["rand_precision"] == 1.0 and r["rand_recall"] == 1.0


def test_uint64_ids_above_2_53_are_exact():
    big = np.uint64(2**63 + 12345)
    gt = np.array([big, big, big + np.uint64(1), big + np.uint64(1)], dtype=np.uint64)
    seg = np.array([big, big + np.uint64(2), big + np.uint64(2), big + np.uint64(2)],
                   dtype=np.uint64)
    for use_numba in (True, False):
        t = overlap_table(gt, seg, use_numba=use_numba)
        # neighbours differ only below float64 resolution; they must stay separate labels
        assert [int(v) for v in t.gt_ids] == [2**63 + 12345, 2**63 + 12346]
        assert [int(v) for v in t.seg_ids] == [2**63 + 12345, 2**63 + 12347]
    small = evaluate(np.array([1, 1, 2, 2]), np.array([1, 3, 3, 3]))
    assert evaluate(gt, seg) == pytest.approx(small)
    # an ignore label above 2**53 is compared exactly too
    t = overlap_table(gt, seg, ignore_gt=(2**63 + 12346,))
    assert t.n_counted == 2


def test_ignore_seg_mask_and_table_arithmetic():
    rng = np.random.default_rng(1)
    gt = rng.integers(0, 6, (4, 5, 6)).astype(np.uint64)
    seg = rng.integers(0, 5, (4, 5, 6)).astype(np.int32)
    mask = rng.random((4, 5, 6)) > 0.3
    t = overlap_table(gt, seg, mask=mask, ignore_seg=(0,))
    ref = overlap_table(gt[mask], seg[mask], ignore_seg=(0,))
    np.testing.assert_array_equal(t.to_sparse().toarray(), ref.to_sparse().toarray())
    assert t.n_total == int(mask.sum())
    full = overlap_table(gt, seg)
    assert metrics.scores(full.without_seg([0])) == pytest.approx(
        metrics.scores(overlap_table(gt, seg, ignore_seg=(0,)))
    )
    halves = overlap_table(gt[:2], seg[:2]) + overlap_table(gt[2:], seg[2:])
    np.testing.assert_array_equal(halves.to_sparse().toarray(), full.to_sparse().toarray())
    assert halves.n_total == full.n_total


def test_relabel_seg_equals_relabelled_volume():
    rng = np.random.default_rng(2)
    gt = rng.integers(0, 8, (3, 10, 10)).astype(np.uint64)
    frags = rng.integers(1, 30, (3, 10, 10)).astype(np.uint64)
    old = np.arange(1, 30, dtype=np.uint64)
    new = old // 4  # merge fragments into 8 segments, like one threshold of an agglomeration
    merged = new[frags.astype(np.int64) - 1]
    t = overlap_table(gt, frags).relabel_seg(old, new)
    assert metrics.scores(t) == pytest.approx(metrics.scores(overlap_table(gt, merged)))


def test_border_tolerance_hand_computed():
    # one section, left half gt 1, right half gt 2: boundary pixels are columns 2 and 3
    gt = np.zeros((1, 3, 6), dtype=np.uint64)
    gt[:, :, :3], gt[:, :, 3:] = 1, 2
    res = (40.0, 4.0, 4.0)
    cols = lambda m: sorted(set(np.nonzero(m[0])[1].tolist()))  # noqa: E731
    assert cols(metrics.border_mask(gt, 0, res)) == [2, 3]
    assert cols(metrics.border_mask(gt, 3.9, res)) == [2, 3]
    assert cols(metrics.border_mask(gt, 4.0, res)) == [1, 2, 3, 4]
    # anisotropic in-plane: x spacing 10 nm, so 4 nm reaches no further than the boundary
    assert cols(metrics.border_mask(gt, 4.0, (40.0, 4.0, 10.0))) == [2, 3]
    seg = gt.copy()
    r = evaluate(gt, seg, border_nm=4.0, resolution=res)
    assert r["n_voxels"] == 6  # columns 0 and 5, three rows each
    # a section with a single label has no boundary: nothing is masked
    assert not metrics.border_mask(np.ones((2, 4, 4), np.uint64), 25, res).any()


def test_border_mask_matches_scipy_definition():
    from scipy.ndimage import distance_transform_edt

    rng = np.random.default_rng(3)
    gt = np.kron(rng.integers(0, 4, (2, 6, 6)), np.ones((1, 5, 5), dtype=np.int64))
    res = (40.0, 4.0, 6.0)
    for border in (0.0, 6.0, 13.0):
        got = metrics.border_mask(gt, border, res)
        for z in range(gt.shape[0]):
            p = np.pad(gt[z], 1, mode="edge")
            c = p[1:-1, 1:-1]
            inner = ((c == p[:-2, 1:-1]) & (c == p[2:, 1:-1]) & (c == p[1:-1, :-2])
                     & (c == p[1:-1, 2:]))
            ref = distance_transform_edt(inner, sampling=res[1:]) <= border
            np.testing.assert_array_equal(got[z], ref)


def test_chunked_h5_equals_in_memory(tmp_path):
    rng = np.random.default_rng(4)
    # blocky gt so that the 8 nm border tolerance leaves voxels to count
    gt = np.kron(rng.integers(0, 20, (12, 4, 4)), np.ones((1, 4, 4), np.int64)).astype(np.uint64)
    seg = rng.integers(0, 9, (12, 16, 16)).astype(np.uint64)
    path = tmp_path / "v.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("gt", data=gt, chunks=(2, 8, 8))
        f.create_dataset("seg", data=seg, chunks=(3, 16, 16))
    with h5py.File(path, "r") as f:
        # 300 voxels per block: several blocks, each a whole number of gt chunks along z
        lazy = evaluate(f["gt"], f["seg"], block_voxels=300, border_nm=8, resolution=(40, 4, 4))
    assert lazy == pytest.approx(evaluate(gt, seg, border_nm=8, resolution=(40, 4, 4)))
    assert 0 < lazy["n_voxels"] < np.count_nonzero(gt)  # the tolerance removed some, not all


def test_chunked_zarr_equals_in_memory(tmp_path):
    zarr = pytest.importorskip("zarr")
    rng = np.random.default_rng(5)
    gt = rng.integers(0, 20, (9, 10, 11)).astype(np.uint64)
    seg = rng.integers(0, 9, (9, 10, 11)).astype(np.uint16)
    zg = zarr.create_array(str(tmp_path / "gt.zarr"), shape=gt.shape, dtype=gt.dtype,
                           chunks=(2, 10, 11))
    zg[...] = gt
    assert evaluate(zg, seg, block_voxels=200) == pytest.approx(evaluate(gt, seg))


@pytest.mark.parametrize(
    "gt, seg, kwargs, match",
    [
        (np.ones((2, 3)), np.ones((2, 3), np.uint64), {}, "gt has dtype float64"),
        (np.ones(3, np.uint64), np.full(3, np.nan), {}, "seg has dtype float64.*NaN"),
        (np.ones(3, bool), np.ones(3, np.uint64), {}, "gt has dtype bool"),
        (np.ones((2, 3), np.uint64), np.ones((3, 2), np.uint64), {}, "shape mismatch"),
        (np.array([1, -2]), np.array([1, 1]), {}, "gt contains 1 negative"),
        (np.array([1, 2]), np.array([1, -1], np.int8), {}, "seg contains 1 negative"),
        (np.zeros(4, np.uint64), np.ones(4, np.uint64), {}, "every voxel is ignored"),
        (np.ones(4, np.uint64), np.ones(4, np.uint64), {"convention": "x"}, "unknown convention"),
        (np.ones(4, np.uint64), np.ones(4, np.uint64), {"ignore_gt": (-1,)}, "ignore_gt"),
        (np.ones(4, np.uint64), np.ones(4, np.uint64), {"ignore_gt": (1.5,)}, "ignore_gt"),
        (np.ones((1, 2, 2), np.uint64), np.ones((1, 2, 2), np.uint64), {"border_nm": 25},
         "needs resolution"),
        (np.ones((1, 2, 2), np.uint64), np.ones((1, 2, 2), np.uint64),
         {"border_nm": 25, "resolution": (4, 4)}, "resolution must be three"),
        ([1, 2], np.ones(2, np.uint64), {}, "gt must be an integer label array"),
    ],
)
def test_bad_input_raises_clear_error(gt, seg, kwargs, match):
    with pytest.raises(ValueError, match=match):
        evaluate(gt, seg, **kwargs)


def test_dtype_error_is_also_a_type_error():
    with pytest.raises(TypeError):
        overlap_table(np.ones(3, np.float32), np.ones(3, np.uint64))


def test_threads_give_the_same_table(monkeypatch):
    from metrics import _kernel

    monkeypatch.setattr(_kernel, "_MIN_VOXELS_PER_THREAD", 100)
    rng = np.random.default_rng(6)
    gt = rng.integers(0, 30, (5, 20, 20)).astype(np.uint64)
    seg = np.where(rng.random(gt.shape) < 0.7, gt // 2, 99).astype(np.uint64)
    mask = rng.random(gt.shape) > 0.1
    ref = overlap_table(gt, seg, mask=mask, use_numba=False)
    for n_threads in (1, 3):
        t = overlap_table(gt, seg, mask=mask, n_threads=n_threads)
        for k in ("gt_ids", "seg_ids", "rows", "cols", "counts"):
            np.testing.assert_array_equal(getattr(t, k), getattr(ref, k))
        assert t.n_total == ref.n_total == int(mask.sum())
